"""Calibrated severity: five levels per degradation type, and the inverse map from parameters.

Every category has one scalar *strength* that grows with how much the image is damaged, and a
table of the strength at levels 1..5 (plus the strength below which the effect is invisible,
level 0). ``severity_from_strength`` interpolates that table piecewise-linearly, so any parameter
set — a calibrated level, or a random Real-ESRGAN draw — gets a continuous severity in [0, 5] on
the same scale. The ``single`` pipeline applies the parameters of the type's calibrated levels.

The strengths and the levels live in the degradation table, :mod:`uare.degrade.types` (with how
each was chosen; ``benchmarks/severity_table.py`` measures the PSNR of each type × level). The
names below are views of it, kept for the imports that use them: ``STRENGTH_TABLE`` (category ->
(strength at level 0, strengths at levels 1..5)), and for the default random pool (the types of
the first release) ``SINGLE_LEVELS``, ``SINGLE_CATEGORY`` and ``SINGLE_TYPES``; every type
(opt-in ones too) is in ``uare.degrade.types.TYPES`` / ``TYPE_LEVELS`` / ``TYPE_CATEGORY``.
"""

from __future__ import annotations

import numpy as np

# The table imports the operators, which import this module: read it lazily (PEP 562).
_VIEWS = ("STRENGTH_TABLE", "SINGLE_LEVELS", "SINGLE_CATEGORY", "SINGLE_TYPES")


def __getattr__(name: str):
    if name in _VIEWS:
        from uare.degrade import types

        return getattr(types, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def severity_from_strength(category: str, strength: float) -> float:
    """Continuous severity in [0, 5] for a category's strength (piecewise-linear in the table)."""
    from uare.degrade.types import STRENGTH_TABLE

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
    """The calibrated parameters of a type (any type of the table) at a level 1..5."""
    from uare.degrade.types import TYPE_LEVELS

    if single_type not in TYPE_LEVELS:
        raise ValueError(f"unknown degradation type {single_type!r}; choose from {', '.join(TYPE_LEVELS)}")
    if not 1 <= int(level) <= 5:
        raise ValueError(f"severity must be an integer 1..5, got {level!r}")
    return {k: v[int(level) - 1] for k, v in TYPE_LEVELS[single_type].items()}
