"""The easy-to-hard stage-1 curriculum: single -> multi -> high-order (Real-ESRGAN, APISR) degradations.

The paper trains the restoration expert for 10K steps on single degradations, 20K on mixed ones
and 1.5K on high-order ones "synthesised with the Real-ESRGAN and APISR degradation pipelines plus
4x downsampling". ``factor`` scales those boundaries for small runs (factor 0.01 gives 100 / 200 / 15
steps). Within the single and multi sub-stages the largest severity level ramps linearly from
``severity_start`` to ``severity_end`` over the first ``ramp`` fraction of the sub-stage, so each
sub-stage itself goes easy to hard.

The high-order sub-stage (named ``realesrgan`` in :data:`STAGES`, after its first and default pipeline)
draws each sample's pipeline by the ``highorder_pipelines`` weights. The default, Real-ESRGAN alone,
draws nothing, so every seeded sample is the one a curriculum without the weights gave.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from uare.degrade._array import make_rng
from uare.degrade.pipelines import HIGHORDER_PIPELINES, PIPELINE
from uare.degrade.record import DegradationRecord
from uare.degrade.single import multi, single

STAGES: tuple[str, ...] = ("single", "multi", "realesrgan")


@dataclass(frozen=True)
class Curriculum:
    """Schedule of degradation pipelines over training steps (defaults: the paper's stage 1)."""

    single_steps: int = 10_000
    multi_steps: int = 20_000
    highorder_steps: int = 1_500
    factor: float = 1.0
    severity_start: int = 2
    severity_end: int = 5
    ramp: float = 0.5
    sr_prob: float = 0.0  # chance that a single / multi sample is also down-sampled for SR
    sr_scales: tuple[int, ...] = (2, 4)
    highorder_scale: int = 4
    pool: tuple[str, ...] | None = None  # types the single / multi sub-stages draw from (None: the default pool)
    #: high-order pipeline -> weight (a mapping or (name, weight) pairs; kept as pairs); one pipeline draws nothing
    highorder_pipelines: Mapping[str, float] | tuple[tuple[str, float], ...] = (("realesrgan", 1.0),)

    def __post_init__(self) -> None:
        if min(self.single_steps, self.multi_steps, self.highorder_steps) < 0 or self.factor <= 0:
            raise ValueError("curriculum step counts must be >= 0 and factor > 0")
        if not 1 <= self.severity_start <= self.severity_end <= 5:
            raise ValueError("need 1 <= severity_start <= severity_end <= 5")
        if not 0 < self.ramp <= 1:
            raise ValueError("ramp must be in (0, 1]")
        pairs = tuple(dict(self.highorder_pipelines).items())
        bad = [n for n, _ in pairs if n not in HIGHORDER_PIPELINES]
        if bad:
            raise ValueError(f"highorder_pipelines: {', '.join(map(repr, bad))} is not a high-order pipeline; "
                             f"choose from {', '.join(HIGHORDER_PIPELINES)}")
        if not pairs or any(w < 0 for _, w in pairs) or sum(w for _, w in pairs) <= 0:
            raise ValueError("highorder_pipelines: give weights >= 0, not all zero")
        object.__setattr__(self, "highorder_pipelines", tuple((n, float(w)) for n, w in pairs))

    @property
    def boundaries(self) -> tuple[int, int, int]:
        """Cumulative step at which single, multi and high-order sub-stages end."""
        a = round(self.single_steps * self.factor)
        b = a + round(self.multi_steps * self.factor)
        c = b + round(self.highorder_steps * self.factor)
        return a, b, c

    @property
    def total_steps(self) -> int:
        return self.boundaries[2]

    def stage_at(self, step: int) -> str:
        """The sub-stage that training step ``step`` (0-based) draws from; after the end, high-order."""
        a, b, _ = self.boundaries
        if step < a:
            return "single"
        if step < b:
            return "multi"
        return "realesrgan"

    def max_severity_at(self, step: int) -> int:
        """Largest severity level allowed at ``step`` (single and multi sub-stages ramp up)."""
        a, b, _ = self.boundaries
        start, length = (0, a) if step < a else (a, b - a)
        if step >= b or length == 0:
            return self.severity_end
        frac = min(1.0, (step - start) / max(1.0, self.ramp * length))
        return int(round(self.severity_start + frac * (self.severity_end - self.severity_start)))

    def sample(self, img: np.ndarray, step: int, seed: int | np.random.Generator | None = 0
               ) -> tuple[np.ndarray, DegradationRecord]:
        """Degrade ``img`` as the curriculum prescribes at training step ``step``."""
        rng = make_rng(seed)
        stage = self.stage_at(step)
        if stage == "realesrgan":
            name = self.highorder_pipeline(rng)
            out, rec = PIPELINE[name].fn(img, scale=self.highorder_scale, seed=rng)
        else:
            scale = int(rng.choice(self.sr_scales)) if rng.uniform() < self.sr_prob else 1
            fn = single if stage == "single" else multi
            out, rec = fn(img, scale=scale, seed=rng, max_severity=self.max_severity_at(step), pool=self.pool)
        note = f"curriculum step {step}: {stage}, max severity {self.max_severity_at(step)}"
        if stage == "realesrgan" and rec.pipeline != "realesrgan":
            note += f", high-order pipeline {rec.pipeline}"
        rec.notes.append(note)
        return out, rec

    def highorder_pipeline(self, rng: np.random.Generator) -> str:
        """The pipeline of one high-order sample, drawn by weight (no draw when there is only one)."""
        pairs = self.highorder_pipelines
        if len(pairs) == 1:
            return pairs[0][0]
        w = np.array([w for _, w in pairs], dtype=np.float64)
        return pairs[int(rng.choice(len(pairs), p=w / w.sum()))][0]
