"""The degradation-type table: the one place that says what each degradation type and category is.

Two tables, read by everything else:

* :data:`CATEGORY_TABLE` -- one row per quality-language *category* (blur, noise, ...), in the
  physical order a photo acquires them: its strength scale (the strength at level 0 and at levels
  1..5), the kinds its steps carry, its nouns (``<severity word> <noun>`` in the texts) and the
  extra nouns accepted when reading, its restore-plan phrasings and the keywords that read them
  back, its place in the restore plan, and whether removing it changes the image's mean colour.
* :data:`TYPE_TABLE` -- one row per *type* a pipeline can apply (``blur``, ``motion_blur``, ...):
  its category, its calibrated parameters at levels 1..5 and the operator that applies them.

Derived from them (old names kept as views so imports keep working):
:data:`uare.degrade.severity.STRENGTH_TABLE`, ``SINGLE_LEVELS``, ``SINGLE_CATEGORY``, ``SINGLE_TYPES``;
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
from dataclasses import dataclass, field

import numpy as np

from uare.degrade.blur import defocus_blur, gaussian_blur, motion_blur
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
class Category:
    """One category of the quality language (see the module docstring for how each field is used)."""

    name: str
    #: what the scalar strength measures (severity 0..5 is interpolated piecewise-linearly in it)
    strength: str
    #: strength below which the effect is invisible (severity 0)
    level0: float
    #: strength at the calibrated levels 1..5, increasing
    levels: tuple[float, float, float, float, float]
    #: every kind a step of this category may carry; a category with one kind names it by its noun
    kinds: tuple[str, ...]
    #: kind -> noun written in texts; the ``None`` entry is the noun for any other kind (required)
    nouns: Mapping[str | None, str]
    #: restore-plan phrasings (``{noun}``: the noun of the image's kind, ``{scale}``: the SR factor)
    actions: tuple[str, ...]
    #: regex (case-insensitive) of the plan keywords that read the phrasings back; must not match
    #: another category's phrasings (``tests/test_quality.py`` checks every phrasing)
    action_words: str
    #: position in the restore plan (ascending); the physical order is the table's row order
    plan_rank: int
    #: extra nouns accepted when reading (never written) -> the kind they name (None: generic)
    synonyms: Mapping[str, str | None] = field(default_factory=dict)
    #: removing it changes the image's mean colour (restoration then skips the colour fix)
    changes_mean: bool = False
    #: drawn by the tokenizer corpus by default (categories of the first release only)
    default_pool: bool = False


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


_BLUR_SIGMAS = (0.8, 1.4, 2.0, 2.8, 3.6)

# Rows in the physical order a photo acquires the degradations: the scene (rain, haze), the lens
# (blur), the sampling (resolution), the exposure and the sensor (low light, noise, impulses),
# ringing from sharpening / resampling filters, the codec (JPEG).
#
# Restore-plan order (plan_rank): impulses -> rain -> haze -> low light -> noise -> JPEG -> ringing
# -> blur -> upscale. Impulses go first: black and white outliers bias every later estimate (a
# pepper pixel zeroes the dark channel of a dehazer; salt looks like rain). Rain and haze cover the
# whole scene and bias any noise or blur estimate made through them. Brightening comes before
# denoising so that the denoiser sees the noise at the level it will finally have. Noise, blocking
# and ringing are removed before deblurring, because deconvolution amplifies exactly those
# high-frequency errors. Upscaling is last: every clean-up runs at the cheaper low resolution.
CATEGORY_TABLE: tuple[Category, ...] = (
    Category(
        "rain", "the fraction of pixels that seed a streak", 0.0, (0.002, 0.004, 0.007, 0.011, 0.016),
        kinds=("streaks",), nouns={None: "rain streaks"}, synonyms={"rain": "streaks"},
        actions=("remove the rain streaks", "derain the scene", "erase the rain", "clear away the rain streaks",
                 "take out the rain"),
        action_words=r"\b(?:de)?rain", plan_rank=10, default_pool=True,
    ),
    Category(
        "haze", "the scattering coefficient beta of I = J t + A (1 - t), t = exp(-beta d), d in [0.25, 1]",
        0.0, (0.25, 0.5, 0.9, 1.4, 2.2),
        kinds=("atmospheric",), nouns={None: "haze"},
        actions=("dehaze", "remove the haze", "lift the haze and recover contrast", "clear the haze",
                 "dehaze the scene to recover contrast"),
        action_words=r"haz", plan_rank=20, changes_mean=True, default_pool=True,
    ),
    Category(
        "blur", "the kernel's effective sigma, sqrt((var_x + var_y) / 2) of its normalised second moments, so "
        "Gaussian, motion and defocus kernels of equal level spread light equally (motion length L has sigma "
        "L / sqrt(24); a disk of radius r has sigma r / 2)", 0.3, _BLUR_SIGMAS,
        kinds=("gaussian", "motion", "defocus", "generalized", "plateau"),
        nouns={"gaussian": "Gaussian blur", "motion": "motion blur", "defocus": "defocus blur", None: "blur"},
        actions=("deblur", "remove the {noun}", "sharpen the details", "deblur the image", "correct the {noun}"),
        action_words=r"blur|sharpen", plan_rank=70, default_pool=True,
    ),
    Category(
        "lowres", "the largest down-scaling factor the image went through (resolution that was lost)",
        1.0, (1.5, 2.0, 3.0, 4.0, 6.0),
        kinds=("downsample",), nouns={None: "low resolution"},
        actions=("upscale ×{scale}", "super-resolve by a factor of {scale}", "upscale the image {scale}×",
                 "increase the resolution {scale}×", "upsample {scale}x to the target size"),
        action_words=r"upscal|super-?resol|upsampl|resolution|enlarg", plan_rank=80, default_pool=True,
    ),
    Category(
        "lowlight", "stops of darkening, -log2(exposure) + 2 * (gamma - 1)", 0.0, (1.15, 1.94, 2.72, 3.66, 4.64),
        kinds=("exposure",), nouns={None: "underexposure"}, synonyms={"low light": "exposure"},
        actions=("brighten the image", "correct the underexposure", "raise the exposure",
                 "lift the shadows and brighten", "enhance the low-light exposure"),
        action_words=r"bright|underexpos|exposure|low-?light|shadows", plan_rank=30, changes_mean=True,
        default_pool=True,
    ),
    Category(
        "noise", "the standard deviation of the added noise in 0-255 units (Gaussian sigma; for Poisson and "
        "sensor noise the measured std); sigma 15/25/50 are the classical denoising levels 3/4/5",
        1.0, (5.0, 10.0, 15.0, 25.0, 50.0),
        kinds=("gaussian", "poisson", "sensor"),
        nouns={"gaussian": "Gaussian noise", "poisson": "Poisson noise", "sensor": "sensor noise", None: "noise"},
        synonyms={"shot noise": "poisson"},
        actions=("denoise", "remove the {noun}", "suppress the {noun}", "reduce the {noun} while keeping texture",
                 "denoise the image"),
        action_words=r"nois", plan_rank=40, default_pool=True,
    ),
    Category(
        "impulse", "the fraction of pixels set to black or white; levels 0.1/0.5/1/3/10 % match the PSNR of "
        "Gaussian noise sigma 5/10/15/25/50 within 1 dB (CBSD68)", 0.0001, (0.001, 0.005, 0.01, 0.03, 0.1),
        kinds=("salt_pepper",), nouns={None: "salt-and-pepper noise"},
        synonyms={"salt and pepper noise": "salt_pepper", "impulse noise": "salt_pepper"},
        # no "noise" in these phrasings: the noise category's keyword would claim them too
        actions=("remove the salt-and-pepper specks", "median-filter the impulse pixels",
                 "clean out the salt-and-pepper dots", "filter out the impulse outliers",
                 "replace the salt-and-pepper pixels by their neighbours"),
        action_words=r"salt|pepper|impulse", plan_rank=5,
    ),
    Category(
        "ringing", "pi / omega_c of the 2-D sinc filter (a lower cut-off rings more and wider)",
        1.05, (1.3, 1.7, 2.3, 3.2, 4.5),
        kinds=("sinc",), nouns={None: "ringing artifacts"}, synonyms={"ringing": "sinc"},
        actions=("remove the ringing artifacts", "suppress the ringing", "clean the halos around edges",
                 "remove ringing and overshoot", "suppress the ringing halos"),
        action_words=r"ringing|halo|overshoot", plan_rank=60, default_pool=True,
    ),
    Category(
        "jpeg", "100 - quality", 5.0, (30.0, 50.0, 70.0, 80.0, 90.0),
        kinds=("jpeg",), nouns={None: "JPEG compression artifacts"},
        synonyms={"JPEG artifacts": "jpeg", "compression artifacts": "jpeg"},
        actions=("remove the JPEG compression artifacts", "undo the JPEG blocking", "clean up compression artifacts",
                 "deblock the image", "remove JPEG artifacts"),
        action_words=r"jpeg|compress|deblock|blocking", plan_rank=50, default_pool=True,
    ),
)


def _lowlight(f: np.ndarray, p: Mapping[str, float], rng: np.random.Generator) -> tuple[np.ndarray, list[Step]]:
    out, step = lowlight(f, p["exposure"], p["gamma"])
    out, noise_step = sensor_noise(out, rng=rng)
    return out, [step, noise_step]


# Rows in the order of the first release's draws: a new row goes at the end.
TYPE_TABLE: tuple[DegradationType, ...] = (
    DegradationType("blur", "blur", {"sigma": _BLUR_SIGMAS},
                    lambda f, p, rng: gaussian_blur(f, p["sigma"]), default_pool=True),
    DegradationType("motion_blur", "blur", {"length": tuple(round(s * 24**0.5, 2) for s in _BLUR_SIGMAS)},
                    lambda f, p, rng: motion_blur(f, p["length"], rng=rng), default_pool=True),
    DegradationType("defocus_blur", "blur", {"radius": tuple(round(2 * s, 2) for s in _BLUR_SIGMAS)},
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

#: category name -> row, in physical order
CATEGORY: dict[str, Category] = {c.name: c for c in CATEGORY_TABLE}
#: type name -> row, in table order
TYPES: dict[str, DegradationType] = {t.name: t for t in TYPE_TABLE}
#: every category of the quality language, in physical order
CATEGORIES: tuple[str, ...] = tuple(CATEGORY)
#: every type -> its category
TYPE_CATEGORY: dict[str, str] = {t.name: t.category for t in TYPE_TABLE}
#: every type -> its calibrated parameters at levels 1..5
TYPE_LEVELS: dict[str, dict[str, tuple[float, ...]]] = {t.name: dict(t.levels) for t in TYPE_TABLE}
#: the types drawn at random by default (the first release's), in table order
DEFAULT_TYPES: tuple[str, ...] = tuple(t.name for t in TYPE_TABLE if t.default_pool)
#: the types that are applied only when named or opted in
OPT_IN_TYPES: tuple[str, ...] = tuple(t.name for t in TYPE_TABLE if not t.default_pool)
#: categories the tokenizer corpus draws by default, in physical order
CORPUS_CATEGORIES: tuple[str, ...] = tuple(c.name for c in CATEGORY_TABLE if c.default_pool)

#: category -> (strength at level 0, strengths at levels 1..5)
STRENGTH_TABLE: dict[str, tuple[float, tuple[float, float, float, float, float]]] = {
    c.name: (c.level0, c.levels) for c in CATEGORY_TABLE
}
#: parameters of the default types at levels 1..5 (the first release's ``SINGLE_LEVELS``)
SINGLE_LEVELS: dict[str, dict[str, tuple[float, ...]]] = {t: TYPE_LEVELS[t] for t in DEFAULT_TYPES}
#: default type -> category (the first release's ``SINGLE_CATEGORY``)
SINGLE_CATEGORY: dict[str, str] = {t: TYPE_CATEGORY[t] for t in DEFAULT_TYPES}
SINGLE_TYPES: tuple[str, ...] = DEFAULT_TYPES

#: order in which the restore plan removes degradations
PLAN_ORDER: tuple[str, ...] = tuple(c.name for c in sorted(CATEGORY_TABLE, key=lambda c: c.plan_rank))
#: categories whose removal changes the mean colour
MEAN_CHANGING: frozenset[str] = frozenset(c.name for c in CATEGORY_TABLE if c.changes_mean)
#: (category, kind) -> noun; ``kind=None`` is the fallback for the category
NOUNS: dict[tuple[str, str | None], str] = {(c.name, k): n for c in CATEGORY_TABLE for k, n in c.nouns.items()}
#: the one kind of single-kind categories: their noun identifies the kind too
SINGLE_KINDS: dict[str, str] = {c.name: c.kinds[0] for c in CATEGORY_TABLE if len(c.kinds) == 1}
#: extra nouns accepted when reading -> (category, kind)
SYNONYMS: dict[str, tuple[str, str | None]] = {w: (c.name, k) for c in CATEGORY_TABLE for w, k in c.synonyms.items()}
#: category -> restore-plan phrasings
ACTIONS: dict[str, tuple[str, ...]] = {c.name: c.actions for c in sorted(CATEGORY_TABLE, key=lambda c: c.plan_rank)}
#: category -> regex source of its plan keywords
ACTION_WORDS: dict[str, str] = {c.name: c.action_words for c in sorted(CATEGORY_TABLE, key=lambda c: c.plan_rank)}


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
