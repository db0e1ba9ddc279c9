"""The dark-channel prior (uare.infer.dehaze): the haze model it inverts, the weight its measured haze gets
in uare-tiny's dehazing (``haze_prior``), and where the pipeline blends it in."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from uare.errors import UareError
from uare.infer.dehaze import (
    HAZE_PRIOR_RULE,
    dark_channel,
    dcp_dehaze_float,
    dcp_patch,
    haze_prior_weight,
    median_dark_channel,
    with_haze_prior,
)
from uare.metrics import psnr

ROOT = Path(__file__).resolve().parents[1]


def _scene(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A haze-free colour scene: smooth colour fields with a dark pixel in every 5x5 window (shadows), so
    its dark channel is 0, as the prior expects of outdoor photos."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    f = np.stack([0.5 + 0.4 * np.sin(xx / 9 + c) * np.cos(yy / 13 - c) for c in range(3)], axis=2)
    f = np.clip(f + rng.normal(0, 0.02, f.shape), 0.05, 0.95).astype(np.float32)
    f[::5, ::5] = 0.0
    return f


def _haze(j: np.ndarray, t: float, airlight: float = 0.9) -> np.ndarray:
    return (j * t + airlight * (1 - t)).astype(np.float32)


def test_haze_lifts_the_dark_channel_by_the_airlight_share():
    j = _scene()
    assert median_dark_channel(j) == pytest.approx(0.0, abs=1e-6)
    for t in (0.8, 0.5, 0.3):
        assert median_dark_channel(_haze(j, t)) == pytest.approx(0.9 * (1 - t), abs=1e-5)
    # the window: grey erosion of the channel minimum, reflected at the border
    x = np.full((9, 9, 3), 0.5, np.float32)
    x[4, 4, 1] = 0.1
    d = dark_channel(x, 3)
    assert d[3:6, 3:6].max() == pytest.approx(0.1) and d[0, 0] == pytest.approx(0.5)
    assert [dcp_patch(s) for s in (40, 100, 321, 2000)] == [3, 5, 15, 15]


def test_dcp_inverts_uniform_haze():
    """A scene under uniform haze, with a strip of sky (the airlight): DCP finds the airlight in the sky and
    inverts the rest of the scene."""
    j = _scene()
    j[:12] = 0.9  # sky: the brightest dark channel, where DCP reads the airlight
    hazy = _haze(j, 0.5)
    out = np.clip(dcp_dehaze_float(hazy), 0, 1)
    assert psnr(out[24:], j[24:]) > psnr(hazy[24:], j[24:]) + 10.0
    assert out.dtype == np.float32 and out.shape == j.shape


def test_the_prior_weight_grows_as_the_image_looks_washed_out():
    a, b, c = HAZE_PRIOR_RULE
    # blue held at 0.3 everywhere (the dark channel), red and green varying above it
    rng = np.random.default_rng(1)
    x = np.full((48, 64, 3), 0.3, np.float32)
    x[:, :, :2] = 0.3 + 0.5 * rng.random((48, 64, 2), dtype=np.float32)
    y = 0.299 * x[:, :, 0] + 0.587 * x[:, :, 1] + 0.114 * x[:, :, 2]
    expect = float(np.clip(a + b * (0.3 - y.mean()) - c * y.std(), 0, 1))
    w, m = haze_prior_weight(x, 1.0)
    assert m == pytest.approx(0.3) and w == pytest.approx(expect, abs=1e-5) and 0 < w < 1
    assert haze_prior_weight(x, 0.1)[0] == pytest.approx(min(expect, 0.1))  # the cap
    assert haze_prior_weight(np.full((40, 40, 3), 0.7, np.float32), 0.5)[0] == 0.5  # flat and washed out
    j = _scene()
    ws = [haze_prior_weight(_haze(j, t), 1.0)[0] for t in (1.0, 0.8, 0.6, 0.4, 0.2)]
    assert ws[0] == 0.0 and ws == sorted(ws) and ws[-1] > 0.5  # more haze, more of the prior
    out = np.full_like(j, 0.3)
    same, w, _ = with_haze_prior(out, j, 0.5)  # a haze-free, contrasty scene: the prior is not used
    assert w == 0.0 and same is out
    hazy = _haze(j, 0.2)
    blended, w, m = with_haze_prior(out, hazy, 0.5)
    assert m == pytest.approx(0.9 * 0.8, abs=1e-5) and w == pytest.approx(0.5)
    np.testing.assert_allclose(blended, out + 0.5 * (np.clip(dcp_dehaze_float(hazy), 0, 1) - out), atol=1e-6)


@pytest.fixture(scope="module")
def tiny():
    from uare.infer import UARE

    return UARE.from_pretrained()


def test_the_pipeline_blends_the_prior_into_dehazing_only(tiny):
    """Named dehaze of a hazed photo crop: with ``haze_prior`` the output is the same restoration with the DCP
    inversion blended in (the note says how much); a contrasty image gets none; other tasks never."""
    from uare.data.images import load_rgb
    from uare.degrade import degrade

    clean = np.ascontiguousarray(load_rgb(ROOT / "examples" / "coffee.png")[0:96, 300:396])
    hazy, _ = degrade(clean, "single", types=["haze"], severity=4, seed=0)
    hazy = np.round(np.clip(hazy, 0, 1) * 255).astype(np.uint8)
    saved = tiny.defaults
    try:
        tiny.defaults = dataclasses.replace(saved, haze_prior=0.0)
        off = tiny.restore(hazy, task="dehaze", seed=0)
        tiny.defaults = dataclasses.replace(saved, haze_prior=0.5)
        on = tiny.restore(hazy, task="dehaze", seed=0)
        denoise = tiny.restore(hazy, task="denoise", seed=0)
        halves = np.zeros((64, 64, 3), np.uint8)
        halves[:, 32:] = (240, 230, 200)  # luma std about 0.45
        contrasty = tiny.restore(halves, task="dehaze", seed=0)
    finally:
        tiny.defaults = saved
    assert not any("haze prior" in n for n in off.notes)
    f = hazy.astype(np.float32) / 255
    w, m = haze_prior_weight(f, 0.5)
    assert w > 0.0
    note = next(n for n in on.notes if n.startswith("haze prior:"))
    assert f"{w:.2f} of the dark-channel-prior inversion" in note and f"median dark channel {m:.2f})" in note
    expect = off.image / 255.0 + w * (np.clip(dcp_dehaze_float(f), 0, 1) - off.image / 255.0)
    assert np.abs(on.image / 255.0 - np.clip(expect, 0, 1)).max() <= 1.0 / 255 + 1e-6
    assert not any("haze prior" in n for n in denoise.notes)
    assert any(n.startswith("haze prior: none (luma contrast") for n in contrasty.notes), contrasty.notes


def test_haze_prior_is_validated(tmp_path):
    from uare.infer import InferenceDefaults

    (tmp_path / "inference.json").write_text('{"haze_prior": 1.5}')
    with pytest.raises(UareError, match="haze_prior"):
        InferenceDefaults.from_folder(tmp_path)
    (tmp_path / "inference.json").write_text('{"haze_prior": 0.5}')
    assert InferenceDefaults.from_folder(tmp_path).haze_prior == 0.5
