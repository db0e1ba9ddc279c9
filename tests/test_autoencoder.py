"""Tests of uare.model.autoencoder: FLUX checkpoint layout, the building blocks against hand-written
references, latent scaling, sampling, serialisation and a small overfit run. All on CPU, seeded."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from bagel_layout import flux_layout
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from uare.errors import UareError
from uare.model.autoencoder import (
    AttnBlock,
    AutoEncoder,
    Downsample,
    ParamCount,
    ResnetBlock,
    Upsample,
)
from uare.model.config import VAEConfig, micro

TINY = VAEConfig(ch=32, ch_mult=[1, 2], num_res_blocks=1, z_channels=4)
# Four levels (downsample 8) as in FLUX, but narrow enough for quick CPU forward passes.
NARROW = VAEConfig(ch=32, ch_mult=[1, 2, 4, 4], num_res_blocks=1, z_channels=16)


def make_ae(config: VAEConfig, seed: int = 0) -> AutoEncoder:
    torch.manual_seed(seed)
    return AutoEncoder(config).eval()


def image(b: int, h: int, w: int, seed: int = 0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g) * 2 - 1


# ---------------------------------------------------------------------------------------------------------
# (1) the checkpoint layout, written out independently of the module from the FLUX description


def shapes(ae: AutoEncoder) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in ae.state_dict().items()}


@pytest.mark.parametrize("cfg", [TINY, NARROW, micro().vae], ids=["tiny", "narrow", "micro"])
def test_state_dict_matches_flux_layout_small(cfg: VAEConfig) -> None:
    ae = make_ae(cfg)
    got, want = shapes(ae), flux_layout(cfg)
    assert sorted(got) == sorted(want)
    assert got == want


def test_state_dict_matches_flux_layout_full_and_parameter_counts() -> None:
    with torch.device("meta"):
        ae = AutoEncoder(VAEConfig())
    got, want = shapes(ae), flux_layout(VAEConfig())
    assert got == want
    assert len(got) == 244  # the tensor count of FLUX.1's ae.safetensors
    assert "encoder.down.3.downsample.conv.weight" not in got
    assert "decoder.up.0.upsample.conv.weight" not in got
    assert got["decoder.up.0.block.0.nin_shortcut.weight"] == (128, 256, 1, 1)
    assert got["encoder.conv_out.weight"] == (32, 512, 3, 3)

    n = ae.num_parameters()
    assert isinstance(n, ParamCount)
    assert n.total == n.encoder + n.decoder
    assert n.total == sum(math.prod(s) for s in want.values())
    assert round(n.total / 1e6, 1) == 83.8
    assert round(n.encoder / 1e6, 1) == 34.3
    assert round(n.decoder / 1e6, 1) == 49.5


def test_group_norms_are_flux_style() -> None:
    norms = [m for m in make_ae(TINY).modules() if isinstance(m, nn.GroupNorm)]
    assert norms
    assert all(m.num_groups == 32 and m.eps == 1e-6 and m.affine for m in norms)


# ---------------------------------------------------------------------------------------------------------
# (2) shapes, input validation and level order


def test_encode_decode_shapes_four_levels() -> None:
    ae = make_ae(NARROW)
    assert ae.downsample == 8
    x = image(2, 32, 48)
    with torch.no_grad():
        z = ae.encode(x)
        y = ae.decode(z)
    assert z.shape == (2, 16, 4, 6)
    assert y.shape == (2, 3, 32, 48)
    assert torch.isfinite(y).all()


def test_micro_config_shapes() -> None:
    ae = make_ae(micro().vae)
    with torch.no_grad():
        z = ae.encode(image(1, 16, 24))
        assert z.shape == (1, 16, 2, 3)
        assert ae.decode(z).shape == (1, 3, 16, 24)


@pytest.mark.parametrize("hw", [(30, 32), (32, 36), (4, 8)])
def test_size_not_multiple_of_downsample_raises(hw: tuple[int, int]) -> None:
    ae = make_ae(NARROW)
    with pytest.raises(ValueError, match="multiple of the autoencoder's downsample factor 8") as info:
        ae.encode(image(1, *hw))
    assert isinstance(info.value, UareError)


def test_wrong_rank_or_channels_raise() -> None:
    ae = make_ae(TINY)
    with pytest.raises(ValueError, match="channels"):
        ae.encode(torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match="B x C x H x W"):
        ae.encode(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="latents"):
        ae.decode(torch.zeros(1, 3, 4, 4))


def test_levels_run_in_flux_order() -> None:
    """down.0 and up.0 are the full-resolution levels; the decoder runs up.{n-1} first."""
    ae = make_ae(NARROW)
    seen: list[tuple[str, int]] = []

    def hook(name: str):
        def fn(_m: nn.Module, args: tuple[Tensor, ...]) -> None:
            seen.append((name, args[0].shape[-1]))

        return fn

    for i, lvl in enumerate(ae.encoder.down):
        lvl.block[0].register_forward_pre_hook(hook(f"down.{i}"))
    for i, lvl in enumerate(ae.decoder.up):
        lvl.block[0].register_forward_pre_hook(hook(f"up.{i}"))
    with torch.no_grad():
        ae(image(1, 64, 64))
    assert seen == [
        ("down.0", 64), ("down.1", 32), ("down.2", 16), ("down.3", 8),
        ("up.3", 8), ("up.2", 16), ("up.1", 32), ("up.0", 64),
    ]


# ---------------------------------------------------------------------------------------------------------
# (3)/(4) building blocks against independent computations


@pytest.mark.parametrize("size", [7, 8, 9, 16])
def test_downsample_asymmetric_padding(size: int) -> None:
    torch.manual_seed(1)
    ds = Downsample(8)
    x = torch.randn(2, 8, size, size + 1)
    y = ds(x)
    ref = F.conv2d(F.pad(x, (0, 1, 0, 1)), ds.conv.weight, ds.conv.bias, stride=2)
    assert y.shape == (2, 8, size // 2, (size + 1) // 2)
    torch.testing.assert_close(y, ref)
    # A symmetric padding=1 conv differs (in value, and in size for odd inputs): the pad side matters.
    sym = F.conv2d(x, ds.conv.weight, ds.conv.bias, stride=2, padding=1)
    assert sym.shape != y.shape or not torch.allclose(sym, y, atol=1e-4)


def test_upsample_is_nearest_then_conv() -> None:
    torch.manual_seed(2)
    up = Upsample(8)
    x = torch.randn(1, 8, 3, 5)
    rep = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    torch.testing.assert_close(up(x), F.conv2d(rep, up.conv.weight, up.conv.bias, padding=1))


def _group_norm(x: Tensor, norm: nn.GroupNorm) -> Tensor:
    b, c, h, w = x.shape
    g = x.reshape(b, 32, -1)
    g = (g - g.mean(-1, keepdim=True)) / torch.sqrt(g.var(-1, unbiased=False, keepdim=True) + 1e-6)
    return g.reshape(b, c, h, w) * norm.weight[None, :, None, None] + norm.bias[None, :, None, None]


def _conv1x1(x: Tensor, conv: nn.Conv2d) -> Tensor:
    return torch.einsum("oc,bchw->bohw", conv.weight[:, :, 0, 0], x) + conv.bias[None, :, None, None]


def _randomise(m: nn.Module, seed: int) -> None:
    # Default init leaves GroupNorm at identity; random affine parameters make the check sharper.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)


def test_attention_block_matches_manual_softmax() -> None:
    blk = AttnBlock(64)
    _randomise(blk, 3)
    x = torch.randn(2, 64, 5, 6, generator=torch.Generator().manual_seed(4))
    hn = _group_norm(x, blk.norm)
    q, k, v = (_conv1x1(hn, c).flatten(2).transpose(1, 2) for c in (blk.q, blk.k, blk.v))  # B x HW x C
    att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(64), dim=-1)
    o = (att @ v).transpose(1, 2).reshape(2, 64, 5, 6)
    ref = x + _conv1x1(o, blk.proj_out)
    with torch.no_grad():
        torch.testing.assert_close(blk(x), ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("cin", "cout"), [(32, 32), (32, 64)])
def test_resnet_block_matches_manual(cin: int, cout: int) -> None:
    blk = ResnetBlock(cin, cout)
    _randomise(blk, 5)
    assert (blk.nin_shortcut is None) == (cin == cout)
    x = torch.randn(1, cin, 6, 7, generator=torch.Generator().manual_seed(6))

    def act(t: Tensor) -> Tensor:
        return t * torch.sigmoid(t)

    h = F.conv2d(act(_group_norm(x, blk.norm1)), blk.conv1.weight, blk.conv1.bias, padding=1)
    h = F.conv2d(act(_group_norm(h, blk.norm2)), blk.conv2.weight, blk.conv2.bias, padding=1)
    skip = x if blk.nin_shortcut is None else _conv1x1(x, blk.nin_shortcut)
    with torch.no_grad():
        torch.testing.assert_close(blk(x), skip + h, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------------------------------------------------
# (5) sampling and (6) latent scaling


def test_mean_is_deterministic_and_sampling_is_seeded() -> None:
    ae = make_ae(TINY)
    x = image(2, 16, 16)
    with torch.no_grad():
        m1, m2 = ae.encode(x), ae.encode(x)
        s1 = ae.encode(x, sample=True, generator=torch.Generator().manual_seed(7))
        s2 = ae.encode(x, sample=True, generator=torch.Generator().manual_seed(7))
        s3 = ae.encode(x, sample=True, generator=torch.Generator().manual_seed(8))
    assert torch.equal(m1, m2)
    assert torch.equal(s1, s2)
    assert not torch.allclose(s1, m1)
    assert not torch.allclose(s1, s3)


class _FixedMoments(nn.Module):
    """Stub encoder returning chosen (mean, logvar), whatever the image."""

    def __init__(self, mean: Tensor, logvar: Tensor) -> None:
        super().__init__()
        self.mean, self.logvar = mean, logvar

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.mean, self.logvar], dim=1)


class _Recorder(nn.Module):
    """Stub decoder: identity that remembers what it was called with."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Tensor] = []

    def forward(self, z: Tensor) -> Tensor:
        self.calls.append(z.clone())
        return z


