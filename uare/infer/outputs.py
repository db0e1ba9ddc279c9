"""Small result dataclasses returned by :class:`uare.infer.UARE`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class Assessment:
    """A quality assessment: the expected 1-5 score over the five level words, and the written description."""

    score: float
    level: str
    level_probs: dict[str, float]
    degradations: list[dict[str, str]]
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Comparison:
    """Which of two images is better (``first`` / ``second``), with what probability, and why."""

    preferred: str
    probability: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Restoration:
    """A restored image (same kind as the input: dtype, gray / RGB, alpha) and how it was made."""

    image: np.ndarray
    analysis: str | None
    assessment_before: Assessment | None
    task: str
    scale: int
    steps: int
    seed: int
    tiles: int = 1
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    # tiled outputs: mean |difference| of neighbouring tiles' low-passed outputs where they overlap, in
    # 8-bit levels (uare.infer.tiling.process_tiled); tiles that agree leave no seam
    tile_disagreement: float | None = None
    # why the output is the input (up-scaled bicubic when scale > 1) and the way out, or None when it was
    # restored: "rated good (3.95/5); --force to restore anyway", "this model does not improve jpeg yet ..."
    unchanged: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Everything but the pixels (for JSON sidecars)."""
        d = asdict(self)
        d.pop("image")
        d["output_shape"] = list(self.image.shape)
        d["output_dtype"] = str(self.image.dtype)
        return d
