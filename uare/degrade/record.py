"""The record of what a degradation did: JSON-serialisable, and read by the quality language.

A record is an ordered list of steps. Each step names its operator, the exact parameters it used,
the *category* it belongs to for the quality language (blur, noise, jpeg, lowres, lowlight, haze,
rain, ringing, impulse, ...; ``None`` for neutral steps such as an up-sampling back to size) and a
continuous *severity* in [0, 5] estimated from its parameters through the calibrated tables of
:mod:`uare.degrade.types` (0 = no visible effect, 1..5 = the five calibrated levels).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from uare.degrade.categories import CATEGORIES  # noqa: F401 - re-exported (physical order)


@dataclass
class Step:
    """One applied operator."""

    op: str
    params: dict[str, Any]
    category: str | None = None
    kind: str | None = None
    severity: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DegradationRecord:
    """Everything a pipeline applied to one image, in order.

    ``input_size`` is the (height, width) of the clean image the pipeline actually used (after a
    mod-crop to a multiple of ``scale``), ``output_size`` that of the degraded image. For
    super-resolution pairs the ground truth is the clean image cropped to ``input_size``.
    """

    pipeline: str
    seed: int | None = None
    scale: int = 1
    input_size: tuple[int, int] = (0, 0)
    output_size: tuple[int, int] = (0, 0)
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, step: Step) -> Step:
        self.steps.append(step)
        return step

    def severities(self) -> dict[str, float]:
        """Severity per category, in [0, 5], in ``CATEGORIES`` (physical) order.

        Steps of the same category (e.g. the two blurs of the Real-ESRGAN pipeline) combine as a
        root sum of squares, capped at 5: two equal moderate blurs read a little stronger than one.
        """
        acc: dict[str, float] = {}
        for s in self.steps:
            if s.category is None or s.severity <= 0:
                continue
            acc[s.category] = acc.get(s.category, 0.0) + s.severity**2
        return {c: min(5.0, math.sqrt(acc[c])) for c in CATEGORIES if c in acc}

    def kinds(self) -> dict[str, str]:
        """The dominant ``kind`` per category (e.g. blur → ``motion``), from its strongest step."""
        best: dict[str, tuple[float, str]] = {}
        for s in self.steps:
            if s.category is None or s.kind is None or s.severity <= 0:
                continue
            if s.category not in best or s.severity > best[s.category][0]:
                best[s.category] = (s.severity, s.kind)
        return {c: k for c, (_, k) in best.items()}

    def types(self) -> list[str]:
        """Categories with a visible effect (severity > 0), in physical order."""
        return list(self.severities())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["output_size"] = list(self.output_size)
        d["severities"] = {k: round(v, 4) for k, v in self.severities().items()}
        d["kinds"] = self.kinds()
        return d

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DegradationRecord:
        steps = [Step(**{k: v for k, v in s.items() if k in Step.__dataclass_fields__}) for s in d["steps"]]
        return cls(
            pipeline=d["pipeline"],
            seed=d.get("seed"),
            scale=int(d.get("scale", 1)),
            input_size=tuple(d.get("input_size", (0, 0))),
            output_size=tuple(d.get("output_size", (0, 0))),
            steps=steps,
            notes=list(d.get("notes", [])),
        )
