"""The texts inference puts into the sequences of :mod:`uare.data.sequence`: its requests and the
fixed starts of its answers.

Inference uses the first phrasing of each pool (deterministic); training draws from the same pools
(:func:`uare.quality.instruction`), so every request inference makes is one the model was trained on.
"""

from __future__ import annotations

import numpy as np

from uare.degrade.types import ACTIONS, PLAN_ORDER
from uare.quality import HEADERS, LEVELS, SCORE_QUESTION, instruction
from uare.quality.templates import (
    DESCRIPTION,
    DESCRIPTION_CLEAN,
    INTENTS,
    LOWRES_SAME_SIZE_ACTIONS,
    NO_ACTIONS,
    QUALITY,
    QUALITY_CLEAN,
    SR_SAME_SIZE_INTENTS,
    VERDICTS,
    join_phrases,
)
from uare.quality.words import noun
from uare.tasks import RESTORE_TASKS as _TASKS
from uare.tasks import TASK_CATEGORY, check_task

#: Prefix of the Q-Align-style answer; the next word is one of the five level words.
SCORE_PREFIX = "The quality of the image is"

#: Tasks a restoration can be asked for (:mod:`uare.tasks`); ``auto`` lets the analysis decide.
RESTORE_TASKS = _TASKS


def score_answer_prefix() -> str:
    return SCORE_PREFIX


def level_words() -> tuple[str, ...]:
    """The five level words, worst first (their scores are 1..5)."""
    return tuple(LEVELS)


def score_question() -> str:
    """The fixed question before a Q-Align-style score answer."""
    return SCORE_QUESTION


def describe_instruction(rng: np.random.Generator | None = None) -> str:
    """An ``assess`` request, answered by a quality description."""
    return instruction("assess", rng if rng is not None else np.random.default_rng(0))


def compare_instruction(rng: np.random.Generator | None = None) -> str:
    return instruction("compare", rng if rng is not None else np.random.default_rng(0))


def restore_instruction(task: str, scale: int = 1, rng: np.random.Generator | None = None) -> str:
    """The user's request for ``task`` (an ``sr`` request names the scale)."""
    check_task(task)
    return instruction(task, rng if rng is not None else np.random.default_rng(0), scale=max(scale, 2))


def _shared_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _fields(level: str, score: float) -> dict[str, str]:
    return {"level": level, "a_level": ("an " if level[0] in "aeiou" else "a ") + level, "score": f"{score:.2f}"}


def description_prefix(level: str, score: float) -> str:
    """The start of a description that states ``level`` and ``score``, shared by its clean and degraded
    phrasings (the first of each pool), so the model writes only the rest and the text cannot disagree
    with the printed score: ``"The quality of this image is good (3.71/5). It shows"``."""
    f = _fields(level, score)
    return _shared_prefix(DESCRIPTION[0].format(defects="\0", **f), DESCRIPTION_CLEAN[0].format(**f)).rstrip()


def _defects(degradations: list[dict[str, str]]) -> str:
    """``"strong Gaussian noise and mild blur"``: the entries' ``<severity word> <noun>`` phrases, joined."""
    return join_phrases([f"{d['severity']} {noun(d['type'], d.get('kind'))}" for d in degradations])


def description_from(level: str, score: float, degradations: list[dict[str, str]]) -> str:
    """A description in the first phrasing of its pool (the one :func:`description_prefix` starts),
    stating ``level``, ``score`` and the ``degradations`` entries (``type``, ``severity``, optional ``kind``)."""
    f = _fields(level, score)
    if degradations:
        return DESCRIPTION[0].format(defects=_defects(degradations), **f)
    return DESCRIPTION_CLEAN[0].format(**f)


def _intent(task: str, scale: int) -> str:
    """The intent line of ``task`` (super-resolution at scale 1: the same-size phrasing, as in training)."""
    if task == "sr" and scale == 1:
        return SR_SAME_SIZE_INTENTS[0]
    return INTENTS[task][0].format(scale=max(scale, 2))


def analysis_prefix(task: str, level: str, score: float, scale: int = 1) -> str:
    """The start of a four-part analysis up to the stated score: the intent line of ``task`` and
    ``"Quality analysis: The image quality is <level> (<score>/5);"`` (see :func:`description_prefix`)."""
    check_task(task)
    intent = _intent(task, scale)
    f = _fields(level, score)
    quality = _shared_prefix(QUALITY[0].format(defects="\0", **f), QUALITY_CLEAN[0].format(**f)).rstrip()
    return f"{HEADERS[0]} {intent}\n{HEADERS[1]} {quality}"


def plan_steps(task: str, found: list[str], scale: int = 1) -> list[str]:
    """The categories a restoration's plan treats, in restoration order (``PLAN_ORDER``): a named task's
    own category (as the training plans of single-purpose tasks), or in blind mode (``auto``) the
    ``found`` ones; plus the upscale whenever ``scale`` > 1. At scale 1 the ``lowres`` step is written
    as a same-size one ("recover the lost resolution"), never as an upscale."""
    check_task(task)
    cats = {TASK_CATEGORY[task]} if task != "auto" else set(found)
    if scale > 1:
        cats.add("lowres")
    return [c for c in PLAN_ORDER if c in cats]


def analysis_from_assessment(task: str, level: str, score: float, degradations: list[dict[str, str]],
                             scale: int = 1, untreated: set[str] | frozenset[str] = frozenset()) -> str:
    """The analysis of a restoration up to ``"Expected result:"``, written from its assessment: the intent
    line of ``task``, the quality analysis stating the assessment's level, score and degradations (the
    same list ``assess`` reports), and the numbered plan of :func:`plan_steps`. The model writes only the
    expected result after it, so what the analysis says the restoration does is what it does.
    ``degradations``: the assessment's entries (``type``, ``severity`` word, optional ``kind``);
    ``untreated``: categories stated but left out of the plan (a blind diagnosis the image contradicts).
    """
    check_task(task)
    intent = _intent(task, scale)
    f = _fields(level, score)
    if degradations:
        quality = QUALITY[0].format(defects=_defects(degradations), **f)
    else:
        quality = QUALITY_CLEAN[0].format(**f)
    kinds = {d["type"]: d.get("kind") for d in degradations}
    actions = []
    for c in plan_steps(task, [d["type"] for d in degradations if d["type"] not in untreated], scale):
        if c == "lowres" and scale == 1:
            actions.append(LOWRES_SAME_SIZE_ACTIONS[0])
        else:
            actions.append(ACTIONS[c][0].format(noun=noun(c, kinds.get(c)), scale=scale))
    plan = "; ".join(f"{i}. {a}" for i, a in enumerate(actions or [NO_ACTIONS[0]], 1)) + "."
    return f"{HEADERS[0]} {intent}\n{HEADERS[1]} {quality}\n{HEADERS[2]} {plan}\n{HEADERS[3]}"


def verdict_prefix(preferred: str, first: float, second: float) -> str:
    """``"The first image is better (3.90/5 vs 2.10/5):"``: a comparison's verdict with both scores."""
    if preferred not in ("first", "second"):
        raise ValueError(f"preferred must be first or second, got {preferred!r}")
    ps, os_ = (first, second) if preferred == "first" else (second, first)
    return VERDICTS[0].format(p=preferred, ps=f"{ps:.2f}", os=f"{os_:.2f}") + ":"
