"""Calibrated severity: five levels per degradation type, and the inverse map from parameters.

Every category has one scalar *strength* that grows with how much the image is damaged, and a
table of the strength at levels 1..5 (plus the strength below which the effect is invisible,
level 0). ``severity_from_strength`` interpolates that table piecewise-linearly, so any parameter
set — a calibrated level, or a random Real-ESRGAN draw — gets a continuous severity in [0, 5] on
the same scale. The ``single`` pipeline applies the parameters of the type's calibrated levels.

The strengths live in the category rows, :mod:`uare.degrade.categories` (pure data, imported here
at the top: the operators import this module, and the type table above them imports the operators);
``STRENGTH_TABLE`` (category -> (strength at level 0, strengths at levels 1..5)) is re-exported here.
The calibrated parameters of every type at levels 1..5, and ``level_params``, are in
:mod:`uare.degrade.types` (``TYPE_LEVELS``; ``SINGLE_LEVELS`` / ``SINGLE_TYPES`` for the default pool);
``benchmarks/severity_table.py`` measures the PSNR of each type × level.
"""

from __future__ import annotations

import numpy as np

from uare.degrade.categories import STRENGTH_TABLE


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
