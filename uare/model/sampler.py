"""``FlowSampler``: every setting of the generation expert's sampling in one object (a diffusers scheduler).

One name per concept, shared with training (:class:`uare.train.config.TrainSection`):

- ``steps``: model evaluations (BAGEL's ``num_timesteps`` is ``steps + 1``);
- ``timestep_shift``: the time grid ``linspace(t_start, 0)`` is shifted by ``s t / (1 + (s - 1) t)``; for
  training the same name shifts the drawn flow times;
- ``flow_source``: where the sampler starts at ``t = 1`` — ``noise`` (BAGEL), ``degraded`` (the degraded
  image's latent plus ``source_noise`` x noise, for models trained with ``train.flow_source: degraded``,
  as uare-tiny), or ``sdedit`` (any model: the degraded latent noised to ``t_start`` < 1, SDEdit-style);
- ``cfg_text``, ``cfg_img``, ``cfg_interval``, ``cfg_renorm``, ``cfg_renorm_min``: BAGEL's three-context
  classifier-free guidance (:func:`uare.model.flow.guide`).

A model folder's ``inference.json`` holds the sampler its exporter derived from the training config
(:meth:`FlowSampler.from_training`), so inference samples from what the model was trained on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from uare.model.flow import RENORM_TYPES, sampling_schedule

FLOW_SOURCES = ("noise", "degraded", "sdedit")
#: the names ``inference.json`` used before the sampler object (``init``), read for old model folders
LEGACY_INIT = {"noise": "noise", "source": "degraded", "degraded": "sdedit"}


@dataclass(frozen=True)
class FlowSampler:
    """The shifted Euler sampler of rectified flow with BAGEL's guidance; see the module docstring."""

    steps: int = 20
    timestep_shift: float = 1.0
    flow_source: str = "noise"
    t_start: float = 1.0  # sdedit only: the time the noised degraded latent starts at
    source_noise: float = 0.0  # degraded only: x1 = degraded latent + source_noise x noise
    cfg_text: float = 1.0
    cfg_img: float = 1.0
    cfg_interval: tuple[float, float] = (0.0, 1.0)
    cfg_renorm: str = "global"
    cfg_renorm_min: float = 0.0

    def __post_init__(self) -> None:
        if self.flow_source not in FLOW_SOURCES:
            raise ValueError(f"flow_source must be one of {', '.join(FLOW_SOURCES)}, got {self.flow_source!r}")
        if self.cfg_renorm not in RENORM_TYPES:
            raise ValueError(f"cfg_renorm must be one of {', '.join(RENORM_TYPES)}, got {self.cfg_renorm!r}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not 0 < self.t_start <= 1:
            raise ValueError(f"t_start must be in (0, 1], got {self.t_start}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_training(cls, train: Any, **choices: Any) -> FlowSampler:
        """The sampler a model trained with ``train`` (a :class:`~uare.train.config.TrainSection`) needs:
        its flow source, source noise and timestep shift; ``choices`` set the rest (steps, guidance)."""
        return cls(timestep_shift=float(train.timestep_shift), flow_source=str(train.flow_source),
                   source_noise=float(train.source_noise), **choices)

    def replace(self, **overrides: Any) -> FlowSampler:
        """A copy with the given settings; ``None`` values keep the current ones (CLI flags left unset)."""
        kw = {k: v for k, v in overrides.items() if v is not None}
        if "cfg_interval" in kw:
            kw["cfg_interval"] = tuple(kw["cfg_interval"])
        return dataclasses.replace(self, **kw)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["cfg_interval"] = list(self.cfg_interval)
        return d

    # ------------------------------------------------------------------ the schedule
    @property
    def start(self) -> float:
        """The time sampling starts at: ``t_start`` for ``sdedit``, else 1."""
        return self.t_start if self.flow_source == "sdedit" else 1.0

    def timesteps(self) -> torch.Tensor:
        """``steps + 1`` float32 times from :attr:`start` to 0, shifted (BAGEL's grid)."""
        return sampling_schedule(self.steps + 1, self.timestep_shift, self.start)

    def initial_latent(self, noise: torch.Tensor, source: torch.Tensor | None = None) -> torch.Tensor:
        """The latent at :attr:`start` from the Gaussian ``noise`` and the degraded image's latent ``source``."""
        if self.flow_source == "noise":
            return noise
        if source is None:
            raise ValueError(f"flow_source {self.flow_source} needs the degraded image's latent")
        if self.flow_source == "sdedit":
            return (1 - self.t_start) * source + self.t_start * noise
        return source + self.source_noise * noise

    @property
    def guided(self) -> bool:
        """Whether text guidance runs at all (image guidance alone does nothing, as in BAGEL)."""
        return self.cfg_text > 1.0

    def guides_at(self, t: float) -> bool:
        return self.guided and self.cfg_interval[0] < t <= self.cfg_interval[1]
