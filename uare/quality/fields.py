"""The quality fields of a degradation record: score, level and analysis text (``uare degrade --record``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from uare.errors import one_line
from uare.quality.summary import summarize
from uare.quality.templates import analysis_text


def quality_fields(record: Any, clean: np.ndarray, degraded: np.ndarray, seed: int) -> dict[str, Any]:
    """Score, level and analysis text of a record.

    The analysis text is drawn with ``numpy.random.default_rng(seed)``, the seed of the degradation,
    so the whole JSON record is reproducible. The fidelity (SSIM) term needs both images; when the
    quality module refuses them (e.g. an image smaller than the SSIM window) the score falls back to
    the record alone, with a note.
    """
    notes: list[str] = []
    h, w = (int(v) for v in record.input_size)
    try:
        # The ground truth of a super-resolution pair is the clean image mod-cropped to input_size.
        summary = summarize(record, clean=clean[:h, :w], degraded=degraded)
    except ValueError as e:
        notes.append(f"score from the record only (no fidelity term: {one_line(e)})")
        summary = summarize(record)
    out: dict[str, Any] = {
        "score": float(summary.score),
        "level": str(summary.level),
        "analysis": str(analysis_text(summary, np.random.default_rng(seed))),
    }
    if notes:
        out["quality_notes"] = notes
    return out
