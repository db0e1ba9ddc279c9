"""Luminance conversions used by the metric conventions, and the mean-colour shift (CIELAB a*b*).

Two "Y" channels appear in the literature and give different numbers:

* **Y of BT.601 YCbCr, limited range** -- MATLAB ``rgb2ycbcr``: on [0, 255] data
  ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255``, so black -> 16 and white -> 235.
  BasicSR (classical SR tables) and pyiqa with ``color_space='ycbcr'`` (Real-ISR tables) use it.
  MATLAB rounds when its input is uint8; BasicSR does not round, pyiqa rounds only for SSIM.
* **Y of YIQ** (``0.299 R + 0.587 G + 0.114 B``, full range, = MATLAB ``rgb2gray`` without its
  rounding) -- pyiqa's default for ``ssim``, ``ms_ssim``, ``niqe`` and ``brisque``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

#: MATLAB rgb2ycbcr luma row, applied to RGB in [0, 1] and giving Y in [16, 235].
YCBCR_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])
YCBCR_Y_OFFSET = 16.0
#: YIQ / BT.601 luma weights (full range).
YIQ_Y_WEIGHTS = np.array([0.299, 0.587, 0.114])

ColorSpace = Literal["ycbcr", "yiq"]


def rgb_to_y(img255: np.ndarray, color_space: ColorSpace = "ycbcr", *, round_: bool = False) -> np.ndarray:
    """Luminance of RGB data in [0, 255] (last axis = 3 channels), returned in [0, 255] float64.

    Args:
        img255: array ``(..., 3)`` of RGB values in [0, 255].
        color_space: ``"ycbcr"`` for MATLAB ``rgb2ycbcr`` (limited range 16-235) or ``"yiq"``.
        round_: round to integers, as MATLAB does for uint8 input and pyiqa does before SSIM.

    Returns:
        Array ``(...,)`` with the Y channel.
    """
    img255 = np.asarray(img255, dtype=np.float64)
    if img255.shape[-1] != 3:
        raise ValueError(f"rgb_to_y needs 3 channels in the last axis, got shape {img255.shape}")
    if color_space == "ycbcr":
        y = img255 @ (YCBCR_Y_WEIGHTS / 255.0) + YCBCR_Y_OFFSET
    elif color_space == "yiq":
        y = img255 @ YIQ_Y_WEIGHTS
    else:
        raise ValueError(f"color_space must be 'ycbcr' or 'yiq', got {color_space!r}")
    return np.round(y) if round_ else y


def luminance_nhwc(x: np.ndarray, color_space: ColorSpace, *, round_: bool = False) -> np.ndarray:
    """Y channel of an NHWC [0, 255] array as NHW1; gray input (C = 1) passes through (rounded if asked)."""
    if x.shape[-1] == 1:
        return np.round(x) if round_ else x
    return rgb_to_y(x, color_space, round_=round_)[..., None]


def mean_ab(img: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """The mean (a*, b*) of an sRGB image in CIELAB (D65); ``scale`` is the value of white (255 or 1)."""
    import cv2

    # float32 input in [0, 1] makes OpenCV return L in 0..100 and a, b in their natural units
    lab = cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32) / float(scale), cv2.COLOR_RGB2Lab)
    return lab[..., 1:].reshape(-1, 2).mean(0)


def color_shift(pred: np.ndarray, ref: np.ndarray, scale: float = 255.0) -> float:
    """Euclidean distance of the mean (a*, b*) of two sRGB images in CIELAB (D65), as the benchmarks report
    it (``color_shift``) and inference's colour check limits it."""
    return float(np.linalg.norm(mean_ab(pred, scale) - mean_ab(ref, scale)))
