"""Low-light synthesis in linear light: exposure scaling and gamma, then sensor shot/read noise.

As common low-light synthesis does (e.g. Lv et al., Wei et al.): the sRGB image is linearised,
darkened as L' = exposure * L^gamma (gamma > 1 crushes mid-tones more than highlights), and the
sensor adds signal-dependent shot noise and constant read noise, Var = shot * L' + read^2, in linear
light; the result is re-encoded to sRGB, whose steep curve near black makes the noise show in the
shadows as it does in real night photos.
"""

from __future__ import annotations

import numpy as np

from uare.degrade._array import from_float, make_rng, to_float
from uare.degrade.record import Step
from uare.degrade.severity import lowlight_strength, severity_from_strength


def srgb_to_linear(f: np.ndarray) -> np.ndarray:
    f = np.clip(f, 0.0, 1.0)
    return np.where(f <= 0.04045, f / 12.92, ((f + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0.0, 1.0)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.power(lin, 1 / 2.4) - 0.055).astype(np.float32)


def darken_float(f: np.ndarray, exposure: float, gamma: float) -> np.ndarray:
    return linear_to_srgb(np.float32(exposure) * np.power(srgb_to_linear(f), np.float32(gamma)))


def sensor_noise_float(f: np.ndarray, shot: float, read: float, rng: np.random.Generator) -> np.ndarray:
    lin = srgb_to_linear(f)
    std = np.sqrt(np.float32(shot) * lin + np.float32(read) ** 2)
    return linear_to_srgb(lin + std * rng.standard_normal(lin.shape, dtype=np.float32))


def lowlight(img: np.ndarray, exposure: float, gamma: float = 1.0) -> tuple[np.ndarray, Step]:
    """Darken: ``exposure`` in (0, 1] scales linear light, ``gamma`` >= 1 crushes mid-tones."""
    if not 0 < exposure <= 1:
        raise ValueError(f"exposure must be in (0, 1], got {exposure}")
    if gamma <= 0:
        raise ValueError(f"gamma must be positive, got {gamma}")
    f, meta = to_float(img)
    strength = lowlight_strength(exposure, gamma)
    step = Step("lowlight", {"exposure": float(exposure), "gamma": float(gamma), "stops": round(strength, 4)},
                "lowlight", "exposure", severity_from_strength("lowlight", strength))
    return from_float(darken_float(f, exposure, gamma), meta), step


def sensor_noise(img: np.ndarray, shot: float = 4e-4, read: float = 2e-3, rng=None) -> tuple[np.ndarray, Step]:
    """Shot + read noise in linear light (variance ``shot`` * L + ``read``^2)."""
    if shot < 0 or read < 0:
        raise ValueError("shot and read noise must be >= 0")
    f, meta = to_float(img)
    out = sensor_noise_float(f, shot, read, make_rng(rng))
    std = float(np.std(np.clip(out, 0, 1) - np.clip(f, 0, 1))) * 255.0
    step = Step("sensor_noise", {"shot": float(shot), "read": float(read), "std": round(std, 4)}, "noise",
                "sensor", severity_from_strength("noise", std))
    return from_float(out, meta), step
