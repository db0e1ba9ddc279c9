"""Seeded template pools that turn a :class:`QualitySummary` into text.

Every generator takes a ``numpy.random.Generator``: the same seed gives the same text, different
seeds vary the phrasing (at least five phrasings per slot). The fixed vocabulary (level words,
``X.XX/5`` scores, ``<severity word> <noun>``, the four analysis headers, numbered plan items) is
what :mod:`uare.quality.parse` reads back; only the glue around it varies.

Restoration order of the enhancement plan (:data:`PLAN_ORDER`, each category's ``plan_rank`` in
:data:`uare.degrade.types.CATEGORY_TABLE`, which also holds every category's plan phrasings):
impulses -> rain -> haze -> low light -> noise -> JPEG -> ringing -> blur -> upscale.

* Impulse (salt-and-pepper) outliers go first: they bias every later estimate.
* Rain and haze come next: they cover the whole scene and bias any noise or blur estimate made
  through them.
* Brightening comes before denoising so that the denoiser sees (and removes) the noise at the
  level it will finally have; brightening afterwards would amplify the residual noise.
* Noise, blocking and ringing are removed before deblurring, because deconvolution amplifies
  exactly those high-frequency errors.
* Upscaling is last: every clean-up runs at the cheaper low resolution and no artifact is
  magnified by the upscaler.
"""

from __future__ import annotations

import numpy as np

from uare.degrade.types import ACTIONS, PLAN_ORDER
from uare.quality.summary import QualitySummary, summary_from_severities
from uare.quality.words import noun
from uare.tasks import INSTRUCTION_POOLS, RESTORE_TASKS, TASK_CATEGORY

#: Tasks an instruction can ask for (the instruction pools; :mod:`uare.tasks` is the task table).
#: ``assess`` and ``compare`` are IQA only.
TASKS: tuple[str, ...] = INSTRUCTION_POOLS
# PLAN_ORDER (order in which the plan removes degradations, see the module docstring) and ACTIONS
# (category -> plan phrasings) are views of the degradation table, imported above.
#: The four headers of an analysis, one part per line, in this order.
HEADERS: tuple[str, ...] = ("User intent:", "Quality analysis:", "Enhancement plan:", "Expected result:")

# ---------------------------------------------------------------------------------------------
# Pools. Placeholders: {scale}, {level}, {a_level} ("a good"/"an excellent"), {score} ("3.41"),
# {defects} ("moderate motion blur and slight Gaussian noise"), {noun}, {p}/{o} ("first"/"second").
# The keywords each phrasing uses are the ones uare.quality.parse classifies by; keep them apart.
# ---------------------------------------------------------------------------------------------

INSTRUCTIONS: dict[str, tuple[str, ...]] = {
    "auto": (
        "Assess this photo and restore it.",
        "First briefly analyse the defects and the target appearance, list the processing steps, "
        "then return the improved image.",
        "Please improve the quality of this image.",
        "Restore this picture to the best quality you can.",
        "Analyse what is wrong with this image and fix it.",
        "Enhance this photo.",
        "Evaluate the image quality, then restore the image.",
    ),
    "sr": (
        "Upscale this image {scale}x.",
        "Super-resolve this photo by a factor of {scale}.",
        "Increase the resolution of this picture {scale}×.",
        "Make this image {scale} times larger while keeping the details.",
        "Please upsample this low-resolution image by {scale}x.",
        "Enlarge this photo {scale}× with crisp detail.",
    ),
    "denoise": (
        "Remove the noise from this image.",
        "Denoise this photo.",
        "Please clean up the grain in this picture.",
        "This image is noisy; make it smooth.",
        "Reduce the noise in this photo without losing detail.",
    ),
    "deblur": (
        "Deblur this image.",
        "Sharpen this blurry photo.",
        "Remove the blur from this picture.",
        "This photo is out of focus; please fix it.",
        "Undo the camera shake in this image.",
    ),
    "jpeg": (
        "Remove the JPEG artifacts from this image.",
        "Fix the compression artifacts in this photo.",
        "Clean up the blocky JPEG compression in this picture.",
        "This image was heavily compressed; restore it.",
        "Remove the blocking from this JPEG.",
    ),
    "lowlight": (
        "Brighten this photo.",
        "This picture is too dark; please enhance it.",
        "Fix the underexposure of this image.",
        "Enhance this low-light photo.",
        "Improve the lighting of this dark image.",
    ),
    "dehaze": (
        "Dehaze this image.",
        "Remove the haze from this photo.",
        "Clear the fog in this picture.",
        "This photo looks hazy; make it clear.",
        "Remove the mist and recover the contrast.",
    ),
    "derain": (
        "Derain this image.",
        "Remove the rain streaks from this photo.",
        "Get rid of the rain in this picture.",
        "This photo was taken in the rain; clean it up.",
        "Erase the raindrops and rain streaks.",
    ),
    "assess": (
        "Rate the quality of this image.",
        "How would you rate the quality of this image?",
        "Describe the quality of this photo.",
        "What is the quality of this picture? Give a score.",
        "Evaluate this image's quality and list its distortions.",
        "Can you judge the quality of this photo?",
    ),
    "compare": (
        "Which of these two images has better quality?",
        "Compare the quality of the two images.",
        "Is the first image or the second image of higher quality?",
        "Compare these two photos and tell me which one looks better.",
        "Between image A and image B, which is of better quality?",
    ),
}

