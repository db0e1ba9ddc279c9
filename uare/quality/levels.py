"""The five Q-Align quality levels and their link to the 1-5 score.

Q-Align (Wu et al., 2023) teaches a model to answer with one of five words, ``bad``, ``poor``,
``fair``, ``good``, ``excellent``, worth 1..5; a score is recovered as the probability-weighted
mean of the level values. The thresholds of :func:`level_from_score` split the 1-5 range into five
bins of width 0.8 (1.0-1.8, ..., 4.2-5.0), the same width as one calibrated severity level in
:mod:`uare.quality.score` (a clean image is ``excellent``, one type at level 5 is ``bad``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

#: The five levels, worst first; the value of ``LEVELS[i]`` is ``i + 1``.
LEVELS: tuple[str, ...] = ("bad", "poor", "fair", "good", "excellent")

#: Level word -> value (1..5).
LEVEL_VALUES: dict[str, int] = {lvl: i + 1 for i, lvl in enumerate(LEVELS)}

#: (lower bound, level), best first; a score at a bound belongs to the better level.
LEVEL_THRESHOLDS: tuple[tuple[float, str], ...] = (
    (4.2, "excellent"),
    (3.4, "good"),
    (2.6, "fair"),
    (1.8, "poor"),
)

#: The Q-Align scoring question; :func:`score_answer` gives the matching answer.
SCORE_QUESTION = "Can you rate the quality of the image?"


def level_from_score(score: float) -> str:
    """Map a 1-5 score to its level word (>= 4.2 excellent, >= 3.4 good, >= 2.6 fair, >= 1.8 poor)."""
    score = float(score)
    if math.isnan(score):
        raise ValueError("score is NaN")
    # Calibrated anchors land exactly on the bounds (5 - 0.8 * 3 = 2.5999999999999996 in floating
    # point), so compare at 1e-9 precision to keep them in the level they were calibrated for.
    score = round(score, 9)
    for bound, level in LEVEL_THRESHOLDS:
        if score >= bound:
            return level
    return "bad"


def expected_score(level_probs: Mapping[str, float] | Sequence[float]) -> float:
    """Q-Align score: ``sum_i p_i * value_i`` over the five levels.

    ``level_probs`` is either a mapping level word -> probability (missing levels count as 0) or a
    sequence of five probabilities in :data:`LEVELS` order. The probabilities are renormalised to
    sum to 1, because in practice they are the softmax over the five level tokens only and may
    arrive slightly off after rounding.
    """
    if isinstance(level_probs, Mapping):
        unknown = set(level_probs) - set(LEVELS)
        if unknown:
            raise ValueError(f"unknown level(s) {sorted(unknown)}; expected some of {LEVELS}")
        probs = [float(level_probs.get(lvl, 0.0)) for lvl in LEVELS]
    else:
        probs = [float(p) for p in level_probs]
        if len(probs) != len(LEVELS):
            raise ValueError(f"expected {len(LEVELS)} probabilities, got {len(probs)}")
    if any(not math.isfinite(p) or p < 0 for p in probs):
        raise ValueError(f"probabilities must be finite and non-negative, got {probs}")
    total = sum(probs)
    if total <= 0:
        raise ValueError("probabilities sum to zero")
    return sum(p * (i + 1) for i, p in enumerate(probs)) / total


def score_answer(level: str | float) -> str:
    """The Q-Align style answer for a level word or a score, e.g. ``"The quality of the image is good."``."""
    if isinstance(level, str):
        if level not in LEVEL_VALUES:
            raise ValueError(f"unknown level {level!r}; expected one of {LEVELS}")
        word = level
    else:
        word = level_from_score(level)
    return f"The quality of the image is {word}."
