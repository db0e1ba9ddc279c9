"""Synthetic rain streaks: sparse drops smeared by a motion kernel, screen-blended onto the image."""

from __future__ import annotations

import cv2
import numpy as np

from uare.degrade._array import from_float, make_rng, to_float
from uare.degrade.blur import filter_float
from uare.degrade.kernels import motion_kernel
from uare.degrade.record import Step
from uare.degrade.severity import severity_from_strength


def add_rain(img: np.ndarray, density: float, length: float = 15.0, angle: float | None = None,
             intensity: float = 0.8, rng=None) -> tuple[np.ndarray, Step]:
    """Rain: a fraction ``density`` of pixels seed streaks of ``length`` px at ``angle`` degrees from vertical.

    The random fields are drawn before ``density`` is applied, so with one seed a denser rain is a
    superset of a lighter one.
    """
    if not 0 <= density <= 0.2:
        raise ValueError(f"rain density must be in [0, 0.2], got {density}")
    rng = make_rng(rng)
    f, meta = to_float(img)
    h, w = f.shape[:2]
    if angle is None:
        angle = float(np.clip(rng.normal(0.0, 10.0), -30, 30))
    u = rng.random((h, w), dtype=np.float32)
    v = rng.random((h, w), dtype=np.float32)
    drops = np.where(u < density, 0.6 + 0.4 * v, 0.0).astype(np.float32)[:, :, None]
    k = motion_kernel(length, 90.0 + angle)
    layer = filter_float(drops, k) * np.float32(length)
    layer = cv2.GaussianBlur(layer, (0, 0), 0.6)
    layer = np.clip(layer, 0, 1).reshape(h, w, 1) * np.float32(intensity)
    out = 1 - (1 - f) * (1 - layer)
    step = Step("rain", {"density": float(density), "length": float(length), "angle": angle,
                         "intensity": float(intensity)}, "rain", "streaks", severity_from_strength("rain", density))
    return from_float(out, meta), step
