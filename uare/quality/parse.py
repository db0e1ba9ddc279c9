"""Read quality texts back into structured fields.

The parsers rely only on the fixed vocabulary of :mod:`uare.quality.templates` (level words,
``X.XX/5`` scores, ``<severity word> <noun>``, the four analysis headers, numbered plan items,
task keywords), not on the exact phrasings, so they also read reasonable paraphrases, e.g. a
model's output. Text that lacks a required field raises :class:`ValueError` saying what is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from uare.degrade.types import ACTION_WORDS
from uare.quality.levels import LEVELS
from uare.quality.templates import HEADERS
from uare.quality.words import find_degradations
from uare.tasks import TASKS

_LEVEL_RE = re.compile(rf"\b({'|'.join(LEVELS)})\b", re.IGNORECASE)
_SCORE_RE = re.compile(r"(?<![\d.])(\d(?:\.\d+)?)\s*/\s*5(?!\d)")
_SCALE_RES = (
    re.compile(r"(?<![a-z])[×x]\s*(\d+)\b", re.IGNORECASE),
    re.compile(r"\b(\d+)\s*[×x](?![a-z0-9])", re.IGNORECASE),
    re.compile(r"\bfactor of (\d+)\b", re.IGNORECASE),
    re.compile(r"\b(\d+) times\b", re.IGNORECASE),
)

# Task keywords. Compare is checked first, then the single-purpose tasks (exactly one must match,
# several mean a multi-defect request, read as "auto"), then restoration verbs, then assessment.
_COMPARE_RE = re.compile(
    r"\b(?:two|both|compare|comparison|between)\b|\b(?:first|second) (?:image|one|photo|picture)\b|\bimage [ab]\b",
    re.IGNORECASE,
)
#: the request words of each task (:data:`uare.tasks.TASKS`), in table order
_TASK_RES: dict[str, re.Pattern[str]] = {t.name: re.compile(t.request, re.IGNORECASE)
                                          for t in TASKS.values() if t.request}
_AUTO_RE = re.compile(r"restor|enhanc|improv|\bfix|repair|clean|analy[sz]", re.IGNORECASE)
_ASSESS_RE = re.compile(r"\brat(?:e|ing)\b|quality|assess|score|evaluat|judge|describe", re.IGNORECASE)

# Plan action keywords per category (the same words the action pools use; uare.degrade.types).
_ACTION_RES: dict[str, re.Pattern[str]] = {c: re.compile(rx, re.IGNORECASE) for c, rx in ACTION_WORDS.items()}
_NO_ACTION_RE = re.compile(r"unchanged|no restoration|as it is|\bas is\b|nothing to fix", re.IGNORECASE)
_ITEM_RE = re.compile(r"(?:^|(?<=\s))(\d+)[.)]\s+")
# One group per header (headers are plain words), so ``m.lastindex`` says which one matched.
_HEADER_RE = re.compile(
    "|".join("(" + h[:-1].replace(" ", r"[ \t]+") + r")\s*:" for h in HEADERS), re.IGNORECASE
)
_CONNECTOR_RE = re.compile(
    r",\s+(?:while|whereas)\s+|;\s+(?:in contrast|by contrast|meanwhile),?\s+", re.IGNORECASE
)
_TIE_RE = re.compile(r"\b(?:both|same|equal(?:ly)?|tied?|neither|similar)\b", re.IGNORECASE)
_SIDE_RE = re.compile(r"\b(first|second)\b", re.IGNORECASE)


@dataclass
class ParsedAnalysis:
    """Fields of a four-part analysis.

    ``scale`` is the upscale factor the plan (or, failing that, the intent) states, 1 if none.
    ``kinds`` holds the kind a noun names, ``None`` for generic nouns (``blur``, ``noise``).
    """

    task: str
    level: str
    score: float
    degradations: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str | None] = field(default_factory=dict)
    plan: list[str] = field(default_factory=list)
    expected_level: str = "excellent"
    expected_score: float = 5.0
    scale: int = 1


@dataclass
class ParsedDescription:
    """Fields of an IQA description."""

    level: str
    score: float
    degradations: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str | None] = field(default_factory=dict)


@dataclass
class ParsedComparison:
    """Fields of a comparison; ``preferred`` is ``"first"``, ``"second"`` or ``"tie"``."""

    preferred: str
    first_score: float | None = None
    second_score: float | None = None
    first: dict[str, str] = field(default_factory=dict)
    second: dict[str, str] = field(default_factory=dict)
    first_kinds: dict[str, str | None] = field(default_factory=dict)
    second_kinds: dict[str, str | None] = field(default_factory=dict)


def parse_level(text: str) -> str:
    """The one level word in ``text``; ValueError if none or several different ones."""
    found = {m.lower() for m in _LEVEL_RE.findall(text)}
    if len(found) != 1:
        what = "no quality level" if not found else f"several quality levels {sorted(found)}"
        raise ValueError(f"{what} in {text!r}; expected one of {LEVELS}")
    return found.pop()


def parse_score(text: str) -> float:
    """The first ``X.XX/5`` score in ``text``; ValueError if none or outside [1, 5]."""
    m = _SCORE_RE.search(text)
    if m is None:
        raise ValueError(f"no 'X.XX/5' score in {text!r}")
    score = float(m.group(1))
    if not 1.0 <= score <= 5.0:
        raise ValueError(f"score {score} outside [1, 5] in {text!r}")
    return score


def parse_scale(text: str) -> int | None:
    """An upscale factor stated in ``text`` (``4x``, ``×4``, ``4×``, ``factor of 4``, ``4 times``), else None."""
    for rx in _SCALE_RES:
        m = rx.search(text)
        if m is not None:
            return int(m.group(1))
    return None


def _degradations(text: str) -> tuple[dict[str, str], dict[str, str | None]]:
    found = find_degradations(text)
    return {c: w for c, _, w in found}, {c: k for c, k, _ in found}


def parse_instruction(text: str) -> str:
    """The task a user instruction asks for (one of ``uare.quality.templates.TASKS``)."""
    if _COMPARE_RE.search(text):
        return "compare"
    specific = [t for t, rx in _TASK_RES.items() if rx.search(text)]
    if len(specific) == 1:
        return specific[0]
    if specific or _AUTO_RE.search(text):
        return "auto"
    if _ASSESS_RE.search(text):
        return "assess"
    raise ValueError(f"cannot tell which task this instruction asks for: {text!r}")


def parse_plan(text: str) -> tuple[list[str], int]:
    """Categories treated by a numbered plan, in order, and the upscale factor it states (1 if none)."""
    marks = list(_ITEM_RE.finditer(text))
    if not marks:
        raise ValueError(f"no numbered plan items ('1. ...') in {text!r}")
    cats: list[str] = []
    scale = 1
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        item = text[m.end() : end].strip().rstrip(";.").strip()
        hits = sorted((rx.search(item).start(), c) for c, rx in _ACTION_RES.items() if rx.search(item))
        if not hits:
            if _NO_ACTION_RE.search(item):
                continue
            raise ValueError(f"unknown plan action {item!r}")
        for _, cat in hits:
            if cat not in cats:
                cats.append(cat)
            if cat == "lowres":
                scale = parse_scale(item) or scale
    return cats, scale


def _split_parts(text: str) -> dict[str, str]:
    marks = list(_HEADER_RE.finditer(text))
    parts: dict[str, str] = {}
    for i, m in enumerate(marks):
        header = HEADERS[m.lastindex - 1]
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        parts.setdefault(header, text[m.end() : end].strip())
    missing = [h for h in HEADERS if h not in parts]
    if missing:
        raise ValueError(f"analysis lacks the part(s) {missing}")
    return parts


def parse_analysis(text: str) -> ParsedAnalysis:
    """Read a four-part analysis (see :func:`uare.quality.templates.analysis_text`)."""
    parts = _split_parts(text)
    intent, quality, plan, expected = (parts[h] for h in HEADERS)
    degr, kinds = _degradations(quality)
    actions, scale = parse_plan(plan)
    if scale == 1:
        scale = parse_scale(intent) or 1
    return ParsedAnalysis(
        task=parse_instruction(intent),
        level=parse_level(quality),
        score=parse_score(quality),
        degradations=degr,
        kinds=kinds,
        plan=actions,
        expected_level=parse_level(expected),
        expected_score=parse_score(expected),
        scale=scale,
    )


def parse_description(text: str) -> ParsedDescription:
    """Read an IQA description (see :func:`uare.quality.templates.description_text`)."""
    degr, kinds = _degradations(text)
    return ParsedDescription(level=parse_level(text), score=parse_score(text), degradations=degr, kinds=kinds)


def parse_comparison(text: str) -> ParsedComparison:
    """Read a comparison (see :func:`uare.quality.templates.comparison_text`).

    The verdict (before the first ``:``) names the preferred image or says it is a tie; the body
    holds a clause about the preferred image (first image for a tie), a connector (``while``,
    ``whereas``, ``in contrast``, ...), then a clause about the other image.
    """
    verdict, sep, body = text.partition(":")
    if not sep:
        raise ValueError(f"comparison lacks the 'verdict: details' colon: {text!r}")
    side = _SIDE_RE.search(verdict)
    if side is not None:
        preferred = side.group(1).lower()
    elif _TIE_RE.search(verdict):
        preferred = "tie"
    else:
        raise ValueError(f"comparison verdict names neither image nor a tie: {verdict!r}")
    split = _CONNECTOR_RE.search(body)
    if split is None:
        raise ValueError(
            f"comparison lacks a connector (while/whereas/in contrast) between clauses: {body!r}"
        )
    da, ka = _degradations(body[: split.start()])
    db, kb = _degradations(body[split.end() :])
    scores = [float(s) for s in _SCORE_RE.findall(verdict)]
    sa, sb = (scores[0], scores[1]) if len(scores) >= 2 else (None, None)
    if preferred == "second":
        da, db, ka, kb, sa, sb = db, da, kb, ka, sb, sa
    return ParsedComparison(preferred, sa, sb, da, db, ka, kb)
