"""Calibrated severity: five levels per degradation type, and the inverse map from parameters.

Every category has one scalar *strength* that grows with how much the image is damaged, and a
table of the strength at levels 1..5 (plus the strength below which the effect is invisible,
level 0). ``severity_from_strength`` interpolates that table piecewise-linearly, so any parameter
set — a calibrated level, or a random Real-ESRGAN draw — gets a continuous severity in [0, 5] on
the same scale. The ``single`` pipeline applies the parameters of :data:`SINGLE_LEVELS` directly.

How the levels were chosen (see ``benchmarks/severity_table.py`` for the measured PSNR of each
type × level on Kodak24):

- blur: strength is the kernel's effective sigma, sqrt((var_x + var_y) / 2) of its normalised
  second moments, so Gaussian, motion and defocus kernels of equal level spread light equally
  (motion length L has sigma L / sqrt(24); a disk of radius r has sigma r / 2).
- noise: the standard deviation of the added noise in 0-255 units (Gaussian sigma; for Poisson
  and sensor noise the measured std). sigma 15/25/50 are the classical denoising levels 3/4/5.
- jpeg: 100 - quality.
- lowres: the largest down-scaling factor the image went through (resolution that was lost).
- lowlight: stops of darkening, -log2(exposure) + 2 * (gamma - 1).
- haze: the scattering coefficient beta of I = J t + A (1 - t), t = exp(-beta d), d in [0.25, 1].
- rain: the fraction of pixels that seed a streak.
- ringing: pi / omega_c of the 2-D sinc filter (a lower cut-off rings more and wider).
"""

from __future__ import annotations

import numpy as np

#: category -> (strength at level 0, strengths at levels 1..5)
STRENGTH_TABLE: dict[str, tuple[float, tuple[float, float, float, float, float]]] = {
    "blur": (0.3, (0.8, 1.4, 2.0, 2.8, 3.6)),
    "noise": (1.0, (5.0, 10.0, 15.0, 25.0, 50.0)),
    "jpeg": (5.0, (30.0, 50.0, 70.0, 80.0, 90.0)),
    "lowres": (1.0, (1.5, 2.0, 3.0, 4.0, 6.0)),
    "lowlight": (0.0, (1.15, 1.94, 2.72, 3.66, 4.64)),
    "haze": (0.0, (0.25, 0.5, 0.9, 1.4, 2.2)),
    "rain": (0.0, (0.002, 0.004, 0.007, 0.011, 0.016)),
    "ringing": (1.05, (1.3, 1.7, 2.3, 3.2, 4.5)),
}

#: Parameters the ``single`` pipeline uses at levels 1..5, per single type name.
SINGLE_LEVELS: dict[str, dict[str, tuple[float, ...]]] = {
    "blur": {"sigma": (0.8, 1.4, 2.0, 2.8, 3.6)},
    "motion_blur": {"length": tuple(round(s * 24**0.5, 2) for s in (0.8, 1.4, 2.0, 2.8, 3.6))},
    "defocus_blur": {"radius": tuple(round(2 * s, 2) for s in (0.8, 1.4, 2.0, 2.8, 3.6))},
    "noise": {"sigma": (5.0, 10.0, 15.0, 25.0, 50.0)},
    # Poisson std is sqrt(I * 256) / 256 * scale; at mid-grey I = 0.5 that is 11.3/255 per unit scale.
    "poisson_noise": {"scale": (0.45, 0.9, 1.35, 2.2, 4.4)},
    "jpeg": {"quality": (70, 50, 30, 20, 10)},
    "lowres": {"factor": (1.5, 2.0, 3.0, 4.0, 6.0)},
    "lowlight": {
        "exposure": (0.45, 0.3, 0.2, 0.12, 0.07),
        "gamma": (1.0, 1.1, 1.2, 1.3, 1.4),
    },
    "haze": {"beta": (0.25, 0.5, 0.9, 1.4, 2.2)},
    "rain": {"density": (0.002, 0.004, 0.007, 0.011, 0.016), "length": (10, 14, 18, 22, 26)},
}

#: single type name -> quality-language category
SINGLE_CATEGORY: dict[str, str] = {
    "blur": "blur",
    "motion_blur": "blur",
    "defocus_blur": "blur",
    "noise": "noise",
    "poisson_noise": "noise",
    "jpeg": "jpeg",
    "lowres": "lowres",
    "lowlight": "lowlight",
    "haze": "haze",
    "rain": "rain",
}

SINGLE_TYPES: tuple[str, ...] = tuple(SINGLE_LEVELS)


def severity_from_strength(category: str, strength: float) -> float:
    """Continuous severity in [0, 5] for a category's strength (piecewise-linear in the table)."""
    if category not in STRENGTH_TABLE:
        raise ValueError(f"unknown degradation category {category!r}; known: {', '.join(STRENGTH_TABLE)}")
    s0, levels = STRENGTH_TABLE[category]
    xs = np.array((s0, *levels), dtype=np.float64)
    ys = np.arange(6, dtype=np.float64)
    return float(np.interp(float(strength), xs, ys, left=0.0, right=5.0))


def lowlight_strength(exposure: float, gamma: float) -> float:
    """Stops of darkening of the low-light model: -log2(exposure) + 2 (gamma - 1)."""
    return float(-np.log2(exposure) + 2.0 * (gamma - 1.0))


def level_params(single_type: str, level: int) -> dict[str, float]:
    """The calibrated parameters of a single type at a level 1..5."""
    if single_type not in SINGLE_LEVELS:
        raise ValueError(f"unknown degradation type {single_type!r}; choose from {', '.join(SINGLE_TYPES)}")
    if not 1 <= int(level) <= 5:
        raise ValueError(f"severity must be an integer 1..5, got {level!r}")
    return {k: v[int(level) - 1] for k, v in SINGLE_LEVELS[single_type].items()}