def test_encode_scales_and_decode_inverts() -> None:
    ae = make_ae(TINY)
    g = torch.Generator().manual_seed(9)
    mean = torch.randn(1, 4, 8, 8, generator=g)
    ae.encoder = _FixedMoments(mean, torch.zeros_like(mean))
    rec = _Recorder()
    ae.decoder = rec

    z = ae.encode(image(1, 16, 16))
    torch.testing.assert_close(z, 0.3611 * (mean - 0.1159))
    out = ae.decode(z)
    assert len(rec.calls) == 1
    torch.testing.assert_close(rec.calls[0], z / 0.3611 + 0.1159)
    torch.testing.assert_close(out, mean)  # identity stubs: decode(encode(x)) recovers the raw latent


@pytest.mark.parametrize(("logvar", "clamped"), [(100.0, 20.0), (-100.0, -30.0), (1.5, 1.5)])
def test_sample_formula_and_logvar_clamp(logvar: float, clamped: float) -> None:
    ae = make_ae(TINY)
    mean = torch.full((1, 4, 2, 2), 0.25)
    ae.encoder = _FixedMoments(mean, torch.full_like(mean, logvar))
    z = ae.encode(image(1, 4, 4), sample=True, generator=torch.Generator().manual_seed(11))
    eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(11))
    want = 0.3611 * (mean + math.exp(0.5 * clamped) * eps - 0.1159)
    torch.testing.assert_close(z, want)
    assert torch.isfinite(z).all()


