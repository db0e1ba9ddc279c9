"""Severity words and degradation nouns of the quality language, and the regex that reads them back.

Severity (continuous, [0, 5]) -> word: < 0.5 ``none`` (not mentioned), [0.5, 1.5) ``slight``,
[1.5, 2.5) ``mild``, [2.5, 3.5) ``moderate``, [3.5, 4.5) ``strong``, >= 4.5 ``severe``; i.e. the
nearest calibrated level 1..5.

Nouns depend on the category and, for blur and noise, on the kind, so a reader can recover the
kind where the noun names it (``motion blur`` -> blur/motion). The generalized-Gaussian and plateau
kernels of the Real-ESRGAN pipeline have no everyday name and read as plain ``blur``; an unknown
noise kind reads as plain ``noise``; for those the kind is not recoverable (parsed as ``None``).
"""

from __future__ import annotations

import re

from uare.degrade.types import CATEGORIES, NOUNS, SINGLE_KINDS, SYNONYMS

#: Severity words, mildest first; word ``i`` stands for calibrated level ``i + 1``.
SEVERITY_WORDS: tuple[str, ...] = ("slight", "mild", "moderate", "strong", "severe")
#: Word for a severity below the visibility threshold (never written in text).
NONE_WORD = "none"
#: Severities below this are not mentioned.
VISIBLE = 0.5

# The nouns live in the degradation table (uare.degrade.types.CATEGORY_TABLE):
# NOUNS: (category, kind) -> noun, ``kind=None`` the fallback for the category;
# SINGLE_KINDS: the one kind of single-kind categories (their noun identifies the kind too);
# SYNONYMS: extra nouns accepted when reading (model outputs may paraphrase), never generated.


def severity_word(severity: float) -> str:
    """Word for a continuous severity in [0, 5]; ``"none"`` below 0.5."""
    s = float(severity)
    if not (s == s):  # NaN
        raise ValueError("severity is NaN")
    if s < VISIBLE:
        return NONE_WORD
    return SEVERITY_WORDS[min(len(SEVERITY_WORDS) - 1, int(s + 0.5) - 1)]


def noun(category: str, kind: str | None = None) -> str:
    """Noun phrase for a degradation, e.g. ``noun("blur", "motion") == "motion blur"``."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
    return NOUNS.get((category, kind), NOUNS[(category, None)])


def _noun_table() -> dict[str, tuple[str, str | None]]:
    table: dict[str, tuple[str, str | None]] = {}
    for (cat, kind), word in NOUNS.items():
        table[word.lower()] = (cat, kind if kind is not None else SINGLE_KINDS.get(cat))
    for word, ck in SYNONYMS.items():
        table.setdefault(word.lower(), ck)
    return table


#: Lower-cased noun -> (category, kind or None where the noun does not name the kind).
NOUN_LOOKUP: dict[str, tuple[str, str | None]] = _noun_table()


def noun_kind(text: str) -> tuple[str, str | None]:
    """Category and kind named by a noun (case-insensitive); kind is ``None`` for generic nouns."""
    try:
        return NOUN_LOOKUP[" ".join(text.lower().split())]
    except KeyError:
        raise ValueError(f"unknown degradation noun {text!r}") from None


def encoded_kind(category: str, kind: str | None) -> str | None:
    """The kind a reader recovers from ``noun(category, kind)`` (``None`` when the noun is generic)."""
    return noun_kind(noun(category, kind))[1]


# Longest nouns first so that "motion blur" wins over "blur" and "rain streaks" over "rain".
_NOUN_ALT = "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in sorted(NOUN_LOOKUP, key=len, reverse=True))
#: "<severity word> <noun>", case-insensitive; groups: word, noun.
DEGRADATION_RE = re.compile(rf"\b({'|'.join(SEVERITY_WORDS)})\s+({_NOUN_ALT})\b", re.IGNORECASE)


def find_degradations(text: str) -> list[tuple[str, str | None, str]]:
    """All ``(category, kind, severity word)`` mentions in ``text``, in order of appearance.

    A category mentioned twice keeps its first mention.
    """
    out: list[tuple[str, str | None, str]] = []
    seen: set[str] = set()
    for m in DEGRADATION_RE.finditer(text):
        cat, kind = noun_kind(m.group(2))
        if cat not in seen:
            seen.add(cat)
            out.append((cat, kind, m.group(1).lower()))
    return out
