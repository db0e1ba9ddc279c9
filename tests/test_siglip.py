"""Tests of uare.model.siglip: BAGEL's key layout, packed per-image attention, conv<->linear patches, numerics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from uare.model.config import ViTConfig, bagel_7b, micro
from uare.model.image_transforms import resize_to_stride, to_tensor_pm1, vit_patchify, vit_position_ids
from uare.model.siglip import SiglipVisionModel, load_conv_patch_embedding

TINY = ViTConfig(
    hidden_size=24,
    intermediate_size=40,
    num_hidden_layers=3,
    num_attention_heads=3,
    patch_size=4,
    image_size=32,
)
MAX_SIDE = 8


def tiny_model(seed: int = 0, dtype: torch.dtype = torch.float32) -> SiglipVisionModel:
    torch.manual_seed(seed)
    m = SiglipVisionModel(TINY, MAX_SIDE).to(dtype).eval()
    with torch.no_grad():  # non-trivial LayerNorm affine parameters so that they are exercised
        for name, p in m.named_parameters():
            if "layer_norm" in name or "post_layernorm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return m


def pack(images: list[torch.Tensor], p: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    pix, ids, lens = [], [], [0]
    for img in images:
        tokens, (h, w) = vit_patchify(img, p)
        pix.append(tokens)
        ids.append(vit_position_ids(h, w, MAX_SIDE))
        lens.append(lens[-1] + h * w)
    return torch.cat(pix), torch.cat(ids), torch.tensor(lens, dtype=torch.int32)


def test_state_dict_keys_tiny() -> None:
    m = SiglipVisionModel(TINY, MAX_SIDE)
    assert TINY.layers_used == 2
    d, i, pp = 24, 40, 4 * 4 * 3
    expected = {
        "vision_model.embeddings.patch_embedding.weight": (d, pp),
        "vision_model.embeddings.patch_embedding.bias": (d,),
        "vision_model.embeddings.position_embedding.weight": (MAX_SIDE**2, d),
        "vision_model.post_layernorm.weight": (d,),
        "vision_model.post_layernorm.bias": (d,),
    }
    for layer in range(2):
        pre = f"vision_model.encoder.layers.{layer}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            expected[pre + f"self_attn.{proj}.weight"] = (d, d)
            expected[pre + f"self_attn.{proj}.bias"] = (d,)
        for ln in ("layer_norm1", "layer_norm2"):
            expected[pre + f"{ln}.weight"] = (d,)
            expected[pre + f"{ln}.bias"] = (d,)
        expected[pre + "mlp.fc1.weight"] = (i, d)
        expected[pre + "mlp.fc1.bias"] = (i,)
        expected[pre + "mlp.fc2.weight"] = (d, i)
        expected[pre + "mlp.fc2.bias"] = (d,)
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == expected


def test_bagel_sizes_on_meta() -> None:
    cfg = bagel_7b()
    with torch.device("meta"):
        m = SiglipVisionModel(cfg.vit, cfg.vit_max_num_patch_per_side)
    sd = m.state_dict()
    assert len(m.vision_model.encoder.layers) == 26
    assert "vision_model.encoder.layers.25.mlp.fc2.weight" in sd
    assert "vision_model.encoder.layers.26.mlp.fc2.weight" not in sd
    assert tuple(sd["vision_model.embeddings.patch_embedding.weight"].shape) == (1152, 588)
    assert tuple(sd["vision_model.embeddings.position_embedding.weight"].shape) == (4900, 1152)
    assert tuple(sd["vision_model.encoder.layers.0.mlp.fc1.weight"].shape) == (4304, 1152)
    per_layer = sum(p.numel() for p in m.vision_model.encoder.layers[0].parameters())
    total = sum(p.numel() for p in m.parameters())
    assert per_layer == 15_239_504  # 4 x (1152^2 + 1152) + 2 x 2 x 1152 + 2 x 1152 x 4304 + 4304 + 1152
    assert total == 26 * per_layer + (588 * 1152 + 1152) + 4900 * 1152 + 2 * 1152 == 402_552_736


def test_conv_patch_embedding_equals_linear() -> None:
    torch.manual_seed(0)
    p, hidden = 4, 10
    conv = torch.nn.Conv2d(3, hidden, kernel_size=p, stride=p).double()
    img = torch.randn(3, 12, 20, dtype=torch.float64)
    conv_out = conv(img[None])[0]  # [hidden, 3, 5]
    tokens, (h, w) = vit_patchify(img, p)
    lin = torch.nn.functional.linear(tokens, load_conv_patch_embedding(conv.weight), conv.bias)
    assert (h, w) == (3, 5) and lin.shape == (15, hidden)
    torch.testing.assert_close(lin, conv_out.permute(1, 2, 0).reshape(h * w, hidden), rtol=0, atol=1e-12)
    # The naive flatten (c, kh, kw) is the wrong layout: it must not match.
    naive = torch.nn.functional.linear(tokens, conv.weight.reshape(hidden, -1), conv.bias)
    assert not torch.allclose(naive, lin)
    with pytest.raises(ValueError):
        load_conv_patch_embedding(torch.zeros(4, 3, 2, 3))


def test_load_state_dict_accepts_conv_kernel() -> None:
    m = tiny_model()
    sd = m.state_dict()
    torch.manual_seed(3)
    conv_w = torch.randn(24, 3, 4, 4)
    sd["vision_model.embeddings.patch_embedding.weight"] = conv_w
    m2 = SiglipVisionModel(TINY, MAX_SIDE)
    m2.load_state_dict(sd)
    assert torch.equal(m2.vision_model.embeddings.patch_embedding.weight, load_conv_patch_embedding(conv_w))


def _reference_forward(
    m: SiglipVisionModel, pixels: torch.Tensor, ids: torch.Tensor, cu: list[int]
) -> torch.Tensor:
    """Hand-written SigLIP: explicit LayerNorm, tanh-GELU, softmax attention with a block-diagonal mask."""
    sd = {k: v for k, v in m.state_dict().items()}
    eps, heads = TINY.layer_norm_eps, TINY.num_attention_heads

    def lin(x: torch.Tensor, name: str) -> torch.Tensor:
        return x @ sd[name + ".weight"].T + sd[name + ".bias"]

    def ln(x: torch.Tensor, name: str) -> torch.Tensor:
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + eps) * sd[name + ".weight"] + sd[name + ".bias"]

    def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))

    n, d = pixels.shape[0], TINY.hidden_size
    hd = d // heads
    seg = torch.zeros(n, dtype=torch.long)
    for s, (a, b) in enumerate(zip(cu[:-1], cu[1:], strict=True)):
        seg[a:b] = s
    allowed = seg[:, None] == seg[None, :]

    x = lin(pixels, "vision_model.embeddings.patch_embedding")
    x = x + sd["vision_model.embeddings.position_embedding.weight"][ids]
    for layer in range(TINY.layers_used):
        pre = f"vision_model.encoder.layers.{layer}."
        y = ln(x, pre + "layer_norm1")
        q, k, v = (lin(y, pre + f"self_attn.{t}_proj").view(n, heads, hd).transpose(0, 1) for t in "qkv")
        scores = (q @ k.transpose(1, 2)) / math.sqrt(hd)
        scores = scores.masked_fill(~allowed, float("-inf"))
        o = (torch.softmax(scores, -1) @ v).transpose(0, 1).reshape(n, d)
        x = x + lin(o, pre + "self_attn.out_proj")
        y = ln(x, pre + "layer_norm2")
        x = x + lin(gelu_tanh(lin(y, pre + "mlp.fc1")), pre + "mlp.fc2")
    return ln(x, "vision_model.post_layernorm")


@pytest.mark.parametrize("sizes", [[(12, 16), (8, 8)], [(8, 12), (8, 12), (8, 12)], [(16, 16)]])
def test_matches_hand_written_reference(sizes: list[tuple[int, int]]) -> None:
    m = tiny_model(dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    images = [torch.rand(3, h, w, generator=g, dtype=torch.float64) * 2 - 1 for h, w in sizes]
    pixels, ids, cu = pack(images)
    with torch.no_grad():
        out = m(pixels, ids, cu)
        ref = _reference_forward(m, pixels, ids, cu.tolist())
    assert out.shape == (pixels.shape[0], 24)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-10)


def test_exact_gelu_would_differ() -> None:
    # Guards the reference comparison: the erf GELU changes the output well above its tolerance.
    m = tiny_model(dtype=torch.float64)
    g = torch.Generator().manual_seed(2)
    pixels, ids, cu = pack([torch.rand(3, 8, 8, generator=g, dtype=torch.float64)])
    m_erf = SiglipVisionModel(ViTConfig(**{**TINY.__dict__, "hidden_act": "gelu"}), MAX_SIDE).double()
    m_erf.load_state_dict(m.state_dict())
    with torch.no_grad():
        assert (m(pixels, ids, cu) - m_erf(pixels, ids, cu)).abs().max() > 1e-6


@pytest.mark.parametrize("sizes", [[(12, 16), (8, 20)], [(8, 12), (8, 12)]])
def test_images_do_not_attend_across(sizes: list[tuple[int, int]]) -> None:
    m = tiny_model()
    g = torch.Generator().manual_seed(4)
    a, b = (torch.rand(3, h, w, generator=g) * 2 - 1 for h, w in sizes)
    pixels, ids, cu = pack([a, b])
    pixels2, ids2, cu2 = pack([a, -b.flip(-1)])
    n1 = int(cu[1])
    with torch.no_grad():
        out = m(pixels, ids, cu)
        out2 = m(pixels2, ids2, cu2)
        alone_a = m(*pack([a]))
        alone_b = m(*pack([b]))
    assert torch.equal(out[:n1], out2[:n1])  # image 1 untouched, bit for bit
    assert not torch.allclose(out[n1:], out2[n1:])
    torch.testing.assert_close(out[:n1], alone_a, rtol=0, atol=1e-6)
    torch.testing.assert_close(out[n1:], alone_b, rtol=0, atol=1e-6)


def test_positions_and_post_layernorm() -> None:
    m = SiglipVisionModel(TINY, MAX_SIDE).eval()
    g = torch.Generator().manual_seed(5)
    pixels, ids, cu = pack([torch.rand(3, 8, 12, generator=g)])
    with torch.no_grad():
        out = m(pixels, ids, cu)
        shifted = m(pixels, ids + 1, cu)  # same pixels, other cells of the position table
        emb = m.vision_model.embeddings(pixels, ids)
    assert not torch.allclose(out, shifted)
    torch.testing.assert_close(
        emb,
        m.vision_model.embeddings.patch_embedding(pixels) + m.vision_model.embeddings.position_embedding(ids),
    )
    # post_layernorm with its initial affine (1, 0): every token is normalised.
    torch.testing.assert_close(out.mean(-1), torch.zeros(out.shape[0]), rtol=0, atol=1e-5)
    torch.testing.assert_close(out.var(-1, unbiased=False), torch.ones(out.shape[0]), rtol=0, atol=1e-3)


def test_input_validation() -> None:
    m = tiny_model()
    pixels, ids, cu = pack([torch.zeros(3, 8, 8)])
    with pytest.raises(ValueError, match="cu_seqlens"):
        m(pixels, ids, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="cu_seqlens"):
        m(pixels, ids, [0, 0, 4])
    with pytest.raises(ValueError, match="features"):
        m(pixels[:, :-1], ids, cu)
    with pytest.raises(ValueError, match="position_ids"):
        m(pixels, ids[:-1], cu)
    assert m(pixels, ids, [0, 4]).shape == (4, 24)


def test_end_to_end_from_pil_micro_config() -> None:
    cfg = micro()
    torch.manual_seed(0)
    m = SiglipVisionModel(cfg.vit, cfg.vit_max_num_patch_per_side).eval()
    rng = np.random.default_rng(0)
    imgs = [
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in [(90, 130), (60, 60)]
    ]
    pix, ids, cu = [], [], [0]
    for img in imgs:
        x = to_tensor_pm1(resize_to_stride(img, 14 * 8, 28, 14))
        tokens, (h, w) = vit_patchify(x, 14)
        pix.append(tokens)
        ids.append(vit_position_ids(h, w, cfg.vit_max_num_patch_per_side))
        cu.append(cu[-1] + h * w)
    with torch.no_grad():
        out = m(torch.cat(pix), torch.cat(ids), torch.tensor(cu))
    assert out.shape == (cu[-1], cfg.vit.hidden_size) and torch.isfinite(out).all()
