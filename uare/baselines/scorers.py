"""No-reference IQA scorers behind :class:`~uare.baselines.base.Scorer` (higher = better).

NIQE and BRISQUE are *distances* from natural-scene statistics, lower = better, so the scorers
return their negation: correlations with MOS then come out positive for a good metric, the same
sign as for the UARE score. Reports say "-NIQE" / "-BRISQUE" where this matters.
"""

from __future__ import annotations

import numpy as np

from uare.baselines.base import Scorer, check_rgb_u8


class NegatedMetric:
    """``-metric(img)`` for a lower-is-better no-reference metric of :mod:`uare.metrics`."""

    def __init__(self, metric: str) -> None:
        self.name = metric
        self.metric = metric

    def __call__(self, img: np.ndarray) -> float:
        import uare.metrics  # imported on first use (scipy, OpenCV)

        return -float(getattr(uare.metrics, self.metric)(check_rgb_u8(img)))


def get_scorer(name: str, model_path: str | None = None, device: str = "cpu") -> Scorer:
    """A scorer by name: ``niqe``, ``brisque`` (negated) or ``uare`` (the model; ``model_path`` its folder)."""
    if name in ("niqe", "brisque"):
        return NegatedMetric(name)
    if name == "uare":
        from uare.baselines.external import UAREScorer

        return UAREScorer(model_path, device)
    raise ValueError(f"unknown scorer {name!r}; choose from niqe, brisque, uare")


SCORER_NAMES: tuple[str, ...] = ("niqe", "brisque", "uare")
