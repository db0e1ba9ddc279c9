"""``single`` and ``multi`` pipelines: calibrated types at severity levels 1..5, in physical order."""

from __future__ import annotations

import numpy as np

from uare.degrade._array import from_float, make_rng, to_float
from uare.degrade.record import DegradationRecord, Step
from uare.degrade.resize import modcrop, sr_downsample
from uare.degrade.types import (
    CATEGORIES,
    SINGLE_TYPES,
    TYPE_CATEGORY,
    TYPES,
    check_types,
    level_params,
    physical_order,
)

#: The order in which a photo acquires degradations: the scene (rain, haze), the lens (blur),
#: the sampling (resolution), the exposure and the sensor (low light, noise), the codec (JPEG).
#: These are the categories of the default pool that ``multi`` draws from; every category's place
#: is its row in :data:`uare.degrade.types.CATEGORY_TABLE`.
PHYSICAL_ORDER: tuple[str, ...] = physical_order(SINGLE_TYPES)


def apply_type(f: np.ndarray, single_type: str, level: int, rng: np.random.Generator) -> tuple[np.ndarray, list[Step]]:
    """Apply one calibrated type at ``level`` to a float image; the draws of ``rng`` do not depend on the level."""
    p = level_params(single_type, level)
    out, steps = TYPES[single_type].apply(f, p, rng)
    return out, [steps] if isinstance(steps, Step) else list(steps)


def _pool(pool) -> tuple[str, ...]:
    if pool is None:
        return SINGLE_TYPES
    pool = tuple(pool)
    check_types(pool)
    if not pool:
        raise ValueError("the pool of types to draw from is empty")
    return pool


def _start(img: np.ndarray, pipeline: str, seed, scale: int) -> tuple[np.ndarray, object, DegradationRecord]:
    if int(scale) != scale or scale not in (1, 2, 3, 4):
        raise ValueError(f"scale must be 1, 2, 3 or 4, got {scale}")
    arr = modcrop(np.asarray(img), int(scale))
    f, meta = to_float(arr)
    rec = DegradationRecord(pipeline, seed=seed if isinstance(seed, int) else None, scale=int(scale),
                            input_size=(f.shape[0], f.shape[1]))
    if arr.shape[:2] != np.asarray(img).shape[:2]:
        rec.notes.append(f"mod-cropped to {arr.shape[0]}x{arr.shape[1]} (multiple of scale {scale})")
    return f, meta, rec


def _finish(f: np.ndarray, meta, rec: DegradationRecord) -> tuple[np.ndarray, DegradationRecord]:
    if rec.scale > 1:
        f, step = sr_downsample(f, rec.scale)
        rec.add(step)
    rec.output_size = (f.shape[0], f.shape[1])
    return from_float(f, meta), rec


def _level(severity: int | None, rng: np.random.Generator, max_severity: int) -> int:
    if severity is None:
        return int(rng.integers(1, max_severity + 1))
    if int(severity) != severity or not 1 <= severity <= 5:
        raise ValueError(f"severity must be an integer 1..5, got {severity}")
    return int(severity)


def single(img: np.ndarray, single_type: str | None = None, severity: int | None = None, scale: int = 1,
           seed: int | np.random.Generator | None = 0, max_severity: int = 5,
           pool: tuple[str, ...] | list[str] | None = None) -> tuple[np.ndarray, DegradationRecord]:
    """One degradation type at a level 1..5 (random type / level when None), then SR down-sampling by ``scale``.

    A random type is drawn from ``pool`` (default: the default pool, :data:`uare.degrade.types.SINGLE_TYPES`;
    e.g. ``uare.degrade.types.pool_types(["salt_pepper"])`` adds an opt-in type). A named type may be any
    type of the table.
    """
    rng = make_rng(seed)
    f, meta, rec = _start(img, "single", seed, scale)
    if single_type is None:
        single_type = str(rng.choice(_pool(pool)))
    check_types([single_type])
    level = _level(severity, rng, max_severity)
    f, steps = apply_type(f, single_type, level, rng)
    for s in steps:
        s.params.setdefault("type", single_type)
        s.params.setdefault("level", level)
        rec.add(s)
    return _finish(f, meta, rec)


def order_types(types: list[str]) -> list[str]:
    """Sort types into physical order (:data:`uare.degrade.types.CATEGORIES`) by their category."""
    return sorted(types, key=lambda t: CATEGORIES.index(TYPE_CATEGORY[t]))


def multi(img: np.ndarray, types: list[str] | None = None, severity: int | None = None, scale: int = 1,
          seed: int | np.random.Generator | None = 0, max_severity: int = 5,
          n_types: tuple[int, int] = (2, 3), pool: tuple[str, ...] | list[str] | None = None
          ) -> tuple[np.ndarray, DegradationRecord]:
    """2-3 types of different categories composed in physical order (blur -> noise -> JPEG, ...).

    With ``types=None`` the number of types is drawn from ``n_types`` and the types uniformly
    among the categories of ``pool`` (default: the default pool), then a type of each category;
    ``severity=None`` draws each type's level in 1..``max_severity``.
    """
    rng = make_rng(seed)
    f, meta, rec = _start(img, "multi", seed, scale)
    if types is None:
        pool = _pool(pool)
        order = physical_order(pool)
        if len(order) < 2:
            raise ValueError(f"multi draws types of 2-3 categories; the pool {', '.join(pool)} has {len(order)}")
        n = min(int(rng.integers(n_types[0], n_types[1] + 1)), len(order))
        cats = rng.choice(order, size=n, replace=False)
        types = [str(rng.choice([t for t in pool if TYPE_CATEGORY[t] == c])) for c in cats]
    types = list(types)
    check_types(types)
    cats = [TYPE_CATEGORY[t] for t in types]
    if len(set(cats)) != len(cats):
        raise ValueError(f"multi needs types of different categories, got {', '.join(types)}")
    for t in order_types(types):
        level = _level(severity, rng, max_severity)
        f, steps = apply_type(f, t, level, rng)
        for s in steps:
            s.params.setdefault("type", t)
            s.params.setdefault("level", level)
            rec.add(s)
    return _finish(f, meta, rec)