# Super-resolution at scale 1 (the Real-ESRGAN pipelines resize back): no factor to state.
SR_SAME_SIZE_INSTRUCTIONS: tuple[str, ...] = (
    "Recover the fine detail of this low-resolution image at the same size.",
    "Super-resolve this photo without changing its size.",
    "Restore the resolution of this picture, keeping its size.",
    "This image looks upsampled and soft; recover the lost resolution.",
    "Improve the resolution of this photo at its current size.",
)

INTENTS: dict[str, tuple[str, ...]] = {
    "auto": (
        "The user wants the image assessed and fully restored.",
        "A general restoration: assess the photo and fix every visible defect.",
        "The user asks for an overall quality check followed by restoration.",
        "Improve the image as much as possible, whatever its defects are.",
        "Analyse the image and return an enhanced version.",
    ),
    "sr": (
        "The user wants the image upscaled {scale}×.",
        "Super-resolution by a factor of {scale}.",
        "Increase the resolution {scale}×.",
        "The request is to enlarge the image {scale} times.",
        "Upscale {scale}x while keeping detail natural.",
    ),
    "denoise": (
        "The user wants the noise removed.",
        "Denoising is requested.",
        "Reduce noise and keep the texture.",
        "The request is a noise-free version of the photo.",
        "Remove the grain from the photo.",
    ),
    "deblur": (
        "The user wants the image deblurred.",
        "Sharpen the photo.",
        "Remove the blur and recover crisp edges.",
        "The request is to undo the blur.",
        "Deblurring is requested.",
    ),
    "jpeg": (
        "The user wants JPEG artifacts removed.",
        "Remove the compression artifacts.",
        "Undo the blocking from JPEG compression.",
        "JPEG artifact removal is requested.",
        "Clean up the compression damage.",
    ),
    "lowlight": (
        "The user wants the photo brightened.",
        "Low-light enhancement is requested.",
        "Fix the underexposure.",
        "Brighten the dark image naturally.",
        "Correct the exposure of the dark photo.",
    ),
    "dehaze": (
        "The user wants the haze removed.",
        "Dehazing is requested.",
        "Clear the haze and recover contrast.",
        "Remove the fog-like veil.",
        "The request is a haze-free image.",
    ),
    "derain": (
        "The user wants the rain removed.",
        "Deraining is requested.",
        "Remove the rain streaks.",
        "Erase the rain from the scene.",
        "The request is a rain-free image.",
    ),
}

SR_SAME_SIZE_INTENTS: tuple[str, ...] = (
    "The user wants the lost resolution recovered at the same size.",
    "Super-resolution without resizing.",
    "Restore the resolution, keeping the size.",
    "The request is to recover fine detail lost to low resolution.",
    "Improve the resolution at the current size.",
)

QUALITY: tuple[str, ...] = (
    "The image quality is {level} ({score}/5); it suffers from {defects}.",
    "Overall quality: {level}, {score}/5. Visible defects: {defects}.",
    "I rate this image {level} at {score}/5, mainly because of {defects}.",
    "This is {a_level}-quality image ({score}/5) showing {defects}.",
    "Quality looks {level}, about {score}/5, with {defects}.",
    "Score {score}/5 ({level}): the image is degraded by {defects}.",
)
QUALITY_CLEAN: tuple[str, ...] = (
    "The image quality is {level} ({score}/5); no visible degradation.",
    "Overall quality: {level}, {score}/5. No visible defects.",
    "I rate this image {level} at {score}/5; it looks clean.",
    "This is {a_level}-quality image ({score}/5) with no visible distortion.",
    "Quality looks {level}, about {score}/5, and nothing needs fixing.",
)

LOWRES_SAME_SIZE_ACTIONS: tuple[str, ...] = (
    "recover the lost resolution",
    "restore fine detail lost to low resolution",
    "super-resolve at the same size",
    "refine the low-resolution detail",
    "recover resolution at the original size",
)
NO_ACTIONS: tuple[str, ...] = (
    "keep the image unchanged",
    "no restoration needed",
    "leave the image as it is",
    "return the image unchanged",
    "nothing to fix; output the input as is",
)
PLAN_INTROS: tuple[str, ...] = ("", "In order: ", "Steps: ", "Proceed as follows: ", "Restoration order: ")