# ---------------------------------------------------------------------------------------------------------
# (7) serialisation


def test_safetensors_round_trip(tmp_path: Path) -> None:
    src, dst = make_ae(TINY, seed=0), make_ae(TINY, seed=1)
    x = image(1, 16, 16)
    with torch.no_grad():
        assert not torch.allclose(src(x), dst(x))
    path = tmp_path / "ae.safetensors"
    save_file(src.state_dict(), str(path))
    loaded = load_file(str(path))
    result = dst.load_state_dict(loaded, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    with torch.no_grad():
        assert torch.equal(src(x), dst(x))
    # Strict loading really checks the names: a file missing one FLUX key is rejected.
    loaded.pop("encoder.mid.attn_1.q.bias")
    with pytest.raises(RuntimeError, match="attn_1.q.bias"):
        dst.load_state_dict(loaded, strict=True)


# ---------------------------------------------------------------------------------------------------------
# (8) the whole model can learn


@pytest.mark.slow  # ~50 s on 2 cores: run with `pytest -m slow`
def test_tiny_autoencoder_overfits_one_image() -> None:
    torch.manual_seed(0)
    ae = AutoEncoder(TINY)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    target = torch.stack([torch.sin(3 * xx), torch.cos(2 * yy), xx * yy], dim=0)[None]  # in [-1, 1]
    opt = torch.optim.Adam(ae.parameters(), lr=1e-3)
    losses = []
    for _ in range(150):
        loss = F.mse_loss(ae(target), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])


