"""The texts inference puts into the sequences of :mod:`uare.data.sequence`: its requests and the
fixed starts of its answers.

Inference uses the first phrasing of each pool (deterministic); training draws from the same pools
(:func:`uare.quality.instruction`), so every request inference makes is one the model was trained on.
"""

from __future__ import annotations

import numpy as np

from uare.quality import HEADERS, LEVELS, SCORE_QUESTION, instruction
from uare.quality.templates import DESCRIPTION, DESCRIPTION_CLEAN, INTENTS, QUALITY, QUALITY_CLEAN, VERDICTS
from uare.tasks import RESTORE_TASKS as _TASKS
from uare.tasks import check_task

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


def analysis_prefix(task: str, level: str, score: float, scale: int = 1) -> str:
    """The start of a four-part analysis up to the stated score: the intent line of ``task`` and
    ``"Quality analysis: The image quality is <level> (<score>/5);"`` (see :func:`description_prefix`)."""
    check_task(task)
    intent = INTENTS[task][0].format(scale=max(scale, 2))
    f = _fields(level, score)
    quality = _shared_prefix(QUALITY[0].format(defects="\0", **f), QUALITY_CLEAN[0].format(**f)).rstrip()
    return f"{HEADERS[0]} {intent}\n{HEADERS[1]} {quality}"


def verdict_prefix(preferred: str, first: float, second: float) -> str:
    """``"The first image is better (3.90/5 vs 2.10/5):"``: a comparison's verdict with both scores."""
    if preferred not in ("first", "second"):
        raise ValueError(f"preferred must be first or second, got {preferred!r}")
    ps, os_ = (first, second) if preferred == "first" else (second, first)
    return VERDICTS[0].format(p=preferred, ps=f"{ps:.2f}", os=f"{os_:.2f}") + ":"