EXPECTED: tuple[str, ...] = (
    "The output should be {level} quality, around {score}/5.",
    "A clean, natural image of {level} quality ({score}/5).",
    "Expected quality: {level}, about {score}/5.",
    "After restoration the image should reach {level} ({score}/5).",
    "Target: {level} quality at roughly {score}/5, free of the treated defects.",
)

DESCRIPTION: tuple[str, ...] = (
    "The quality of this image is {level} ({score}/5). It shows {defects}.",
    "Quality: {level}, {score}/5. Main distortions: {defects}.",
    "This image has {level} quality, scoring {score}/5, due to {defects}.",
    "I would rate it {level} ({score}/5); it is affected by {defects}.",
    "Overall {a_level} image at {score}/5 with {defects}.",
)
DESCRIPTION_CLEAN: tuple[str, ...] = (
    "The quality of this image is {level} ({score}/5). It shows no visible distortion.",
    "Quality: {level}, {score}/5. No visible distortions.",
    "This image has {level} quality, scoring {score}/5, with no visible defects.",
    "I would rate it {level} ({score}/5); it looks clean.",
    "Overall {a_level} image at {score}/5, free of visible degradation.",
)

VERDICTS: tuple[str, ...] = (
    "The {p} image is better ({ps}/5 vs {os}/5)",
    "The {p} image has higher quality ({ps}/5 against {os}/5)",
    "I prefer the {p} image ({ps}/5 vs {os}/5)",
    "The {p} one looks better, scoring {ps}/5 versus {os}/5",
    "Quality favours the {p} image ({ps}/5 over {os}/5)",
)
#: |score difference| below which two images are called a tie.
TIE_MARGIN = 0.05
TIE_VERDICTS: tuple[str, ...] = (
    "Both images have about the same quality ({fs}/5 and {ss}/5)",
    "The two images are roughly equal in quality ({fs}/5 vs {ss}/5)",
    "Neither image is clearly better ({fs}/5 and {ss}/5)",
    "The images are tied ({fs}/5 and {ss}/5)",
    "The two images have similar quality ({fs}/5 vs {ss}/5)",
)
PREFERRED_CLAUSES: tuple[str, ...] = (
    "it shows {defects}",
    "it has {defects}",
    "it is affected by {defects}",
    "its defects are limited to {defects}",
    "it only has {defects}",
)
PREFERRED_CLEAN: tuple[str, ...] = (
    "it shows no visible degradation",
    "it looks clean",
    "it has no visible defects",
    "it is free of visible distortion",
    "it is clean",
)
OTHER_CLAUSES: tuple[str, ...] = (
    "the {o} suffers from {defects}",
    "the {o} shows {defects}",
    "the {o} is degraded by {defects}",
    "the {o} has {defects}",
    "the {o} image is marred by {defects}",
)
OTHER_CLEAN: tuple[str, ...] = (
    "the {o} shows no visible defect",
    "the {o} looks clean",
    "the {o} has no visible degradation",
    "the {o} image is clean",
    "the {o} is free of visible distortion",
)
CONNECTORS: tuple[str, ...] = (
    ", while ",
    ", whereas ",
    "; in contrast, ",
    "; meanwhile, ",
    "; by contrast, ",
)


