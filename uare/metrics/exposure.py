"""How bright an image's brightest pixels are: the measured-underexposure statistic."""

from __future__ import annotations

import numpy as np


def lowlight_headroom(rgb: np.ndarray) -> float:
    """The 99.5th percentile of max(R, G, B) of RGB ``rgb`` (float in [0, 1], or 8-bit integers): how bright
    the brightest pixels are. A well-exposed photo has highlights near full scale; a synthetic or real
    underexposure caps them (see ``InferenceDefaults.lowlight_headroom`` in :mod:`uare.infer.pipeline`)."""
    a = np.asarray(rgb)
    v = (a.max(axis=2) if a.ndim == 3 else a).astype(np.float32)
    if np.issubdtype(a.dtype, np.integer):
        v /= 255.0
    return float(np.percentile(v, 99.5)) if v.size else 1.0