# ---------------------------------------------------------------------------- uare-tiny's linear patch path
SKIP = VAEConfig(ch=32, ch_mult=[1, 2, 2], num_res_blocks=1, z_channels=16, norm_groups=8, patch_skip=True)


def test_patch_skip_adds_only_its_two_keys() -> None:
    plain = AutoEncoder(VAEConfig(ch=32, ch_mult=[1, 2, 2], num_res_blocks=1, z_channels=16, norm_groups=8))
    skip = AutoEncoder(SKIP)
    extra = set(skip.state_dict()) - set(plain.state_dict())
    assert extra == {"encoder.patch_skip.weight", "encoder.patch_skip.bias",
                     "decoder.patch_skip.weight", "decoder.patch_skip.bias"}
    assert skip.state_dict()["encoder.patch_skip.weight"].shape == (32, 48, 1, 1)  # 4x4x3 patch -> mean, logvar
    assert skip.state_dict()["decoder.patch_skip.weight"].shape == (48, 16, 1, 1)
    assert not VAEConfig().patch_skip  # FLUX's layout is untouched by default


def test_patch_skip_pca_init_equals_an_independent_pca() -> None:
    """After the PCA start the AE is exactly the rank-16 PCA of 4x4 patches (numpy SVD as the reference)."""
    import random

    import numpy as np

    from uare.train.vae_pretrain import init_patch_skip_pca, random_batch

    rng = np.random.default_rng(0)
    # smooth random images (upsampled noise) so the patch spectrum decays like a photo's
    pool = [np.clip(F.interpolate(torch.from_numpy(rng.random((1, 3, 12, 12))), size=96, mode="bicubic")[0]
                    .permute(1, 2, 0).numpy() * 255, 0, 255).astype(np.uint8) for _ in range(6)]
    torch.manual_seed(0)
    ae = AutoEncoder(SKIP).eval()
    explained = init_patch_skip_pca(ae, pool, 32, seed=0, batches=4)
    assert 0.9 < explained <= 1.0
    x = random_batch(pool, 4, 32, random.Random(5))
    with torch.no_grad():
        rec = ae.decoder(ae.moments(x)[0])
    # reference: PCA of the same training patches (same draws as init_patch_skip_pca) with numpy
    train = torch.cat([random_batch(pool, 16, 32, random.Random(100 + i)) for i in range(4)])
    patches = F.pixel_unshuffle(train, 4).permute(0, 2, 3, 1).reshape(-1, 48).double().numpy()
    mu = patches.mean(0)
    _, _, vt = np.linalg.svd(patches - mu, full_matrices=False)
    u = vt[:16].T
    px = F.pixel_unshuffle(x, 4).permute(0, 2, 3, 1).reshape(-1, 48).double().numpy()
    ref = (px - mu) @ u @ u.T + mu
    got = F.pixel_unshuffle(rec, 4).permute(0, 2, 3, 1).reshape(-1, 48).double().numpy()
    assert np.abs(got - ref).max() < 1e-4


def test_patch_skip_is_recovered_from_the_file(tmp_path: Path) -> None:
    from uare.model.checkpoint import vae_config_from_header
    from uare.model.safetensors_header import read_header

    ae = make_ae(SKIP)
    save_file(ae.state_dict(), str(tmp_path / "ae.safetensors"), metadata={"norm_groups": "8"})
    infos, meta = read_header(tmp_path / "ae.safetensors")
    cfg = vae_config_from_header(infos, meta, tmp_path / "ae.safetensors")
    assert cfg.patch_skip and cfg.ch_mult == [1, 2, 2] and cfg.downsample == 4
    again = AutoEncoder(cfg)
    again.load_state_dict(load_file(str(tmp_path / "ae.safetensors")), strict=True)
