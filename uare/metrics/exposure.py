"""Statistics measured on the pixels that back or contradict a diagnosis: how bright an image's brightest pixels
are (underexposure) and how much contrast its luma keeps (haze)."""

from __future__ import annotations

import numpy as np

from uare.metrics.color import rgb_to_y


def lowlight_headroom(rgb: np.ndarray) -> float:
    """The 99.5th percentile of max(R, G, B) of RGB ``rgb`` (float in [0, 1], or 8-bit integers): how bright
    the brightest pixels are. A well-exposed photo has highlights near full scale; a synthetic or real
    underexposure caps them (see ``InferenceDefaults.lowlight_headroom`` in :mod:`uare.infer.pipeline`)."""
    a = np.asarray(rgb)
    v = (a.max(axis=2) if a.ndim == 3 else a).astype(np.float32)
    if np.issubdtype(a.dtype, np.integer):
        v /= 255.0
    return float(np.percentile(v, 99.5)) if v.size else 1.0


def luma_contrast(rgb: np.ndarray) -> float:
    """The standard deviation of BT.601 luma of RGB ``rgb`` (float in [0, 1], or 8-bit integers; gray accepted).
    Haze compresses contrast (``I = J t + A (1 - t)`` scales every difference by ``t``): no training image
    hazed at the engine's level 3 or above keeps 0.21 (``benchmarks/haze_contrast.py``), so an image above
    that line is not (strongly) hazy, whatever a description says (see ``_doubted`` in
    :mod:`uare.infer.pipeline`)."""
    a = np.asarray(rgb)
    f = a.astype(np.float64) * (1.0 if np.issubdtype(a.dtype, np.integer) else 255.0)
    y = rgb_to_y(f[:, :, :3], "yiq") if f.ndim == 3 and f.shape[2] >= 3 else f.reshape(f.shape[:2])
    return float(y.std() / 255.0) if y.size else 0.0
