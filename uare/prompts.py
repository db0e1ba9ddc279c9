"""The conversation formats shared by training data and inference, so both always agree.

Every task is a sequence of items (``I`` = the image as clean VAE latents, ``V`` = the image as ViT
patches, ``T(...)`` = a text segment, ``*`` = trained / generated):

- score:    V, T(SCORE_QUESTION), T*("The quality of the image is <level>.")
- describe: V, T(assess instruction), T*(description)
- compare:  V(a), V(b), T(compare instruction), T*(comparison)
- restore:  I, V, T(task instruction), [T*(four-part analysis)], I*(restored image)

Inference uses the first phrasing of each pool (deterministic); training draws from the pools.
"""

from __future__ import annotations

import numpy as np

from uare.quality import LEVELS, SCORE_QUESTION, instruction

#: Prefix of the Q-Align-style answer; the next word is one of the five level words.
SCORE_PREFIX = "The quality of the image is"

#: Tasks a restoration can be asked for; ``auto`` lets the analysis decide.
RESTORE_TASKS: tuple[str, ...] = ("auto", "sr", "denoise", "deblur", "jpeg", "lowlight", "dehaze", "derain")


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
    if task not in RESTORE_TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(RESTORE_TASKS)}")
    return instruction(task, rng if rng is not None else np.random.default_rng(0), scale=max(scale, 2))
