"""Back-projection (uare.infer.consistency): up-scales made consistent with their input, and where the pipeline
runs it (``back_projection`` in ``inference.json``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from uare.degrade.resize import resize_float
from uare.errors import UareError
from uare.infer.consistency import back_project
from uare.metrics import psnr

ROOT = Path(__file__).resolve().parents[1]


def _photo(h: int = 96, w: int = 128) -> np.ndarray:
    from uare.data.images import load_rgb

    return np.ascontiguousarray(load_rgb(ROOT / "examples" / "coffee.png")[100:100 + h, 200:200 + w]).astype(
        np.float32) / 255


def test_back_projection_makes_the_up_scale_reproduce_its_input():
    gt = _photo()
    y = np.clip(resize_float(gt, (24, 32), "matlab_bicubic"), 0, 1)
    x0 = np.clip(cv2.GaussianBlur(cv2.resize(y, (128, 96), interpolation=cv2.INTER_CUBIC), (0, 0), 1.0), 0, 1)

    def residual(x: np.ndarray) -> float:
        return float(np.abs(resize_float(np.clip(x, 0, 1), (24, 32), "matlab_bicubic") - y).mean())

    xs = [back_project(x0, y, n) for n in (0, 1, 3, 10)]
    res = [residual(x) for x in xs]
    assert res == sorted(res, reverse=True) and res[-1] < 0.2 * res[0]
    assert np.array_equal(xs[0], x0)
    assert psnr(np.clip(xs[-1], 0, 1), gt) > psnr(x0, gt) + 0.5


@pytest.fixture(scope="module")
def tiny():
    from uare.infer import UARE

    return UARE.from_pretrained()


def test_the_pipeline_back_projects_only_a_plain_up_scale(tiny):
    """Named x2 SR: the output is the same restoration back-projected toward the input, with a note; a named
    denoise at x2, a blind x2 and a same-size restoration are not back-projected."""
    lr = (np.clip(resize_float(_photo(), (48, 64), "matlab_bicubic"), 0, 1) * 255).round().astype(np.uint8)
    saved = tiny.defaults
    try:
        tiny.defaults = dataclasses.replace(saved, back_projection=0)
        off = tiny.restore(lr, task="sr", scale=2, seed=0)
        tiny.defaults = dataclasses.replace(saved, back_projection=3)
        on = tiny.restore(lr, task="sr", scale=2, seed=0)
        noisy = tiny.restore(lr, task="denoise", scale=2, seed=0)
        same = tiny.restore(lr, task="sr", seed=0)
        blind = tiny.restore(lr, scale=2, seed=0, force=True)
    finally:
        tiny.defaults = saved
    assert not any("back-projection" in n for n in off.notes)
    assert "back-projection: 3 rounds toward the input (its bicubic down-sampling reproduces it)" in on.notes
    expect = np.clip(back_project(off.image / 255.0, lr / 255.0, 3), 0, 1)
    assert np.abs(on.image / 255.0 - expect).max() <= 2.0 / 255  # off.image is rounded to 8 bits first
    assert not any("back-projection" in n for n in noisy.notes + same.notes + blind.notes)


def test_back_projection_is_validated(tmp_path):
    from uare.infer import InferenceDefaults

    for bad in ("-1", "51", "2.5"):
        (tmp_path / "inference.json").write_text(json.dumps({"back_projection": json.loads(bad)}))
        with pytest.raises(UareError, match="back_projection"):
            InferenceDefaults.from_folder(tmp_path)
