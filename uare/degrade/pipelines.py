"""The pipeline table: one row per degradation pipeline, the one source of the pipelines' names.

:data:`uare.degrade.PIPELINES`, :func:`uare.degrade.degrade`'s dispatch, the curriculum's high-order
draws and ``uare degrade --pipeline`` (its choices and help) all read this table. A row that draws its
own types and strengths (a *high-order* pipeline: ``realesrgan``, ``apisr``) takes no ``types``,
``severity`` or ``pool``; its function is ``fn(img, scale, seed)``. The others take
``fn(img, types, severity, scale, seed, pool)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from uare.degrade.apisr import apisr
from uare.degrade.realesrgan import realesrgan
from uare.degrade.record import DegradationRecord
from uare.degrade.single import multi, single

Result = tuple[np.ndarray, DegradationRecord]


@dataclass(frozen=True)
class Pipeline:
    """One degradation pipeline."""

    name: str
    #: one line for ``uare degrade --help``
    description: str
    #: draws its own types and strengths (high-order): no types, severity or pool
    draws_own: bool
    fn: Callable[..., Result]


def _single(img: np.ndarray, types: list[str] | None, severity: int | None, scale: int, seed: Any,
            pool: Any) -> Result:
    if types is not None and len(types) != 1:
        raise ValueError(f"the single pipeline takes exactly one type, got {len(types)}: {', '.join(types)}")
    return single(img, types[0] if types else None, severity, scale, seed, pool=pool)


def _multi(img: np.ndarray, types: list[str] | None, severity: int | None, scale: int, seed: Any,
           pool: Any) -> Result:
    if types is not None and not 2 <= len(types) <= 3:
        raise ValueError(f"the multi pipeline takes 2 or 3 types, got {len(types)}")
    return multi(img, types, severity, scale, seed, pool=pool)


PIPELINE_TABLE: tuple[Pipeline, ...] = (
    Pipeline("single", "one type", False, _single),
    Pipeline("multi", "2-3 types in physical order", False, _multi),
    Pipeline("realesrgan", "the Real-ESRGAN second-order pipeline", True, realesrgan),
    Pipeline("apisr", "APISR's anime pipeline: second-order, then an image or a video codec "
             "(JPEG, WebP, AVIF, MPEG-2, MPEG-4, H.264, H.265)", True, apisr),
)

#: pipeline name -> row
PIPELINE: dict[str, Pipeline] = {p.name: p for p in PIPELINE_TABLE}
#: every pipeline, in table order
PIPELINES: tuple[str, ...] = tuple(PIPELINE)
#: the pipelines that draw their own types and strengths (the curriculum's high-order sub-stage draws these)
HIGHORDER_PIPELINES: tuple[str, ...] = tuple(p.name for p in PIPELINE_TABLE if p.draws_own)


def run_pipeline(img: np.ndarray, pipeline: str, types: list[str] | None = None, severity: int | None = None,
                 scale: int = 1, seed: int | np.random.Generator | None = 0,
                 pool: tuple[str, ...] | list[str] | None = None) -> Result:
    """Run the row ``pipeline`` of the table (see :func:`uare.degrade.degrade`)."""
    row = PIPELINE.get(pipeline)
    if row is None:
        raise ValueError(f"unknown pipeline {pipeline!r}; choose from {', '.join(PIPELINES)}")
    if not row.draws_own:
        return row.fn(img, types, severity, scale, seed, pool)
    if types:
        raise ValueError(f"the {row.name} pipeline draws its own types; do not pass --types")
    if severity is not None:
        raise ValueError(f"the {row.name} pipeline draws its own strengths; do not pass --severity")
    if pool is not None:
        raise ValueError(f"the {row.name} pipeline draws its own types; it takes no pool")
    return row.fn(img, scale, seed)
