"""Haze by the atmospheric scattering model I = J t + A (1 - t), t = exp(-beta d).

Depth proxy (no depth maps exist for our photos): d = 0.25 + 0.75 * clip(0.75 * v + 0.25 * b),
where v runs from 0 at the bottom row to 1 at the top (the ground is near, the horizon far) and b
is the image's luma blurred with sigma = max(H, W) / 8 (for a side over 1,024 px on a copy reduced to
512 px, then enlarged: the same smooth map at a bounded cost) and stretched to [0, 1] (bright,
smooth regions such as sky read as far). Values are applied to the sRGB image, as RESIDE's synthetic
hazy sets were made. A is a grey atmospheric light drawn in [0.75, 0.95] unless given.
"""

from __future__ import annotations

import cv2
import numpy as np

from uare.degrade._array import from_float, luma, make_rng, to_float
from uare.degrade.record import Step
from uare.degrade.severity import severity_from_strength

D_MIN = 0.25
#: above this side the depth proxy's blur runs on a reduced copy (images up to it are unchanged)
BLUR_FULL_RES_MAX = 1024


def depth_proxy(f: np.ndarray) -> np.ndarray:
    """The documented depth proxy in [D_MIN, 1], HxW float32."""
    h, w = f.shape[:2]
    v = np.linspace(1.0, 0.0, h, dtype=np.float32)[:, None] * np.ones((1, w), np.float32)
    sigma = max(h, w) / 8.0
    y = luma(f).astype(np.float32)
    if max(h, w) > BLUR_FULL_RES_MAX:
        # the blur is smooth at this scale: compute it on a copy at most 512 px long and enlarge it back,
        # so its cost is bounded (at full resolution it grows with pixels x side: a 16 x 100,000 strip
        # asked for a 40 GB kernel buffer)
        k = 512.0 / max(h, w)
        small = cv2.resize(y, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma * k, borderType=cv2.BORDER_REFLECT_101)
        b = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        b = cv2.GaussianBlur(y, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT_101)
    lo, hi = float(b.min()), float(b.max())
    b = (b - lo) / (hi - lo) if hi - lo > 1e-6 else np.zeros_like(b)
    return (D_MIN + (1 - D_MIN) * np.clip(0.75 * v + 0.25 * b, 0, 1)).astype(np.float32)


def haze_float(f: np.ndarray, beta: float, airlight: float) -> np.ndarray:
    t = np.exp(-np.float32(beta) * depth_proxy(f))[:, :, None]
    return f * t + np.float32(airlight) * (1 - t)


def add_haze(img: np.ndarray, beta: float, airlight: float | None = None, rng=None) -> tuple[np.ndarray, Step]:
    """Add haze of density ``beta`` (0 = none, 3 = very thick) with atmospheric light ``airlight``."""
    if beta < 0:
        raise ValueError(f"haze beta must be >= 0, got {beta}")
    if airlight is None:
        airlight = float(make_rng(rng).uniform(0.75, 0.95))
    f, meta = to_float(img)
    step = Step("haze", {"beta": float(beta), "airlight": float(airlight), "depth": "row+luma proxy"}, "haze",
                "atmospheric", severity_from_strength("haze", beta))
    return from_float(haze_float(f, beta, airlight), meta), step
