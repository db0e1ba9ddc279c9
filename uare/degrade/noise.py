"""Noise: additive Gaussian, signal-dependent Poisson (each in colour or gray), and impulse (salt-and-pepper).

``sigma`` is in 0-255 units (as Real-ESRGAN's ranges are). Poisson noise follows Real-ESRGAN: the
image is treated as photon counts with 2^ceil(log2(#distinct levels)) levels (256 for a natural
8-bit photo), sampled, and the difference is scaled by ``scale``. Gray noise is one noise field
(computed on the luma for Poisson) added to every channel.
"""

from __future__ import annotations

import numpy as np

from uare.degrade._array import from_float, luma, make_rng, to_float
from uare.degrade.record import Step
from uare.degrade.severity import severity_from_strength


def gaussian_noise_float(f: np.ndarray, sigma: float, gray: bool, rng: np.random.Generator) -> np.ndarray:
    h, w, c = f.shape
    shape = (h, w, 1) if gray else (h, w, c)
    noise = rng.standard_normal(shape, dtype=np.float32) * np.float32(sigma / 255.0)
    return f + noise


def poisson_noise_float(f: np.ndarray, scale: float, gray: bool, rng: np.random.Generator) -> np.ndarray:
    src = luma(f)[:, :, None] if gray else f
    src = np.clip(src, 0.0, 1.0)
    # Count distinct 8-bit levels with a histogram: the same as unique() on a uint8 image, far faster.
    levels = np.count_nonzero(np.bincount(np.rint(src * 255).astype(np.uint8).ravel(), minlength=256))
    vals = 2.0 ** np.ceil(np.log2(max(levels, 2)))
    noise = (rng.poisson(src * vals).astype(np.float32) / np.float32(vals) - src) * np.float32(scale)
    return f + noise


def add_gaussian_noise(img: np.ndarray, sigma: float, gray: bool = False, rng=None) -> tuple[np.ndarray, Step]:
    """Add N(0, sigma^2) noise (sigma in 0-255 units), per channel or one gray field."""
    if sigma < 0:
        raise ValueError(f"noise sigma must be >= 0, got {sigma}")
    f, meta = to_float(img)
    out = gaussian_noise_float(f, sigma, gray, make_rng(rng))
    step = Step("gaussian_noise", {"sigma": float(sigma), "gray": bool(gray)}, "noise", "gaussian",
                severity_from_strength("noise", sigma))
    return from_float(out, meta), step


def add_poisson_noise(img: np.ndarray, scale: float, gray: bool = False, rng=None) -> tuple[np.ndarray, Step]:
    """Add Real-ESRGAN-style Poisson (shot) noise of strength ``scale``."""
    if scale < 0:
        raise ValueError(f"Poisson noise scale must be >= 0, got {scale}")
    f, meta = to_float(img)
    out = poisson_noise_float(f, scale, gray, make_rng(rng))
    std = float(np.std(out - f)) * 255.0
    step = Step("poisson_noise", {"scale": float(scale), "gray": bool(gray), "std": round(std, 4)}, "noise",
                "poisson", severity_from_strength("noise", std))
    return from_float(out, meta), step


def add_salt_pepper(img: np.ndarray, amount: float, salt: float = 0.5, rng=None) -> tuple[np.ndarray, Step]:
    """Impulse (salt-and-pepper) noise: a fraction ``amount`` of pixels set to white (probability ``salt``)
    or black, in every channel.

    The random fields are drawn before ``amount`` is applied, so with one seed a larger amount hits a
    superset of the pixels of a smaller one, with the same colours.
    """
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"salt-and-pepper amount must be in [0, 1], got {amount}")
    if not 0.0 <= salt <= 1.0:
        raise ValueError(f"salt-and-pepper salt share must be in [0, 1], got {salt}")
    rng = make_rng(rng)
    f, meta = to_float(img)
    h, w = f.shape[:2]
    u = rng.random((h, w), dtype=np.float32)
    v = rng.random((h, w), dtype=np.float32)
    white = (v < salt).astype(np.float32)[:, :, None]
    out = np.where((u < amount)[:, :, None], white, f)
    step = Step("salt_pepper", {"amount": float(amount), "salt": float(salt)}, "impulse", "salt_pepper",
                severity_from_strength("impulse", amount))
    return from_float(out, meta), step
