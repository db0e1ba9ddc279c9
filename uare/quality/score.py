"""The 1-5 quality score (MOS-like, 5 = best) computed from a degradation record.

Record term. From the per-category severities ``s_c`` in [0, 5] (see
:meth:`uare.degrade.record.DegradationRecord.severities`)::

    S            = min(5, max_c s_c + 0.35 * (sum_c s_c - max_c s_c))
    record_score = 5 - 0.8 * S

The worst degradation dominates and every other one adds 35 % of its severity, so a clean image
scores 5.0 and a single type at level 5 scores 1.0 (one calibrated level = 0.8 points, the width of
one Q-Align level bin). ``S`` is non-decreasing in every ``s_c`` (raising the maximum raises it by
the full amount, raising another by 35 %), hence the score never rises when any severity rises.

Fidelity term (optional, when the clean and degraded images are known). ``fid`` is the SSIM of the
BT.601 luma of the degraded image against the clean one (:mod:`uare.quality.fidelity`), mapped
linearly so that SSIM <= 0.2 gives 1 and SSIM = 1 gives 5::

    fid_score = 1 + 4 * clip((fid - 0.2) / 0.8, 0, 1)
    score     = 0.75 * record_score + 0.25 * fid_score

The record term carries the calibrated, content-independent part; the fidelity term adds the
content-dependent part (the same blur costs more on a detailed image than on a flat one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

#: Share of every non-dominant severity added to the dominant one.
SECONDARY_WEIGHT = 0.35
#: Score points lost per severity level.
POINTS_PER_LEVEL = 0.8
#: Weight of the record term when a fidelity term is available.
RECORD_WEIGHT = 0.75
#: SSIM at or below which the fidelity score is 1.
FID_FLOOR = 0.2


def aggregate_severity(severities: Mapping[str, float]) -> float:
    """Overall severity ``S = min(5, max + 0.35 * (sum - max))`` of per-category severities in [0, 5]."""
    vals = [float(v) for v in severities.values()]
    for v in vals:
        if not (0.0 <= v <= 5.0):
            raise ValueError(f"severities must lie in [0, 5], got {v}")
    if not vals:
        return 0.0
    top = max(vals)
    return min(5.0, top + SECONDARY_WEIGHT * (sum(vals) - top))


def record_score(severities: Mapping[str, float]) -> float:
    """Score of the record term, ``5 - 0.8 * S``, in [1, 5]."""
    return 5.0 - POINTS_PER_LEVEL * aggregate_severity(severities)


def fidelity_score(fid: float) -> float:
    """Map an SSIM value to [1, 5]: ``1 + 4 * clip((fid - 0.2) / 0.8, 0, 1)``."""
    fid = float(fid)
    if math.isnan(fid):
        raise ValueError("fidelity is NaN")
    return 1.0 + 4.0 * min(1.0, max(0.0, (fid - FID_FLOOR) / (1.0 - FID_FLOOR)))


def quality_score(severities: Mapping[str, float], fid: float | None = None) -> float:
    """Final score: the record term alone, or ``0.75 * record + 0.25 * fidelity`` when ``fid`` is given."""
    rec = record_score(severities)
    if fid is None:
        return rec
    return RECORD_WEIGHT * rec + (1.0 - RECORD_WEIGHT) * fidelity_score(fid)
