"""The degradation-type table: the one place that says what each degradation type and category is.

Two tables, read by everything else:

* :data:`CATEGORY_TABLE` -- one row per quality-language *category* (blur, noise, ...), in the
  physical order a photo acquires them: its strength scale (the strength at level 0 and at levels
  1..5), the kinds its steps carry, its nouns (``<severity word> <noun>`` in the texts) and the
  extra nouns accepted when reading, its restore-plan phrasings and the keywords that read them
  back, its place in the restore plan, and whether removing it changes the image's mean colour.
* :data:`TYPE_TABLE` -- one row per *type* a pipeline can apply (``blur``, ``motion_blur``, ...):
  its category, its calibrated parameters at levels 1..5 and the operator that applies them.

The category rows are pure data and live below the operators, in :mod:`uare.degrade.categories`
(re-exported here); the type rows name the operators, so this module imports them and nothing below
imports it back. Derived from the tables: :data:`uare.degrade.severity.STRENGTH_TABLE`,
``SINGLE_LEVELS``, ``SINGLE_CATEGORY``, ``SINGLE_TYPES``, ``level_params``;
:data:`uare.degrade.record.CATEGORIES`; :data:`uare.degrade.single.PHYSICAL_ORDER`;
:data:`uare.quality.words.NOUNS` / ``SINGLE_KINDS``; :data:`uare.quality.templates.ACTIONS` /
``PLAN_ORDER``; the plan keywords of :mod:`uare.quality.parse`; the tokenizer corpus's categories
(:mod:`uare.model.tokenizer`); ``MEAN_CHANGING`` of :mod:`uare.infer.pipeline`; the types the
``uare degrade --types`` help lists and a training source's ``extra_types`` accepts.

**The default pool.** Random draws (``single`` / ``multi`` with no type given, the curriculum,
training sources, the tokenizer corpus) index into these tables, so a new row must not join them
silently: rows marked ``default_pool=True`` are those of the first release and are the only ones
drawn by default. A new type (``default_pool=False``, the default) is applied when named
(``degrade(..., types=["salt_pepper"])``, ``uare degrade --types salt_pepper``) or drawn by a
training source that opts in (``extra_types: [salt_pepper]``, see :class:`uare.data.config.SourceConfig`);
seeded outputs of every existing pipeline and config stay bit-identical. A new category's words are
left out of the default tokenizer corpus (the shipped tokenizer splits them into existing pieces);
``train_quality_tokenizer(extra_categories=[...])`` includes them in a fresh one.

How the levels were chosen (``benchmarks/severity_table.py`` measures the PSNR of each type x level):
see each category's ``strength`` text; blur kinds are matched by kernel second moment, noise kinds
by the std of the added noise, impulse noise by PSNR against the Gaussian-noise ladder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from uare.degrade.blur import defocus_blur, gaussian_blur, motion_blur
from uare.degrade.categories import (  # noqa: F401 - re-exported: the category rows and their views
    ACTION_WORDS,
    ACTIONS,
    BLUR_SIGMAS,
    CATEGORIES,
    CATEGORY,
    CATEGORY_TABLE,
    CORPUS_CATEGORIES,
    MEAN_CHANGING,
    NOUNS,
    PLAN_ORDER,
    SINGLE_KINDS,
    STRENGTH_TABLE,
    SYNONYMS,
    Category,
)
from uare.degrade.haze import add_haze
from uare.degrade.jpeg import jpeg_compress
from uare.degrade.lowlight import lowlight, sensor_noise
from uare.degrade.noise import add_gaussian_noise, add_poisson_noise, add_salt_pepper
from uare.degrade.rain import add_rain
from uare.degrade.record import Step
from uare.degrade.resize import lowres

#: ``apply(image float32 HxWxC in [0, 1], parameters of one level, rng) -> (image, step or steps)``;
#: the draws of ``rng`` must not depend on the level (one seed: every level degrades the same pixels).
Operator = Callable[[np.ndarray, Mapping[str, float], np.random.Generator], tuple[np.ndarray, Step | list[Step]]]


@dataclass(frozen=True)
class DegradationType:
    """One type the ``single`` / ``multi`` pipelines apply at a calibrated level 1..5."""

    name: str
    category: str
    #: parameter name -> its values at levels 1..5 (passed to ``apply`` as one dict per level)
    levels: Mapping[str, tuple[float, ...]]
    apply: Operator
    #: in the default random pool (types of the first release only; see the module docstring)
    default_pool: bool = False



def _lowlight(f: np.ndarray, p: Mapping[str, float], rng: np.random.Generator) -> tuple[np.ndarray, list[Step]]:
    out, step = lowlight(f, p["exposure"], p["gamma"])
    out, noise_step = sensor_noise(out, rng=rng)
    return out, [step, noise_step]


# Rows in the order of the first release's draws: a new row goes at the end.
TYPE_TABLE: tuple[DegradationType, ...] = (
    DegradationType("blur", "blur", {"sigma": BLUR_SIGMAS},
                    lambda f, p, rng: gaussian_blur(f, p["sigma"]), default_pool=True),
    DegradationType("motion_blur", "blur", {"length": tuple(round(s * 24**0.5, 2) for s in BLUR_SIGMAS)},
                    lambda f, p, rng: motion_blur(f, p["length"], rng=rng), default_pool=True),
    DegradationType("defocus_blur", "blur", {"radius": tuple(round(2 * s, 2) for s in BLUR_SIGMAS)},
                    lambda f, p, rng: defocus_blur(f, p["radius"]), default_pool=True),
    DegradationType("noise", "noise", {"sigma": (5.0, 10.0, 15.0, 25.0, 50.0)},
                    lambda f, p, rng: add_gaussian_noise(f, p["sigma"], rng=rng), default_pool=True),
    # Poisson std is sqrt(I * 256) / 256 * scale; at mid-grey I = 0.5 that is 11.3/255 per unit scale.
    DegradationType("poisson_noise", "noise", {"scale": (0.45, 0.9, 1.35, 2.2, 4.4)},
                    lambda f, p, rng: add_poisson_noise(f, p["scale"], rng=rng), default_pool=True),
    DegradationType("jpeg", "jpeg", {"quality": (70, 50, 30, 20, 10)},
                    lambda f, p, rng: jpeg_compress(f, int(p["quality"])), default_pool=True),
    DegradationType("lowres", "lowres", {"factor": (1.5, 2.0, 3.0, 4.0, 6.0)},
                    lambda f, p, rng: lowres(f, p["factor"]), default_pool=True),
    DegradationType("lowlight", "lowlight",
                    {"exposure": (0.45, 0.3, 0.2, 0.12, 0.07), "gamma": (1.0, 1.1, 1.2, 1.3, 1.4)},
                    _lowlight, default_pool=True),
    DegradationType("haze", "haze", {"beta": (0.25, 0.5, 0.9, 1.4, 2.2)},
                    lambda f, p, rng: add_haze(f, p["beta"], rng=rng), default_pool=True),
    DegradationType("rain", "rain", {"density": (0.002, 0.004, 0.007, 0.011, 0.016), "length": (10, 14, 18, 22, 26)},
                    lambda f, p, rng: add_rain(f, p["density"], p["length"], rng=rng), default_pool=True),
    DegradationType("salt_pepper", "impulse", {"amount": (0.001, 0.005, 0.01, 0.03, 0.1)},
                    lambda f, p, rng: add_salt_pepper(f, p["amount"], rng=rng)),
)

# ---- derived views -------------------------------------------------------------------------------

#: type name -> row, in table order
TYPES: dict[str, DegradationType] = {t.name: t for t in TYPE_TABLE}
#: every type -> its category
TYPE_CATEGORY: dict[str, str] = {t.name: t.category for t in TYPE_TABLE}
#: every type -> its calibrated parameters at levels 1..5
TYPE_LEVELS: dict[str, dict[str, tuple[float, ...]]] = {t.name: dict(t.levels) for t in TYPE_TABLE}
#: the types drawn at random by default (the first release's), in table order
DEFAULT_TYPES: tuple[str, ...] = tuple(t.name for t in TYPE_TABLE if t.default_pool)
#: the types that are applied only when named or opted in
OPT_IN_TYPES: tuple[str, ...] = tuple(t.name for t in TYPE_TABLE if not t.default_pool)
#: parameters of the default types at levels 1..5 (the first release's ``SINGLE_LEVELS``)
SINGLE_LEVELS: dict[str, dict[str, tuple[float, ...]]] = {t: TYPE_LEVELS[t] for t in DEFAULT_TYPES}
#: default type -> category (the first release's ``SINGLE_CATEGORY``)
SINGLE_CATEGORY: dict[str, str] = {t: TYPE_CATEGORY[t] for t in DEFAULT_TYPES}
SINGLE_TYPES: tuple[str, ...] = DEFAULT_TYPES


def level_params(single_type: str, level: int) -> dict[str, float]:
    """The calibrated parameters of a type (any type of the table) at a level 1..5."""
    if single_type not in TYPE_LEVELS:
        raise ValueError(f"unknown degradation type {single_type!r}; choose from {', '.join(TYPE_LEVELS)}")
    if not 1 <= int(level) <= 5:
        raise ValueError(f"severity must be an integer 1..5, got {level!r}")
    return {k: v[int(level) - 1] for k, v in TYPE_LEVELS[single_type].items()}


def check_types(types: Sequence[str], what: str = "degradation type") -> None:
    """ValueError naming the unknown ones among ``types`` (and every known type)."""
    unknown = [t for t in types if t not in TYPES]
    if unknown:
        raise ValueError(f"unknown {what}(s) {', '.join(unknown)}; choose from {', '.join(TYPES)}")


def pool_types(extra: Sequence[str] = ()) -> tuple[str, ...]:
    """The types random draws choose from: the default pool plus ``extra`` types, in table order."""
    check_types(extra)
    return tuple(t.name for t in TYPE_TABLE if t.default_pool or t.name in extra)


def physical_order(types: Sequence[str]) -> tuple[str, ...]:
    """The categories of ``types``, in physical order (the categories ``multi`` draws from)."""
    cats = {TYPE_CATEGORY[t] for t in types}
    return tuple(c for c in CATEGORIES if c in cats)


def _validate() -> None:
    """Catch a malformed row at import time rather than as a wrong text much later."""
    problems = []
    for c in CATEGORY_TABLE:
        s = (c.level0, *c.levels)
        if None not in c.nouns:
            problems.append(f"category {c.name}: nouns needs a None (generic) entry")
        if not all(a < b for a, b in zip(s, s[1:], strict=False)):
            problems.append(f"category {c.name}: the strengths of levels 0..5 must increase")
        if not (c.actions and c.kinds):
            problems.append(f"category {c.name}: needs kinds and actions")
    if len({c.plan_rank for c in CATEGORY_TABLE}) != len(CATEGORY_TABLE):
        problems.append("categories need different plan ranks")
    for t in TYPE_TABLE:
        if t.category not in CATEGORY:
            problems.append(f"type {t.name}: unknown category {t.category!r}")
        if not all(len(v) == 5 for v in t.levels.values()):
            problems.append(f"type {t.name}: give 5 values (levels 1..5) per parameter")
    if len(TYPES) != len(TYPE_TABLE) or len(CATEGORY) != len(CATEGORY_TABLE):
        problems.append("two rows share a name")
    if problems:
        raise ValueError("degradation table: " + "; ".join(problems))


_validate()
