"""What the quality language says about one image: :class:`QualitySummary` and :func:`summarize`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from uare.degrade.record import DegradationRecord
from uare.degrade.types import CATEGORIES
from uare.quality.fidelity import fidelity
from uare.quality.levels import level_from_score
from uare.quality.score import quality_score, record_score
from uare.quality.words import VISIBLE, severity_word


@dataclass(frozen=True)
class QualitySummary:
    """Structured quality of one image.

    ``score`` is rounded to two decimals (what the text says) and ``level`` is derived from the
    rounded score, so text and fields never disagree. ``degradations`` lists ``(category, kind,
    severity word)`` for every category with severity >= 0.5, in physical order.
    """

    score: float
    level: str
    severities: dict[str, float]
    kinds: dict[str, str]
    scale: int = 1
    degradations: list[tuple[str, str | None, str]] = field(default_factory=list)
    record_score: float = 5.0
    fidelity: float | None = None

    def categories(self) -> list[str]:
        """Categories of the listed (visible) degradations, in physical order."""
        return [c for c, _, _ in self.degradations]


def summary_from_severities(
    severities: Mapping[str, float],
    kinds: Mapping[str, str] | None = None,
    scale: int = 1,
    fid: float | None = None,
) -> QualitySummary:
    """Build a summary from per-category severities in [0, 5] (and optionally kinds, scale, SSIM)."""
    unknown = set(severities) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"unknown categories {sorted(unknown)}; expected some of {CATEGORIES}")
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    sev = {c: float(severities[c]) for c in CATEGORIES if c in severities}
    kinds = dict(kinds or {})
    score = round(quality_score(sev, fid), 2)
    degr = [(c, kinds.get(c), severity_word(s)) for c, s in sev.items() if s >= VISIBLE]
    return QualitySummary(
        score=score,
        level=level_from_score(score),
        severities=sev,
        kinds=kinds,
        scale=int(scale),
        degradations=degr,
        record_score=record_score(sev),
        fidelity=fid,
    )


def summarize(
    record: DegradationRecord,
    clean: np.ndarray | None = None,
    degraded: np.ndarray | None = None,
    channel_order: str = "rgb",
) -> QualitySummary:
    """Summarize a degradation record; with both images, the score includes the SSIM fidelity term.

    ``clean`` is the ground truth (for super-resolution the clean image cropped to the record's
    ``input_size``) and ``degraded`` the pipeline output; see :mod:`uare.quality.score`.
    """
    if (clean is None) != (degraded is None):
        raise ValueError("give both clean and degraded images for the fidelity term, or neither")
    fid = None if clean is None else fidelity(clean, degraded, channel_order)
    return summary_from_severities(record.severities(), record.kinds(), record.scale, fid)
