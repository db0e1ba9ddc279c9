"""Tests of uare.model.embeddings: the connector, the timestep embedder and the 2-D sin-cos tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from uare.model.embeddings import (
    MLPConnector,
    PositionEmbedding,
    TimestepEmbedder,
    activation,
    get_2d_sincos_pos_embed,
    timestep_sinusoid,
)


def gelu_tanh_ref(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def test_activation_lookup() -> None:
    x = torch.linspace(-4, 4, 101, dtype=torch.float64)
    torch.testing.assert_close(activation("gelu_pytorch_tanh")(x), gelu_tanh_ref(x), rtol=0, atol=1e-12)
    # The tanh approximation is not the exact erf GELU.
    assert (activation("gelu")(x) - gelu_tanh_ref(x)).abs().max() > 1e-5
    with pytest.raises(ValueError, match="unknown activation"):
        activation("relu6")


def test_mlp_connector_keys_and_math() -> None:
    torch.manual_seed(0)
    m = MLPConnector(12, 20).double()
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes == {"fc1.weight": (20, 12), "fc1.bias": (20,), "fc2.weight": (20, 20), "fc2.bias": (20,)}
    x = torch.randn(5, 12, dtype=torch.float64)
    h = gelu_tanh_ref(x @ m.fc1.weight.T + m.fc1.bias)
    torch.testing.assert_close(m(x), h @ m.fc2.weight.T + m.fc2.bias, rtol=0, atol=1e-12)


def test_mlp_connector_bagel_sizes() -> None:
    with torch.device("meta"):
        m = MLPConnector(1152, 3584)
    assert sum(p.numel() for p in m.parameters()) == 1152 * 3584 + 3584 + 3584 * 3584 + 3584  # 17.0 M


@pytest.mark.parametrize("t", [0.0, 0.5, 1.0])
def test_timestep_sinusoid_formula(t: float) -> None:
    emb = timestep_sinusoid(torch.tensor([t]), 256)
    assert emb.shape == (1, 256) and emb.dtype == torch.float32
    k = np.arange(128, dtype=np.float64)
    freqs = np.exp(-np.log(10000.0) * k / 128)
    expected = np.concatenate([np.cos(t * freqs), np.sin(t * freqs)])  # cos first, raw t (no x1000)
    np.testing.assert_allclose(emb[0].numpy(), expected, rtol=0, atol=1e-6)
    assert emb[0, 0].item() == pytest.approx(math.cos(t), abs=1e-7)
    assert emb[0, 128].item() == pytest.approx(math.sin(t), abs=1e-7)


def test_timestep_sinusoid_endpoints_and_odd_dim() -> None:
    e0 = timestep_sinusoid(torch.tensor(0.0), 256)[0]
    assert torch.equal(e0[:128], torch.ones(128)) and torch.equal(e0[128:], torch.zeros(128))
    e1 = timestep_sinusoid(torch.tensor([1.0]), 256)[0]
    assert e1[127].item() == pytest.approx(math.cos(math.exp(-math.log(1e4) * 127 / 128)), abs=1e-7)
    odd = timestep_sinusoid(torch.tensor([0.3, 0.7]), 7)
    assert odd.shape == (2, 7) and torch.equal(odd[:, 6], torch.zeros(2))
    assert odd[1, 0].item() == pytest.approx(math.cos(0.7), abs=1e-7)


def test_timestep_embedder_keys_and_forward() -> None:
    torch.manual_seed(1)
    m = TimestepEmbedder(32)
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes == {
        "mlp.0.weight": (32, 256),
        "mlp.0.bias": (32,),
        "mlp.2.weight": (32, 32),
        "mlp.2.bias": (32,),
    }
    t = torch.tensor([0.0, 0.25, 1.0])
    f = timestep_sinusoid(t, 256)
    h = f @ m.mlp[0].weight.T + m.mlp[0].bias
    expected = (h * torch.sigmoid(h)) @ m.mlp[2].weight.T + m.mlp[2].bias
    out = m(t)
    assert out.shape == (3, 32)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    # t = 0 (clean conditioning latents) still gets a non-trivial embedding.
    assert out[0].abs().sum() > 0


def _sincos_reference(d: int, n: int) -> np.ndarray:
    """Independent loop version: [col: sin..., cos...] + [row: sin..., cos...] per cell."""
    q = d // 4
    omega = [1.0 / 10000.0 ** (k / q) for k in range(q)]
    rows = []
    for r in range(n):
        for c in range(n):
            col_part = [math.sin(c * w) for w in omega] + [math.cos(c * w) for w in omega]
            row_part = [math.sin(r * w) for w in omega] + [math.cos(r * w) for w in omega]
            rows.append(col_part + row_part)
    return np.array(rows, dtype=np.float64)


def test_sincos_table_layout_small() -> None:
    table = get_2d_sincos_pos_embed(8, 3)
    assert table.shape == (9, 8) and table.dtype == np.float64
    np.testing.assert_allclose(table, _sincos_reference(8, 3), rtol=0, atol=1e-15)
    # D = 8: omega = [1, 1/100]; row r*3 + c, first half encodes the column c.
    r, c = 1, 2
    row = table[r * 3 + c]
    assert row[0] == pytest.approx(math.sin(2.0))
    assert row[1] == pytest.approx(math.sin(0.02))
    assert row[2] == pytest.approx(math.cos(2.0))
    assert row[3] == pytest.approx(math.cos(0.02))
    assert row[4] == pytest.approx(math.sin(1.0))
    assert row[5] == pytest.approx(math.sin(0.01))
    assert row[6] == pytest.approx(math.cos(1.0))
    assert row[7] == pytest.approx(math.cos(0.01))
    # Cell (0, 0): sin = 0, cos = 1 in both halves.
    np.testing.assert_array_equal(table[0], [0, 0, 1, 1, 0, 0, 1, 1])
    # Same column -> same first half; same row -> same second half.
    np.testing.assert_array_equal(table[0 * 3 + 2, :4], table[2 * 3 + 2, :4])
    np.testing.assert_array_equal(table[2 * 3 + 0, 4:], table[2 * 3 + 1, 4:])
    with pytest.raises(ValueError):
        get_2d_sincos_pos_embed(6, 3)


def test_position_embedding_module() -> None:
    pe = PositionEmbedding(5, 16)
    assert isinstance(pe.pos_embed, torch.nn.Parameter)
    assert not pe.pos_embed.requires_grad
    assert list(pe.state_dict()) == ["pos_embed"]
    assert pe.pos_embed.shape == (25, 16) and pe.pos_embed.dtype == torch.float32
    expected = torch.from_numpy(_sincos_reference(16, 5)).float()
    torch.testing.assert_close(pe.pos_embed.data, expected, rtol=0, atol=1e-7)
    ids = torch.tensor([[0, 7], [24, 3]])
    out = pe(ids)
    assert out.shape == (2, 2, 16)
    assert torch.equal(out[0, 1], pe.pos_embed[7]) and torch.equal(out[1, 0], pe.pos_embed[24])
    with pytest.raises(ValueError):
        PositionEmbedding(4, 10)


def test_position_embedding_meta_and_refill() -> None:
    with torch.device("meta"):
        latent = PositionEmbedding(64, 3584)
        vit = PositionEmbedding(70, 3584)
    assert latent.pos_embed.shape == (4096, 3584) and vit.pos_embed.shape == (4900, 3584)
    small = PositionEmbedding(3, 8)
    small.pos_embed.data.zero_()
    small.reset_parameters()
    np.testing.assert_allclose(small.pos_embed.numpy(), _sincos_reference(8, 3).astype(np.float32), atol=0)
