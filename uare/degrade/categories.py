"""The quality language's categories: one row each (blur, noise, ...), pure data, below the operators.

Each row holds a category's strength scale (the strength at level 0 and at levels 1..5), the kinds its
steps carry, its nouns (``<severity word> <noun>`` in the texts) and the extra nouns accepted when
reading, its restore-plan phrasings and the keywords that read them back, its place in the restore
plan, and whether removing it changes the image's mean colour. The operators (:mod:`uare.degrade.blur`,
...) grade what they apply by these rows (:func:`uare.degrade.severity.severity_from_strength`), and the
type table (:mod:`uare.degrade.types`), which names the operators, imports them: no import circle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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


#: Gaussian sigmas of the blur levels 1..5 (the motion lengths and defocus radii of the type table match
#: their second moment)
BLUR_SIGMAS = (0.8, 1.4, 2.0, 2.8, 3.6)

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
        "L / sqrt(24); a disk of radius r has sigma r / 2)", 0.3, BLUR_SIGMAS,
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


# ---- derived views -------------------------------------------------------------------------------

#: category name -> row, in physical order
CATEGORY: dict[str, Category] = {c.name: c for c in CATEGORY_TABLE}
#: every category of the quality language, in physical order
CATEGORIES: tuple[str, ...] = tuple(CATEGORY)
#: categories the tokenizer corpus draws by default, in physical order
CORPUS_CATEGORIES: tuple[str, ...] = tuple(c.name for c in CATEGORY_TABLE if c.default_pool)
#: category -> (strength at level 0, strengths at levels 1..5)
STRENGTH_TABLE: dict[str, tuple[float, tuple[float, float, float, float, float]]] = {
    c.name: (c.level0, c.levels) for c in CATEGORY_TABLE
}
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