def _pick(rng: np.random.Generator, pool: tuple[str, ...]) -> str:
    return pool[int(rng.integers(len(pool)))]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def join_phrases(items: list[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _a(level: str) -> str:
    return ("an " if level[0] in "aeiou" else "a ") + level


def defect_phrases(summary: QualitySummary) -> list[str]:
    """``"<severity word> <noun>"`` for every listed degradation, in physical order."""
    return [f"{word} {noun(cat, kind)}" for cat, kind, word in summary.degradations]


def _check_task(task: str, allowed: tuple[str, ...]) -> None:
    if task not in allowed:
        raise ValueError(f"unknown task {task!r}; expected one of {allowed}")


def instruction(task: str, rng: np.random.Generator, scale: int = 4) -> str:
    """A user instruction for ``task`` (one of :data:`TASKS`); ``scale`` is used by ``"sr"``."""
    _check_task(task, TASKS)
    if task == "sr" and scale == 1:
        return _pick(rng, SR_SAME_SIZE_INSTRUCTIONS)
    return _pick(rng, INSTRUCTIONS[task]).format(scale=scale)


def plan_categories(summary: QualitySummary, task: str = "auto") -> list[str]:
    """Categories the enhancement plan treats, in :data:`PLAN_ORDER`.

    ``auto`` treats every listed degradation, plus an upscale whenever ``scale > 1``; a
    single-purpose task treats only its own category (the analysis still reports all defects).
    """
    _check_task(task, RESTORE_TASKS)
    if task != "auto":
        return [TASK_CATEGORY[task]]
    present = set(summary.categories())
    if summary.scale > 1:
        present.add("lowres")
    return [c for c in PLAN_ORDER if c in present]


def expected_summary(summary: QualitySummary, task: str = "auto") -> QualitySummary:
    """Default expected result: the summary with the planned categories removed (clean for ``auto``)."""
    treated = set(plan_categories(summary, task))
    rest = {c: s for c, s in summary.severities.items() if c not in treated}
    return summary_from_severities(rest, summary.kinds, 1)


def _action(category: str, summary: QualitySummary, rng: np.random.Generator) -> str:
    if category == "lowres" and summary.scale == 1:
        return _pick(rng, LOWRES_SAME_SIZE_ACTIONS)
    return _pick(rng, ACTIONS[category]).format(
        noun=noun(category, summary.kinds.get(category)), scale=summary.scale
    )


def analysis_text(
    summary: QualitySummary,
    rng: np.random.Generator,
    task: str = "auto",
    expected: QualitySummary | None = None,
) -> str:
    """The four-part analysis (intent, quality, plan, expected result), one part per line.

    ``expected`` defaults to :func:`expected_summary` (``excellent``, 5.00/5 for ``auto``).
    """
    _check_task(task, RESTORE_TASKS)
    if task == "sr" and summary.scale == 1:
        intent = _pick(rng, SR_SAME_SIZE_INTENTS)
    else:
        intent = _pick(rng, INTENTS[task]).format(scale=summary.scale)

    defects = defect_phrases(summary)
    fields = {"level": summary.level, "a_level": _a(summary.level), "score": f"{summary.score:.2f}"}
    if defects:
        quality = _pick(rng, QUALITY).format(defects=join_phrases(defects), **fields)
    else:
        quality = _pick(rng, QUALITY_CLEAN).format(**fields)

    cats = plan_categories(summary, task)
    actions = [_action(c, summary, rng) for c in cats] or [_pick(rng, NO_ACTIONS)]
    intro = _pick(rng, PLAN_INTROS)
    items = "; ".join(f"{i}. {a}" for i, a in enumerate(actions, 1))
    plan = f"{intro}{items}."

    exp = expected if expected is not None else expected_summary(summary, task)
    result = _pick(rng, EXPECTED).format(level=exp.level, score=f"{exp.score:.2f}")
    parts = (intent, _cap(quality), plan, result)
    return "\n".join(f"{h} {p}" for h, p in zip(HEADERS, parts, strict=True))


def description_text(summary: QualitySummary, rng: np.random.Generator) -> str:
    """A short IQA description: level, ``X.XX/5`` score and the listed degradations."""
    fields = {"level": summary.level, "a_level": _a(summary.level), "score": f"{summary.score:.2f}"}
    defects = defect_phrases(summary)
    if defects:
        return _pick(rng, DESCRIPTION).format(defects=join_phrases(defects), **fields)
    return _pick(rng, DESCRIPTION_CLEAN).format(**fields)


def _clause(
    summary: QualitySummary,
    rng: np.random.Generator,
    pool: tuple[str, ...],
    clean_pool: tuple[str, ...],
    other: str,
) -> str:
    defects = defect_phrases(summary)
    if defects:
        return _pick(rng, pool).format(defects=join_phrases(defects), o=other)
    return _pick(rng, clean_pool).format(o=other)


def comparison_text(first: QualitySummary, second: QualitySummary, rng: np.random.Generator) -> str:
    """Which of two images is better, with both scores and each image's defects.

    ``"<verdict>: <clause about the preferred image><connector><clause about the other>."``; when
    the scores differ by less than :data:`TIE_MARGIN` the verdict is a tie and the clauses follow
    the first/second order.
    """
    fs, ss = f"{first.score:.2f}", f"{second.score:.2f}"
    if abs(first.score - second.score) < TIE_MARGIN:
        verdict = _pick(rng, TIE_VERDICTS).format(fs=fs, ss=ss)
        a = _clause(first, rng, OTHER_CLAUSES, OTHER_CLEAN, "first")
        b = _clause(second, rng, OTHER_CLAUSES, OTHER_CLEAN, "second")
    else:
        first_wins = first.score > second.score
        p, o = ("first", "second") if first_wins else ("second", "first")
        best, worst = (first, second) if first_wins else (second, first)
        verdict = _pick(rng, VERDICTS).format(p=p, ps=f"{best.score:.2f}", os=f"{worst.score:.2f}")
        a = _clause(best, rng, PREFERRED_CLAUSES, PREFERRED_CLEAN, o)
        b = _clause(worst, rng, OTHER_CLAUSES, OTHER_CLEAN, o)
    return f"{verdict}: {a}{_pick(rng, CONNECTORS)}{b}."
