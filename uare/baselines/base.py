"""The two interfaces every baseline implements: :class:`Restorer` and :class:`Scorer`.

A restorer maps a degraded uint8 RGB image to a restored one, given a :class:`Setting` that says
which tasks to undo, the super-resolution scale and, for "non-blind oracle" baselines, the known
degradation parameters. A scorer maps an image to one number where *higher is better*.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from uare.errors import UareError
from uare.tasks import TASK_CATEGORY

#: Restoration tasks a :class:`Setting` may ask for: the single-purpose tasks of ``UARE.restore(task=...)``
#: (:data:`uare.tasks.TASK_CATEGORY`).
TASKS: tuple[str, ...] = tuple(TASK_CATEGORY)


class BaselineUnavailable(UareError):
    """An optional baseline cannot run here (missing package or system library)."""


@dataclass(frozen=True)
class Setting:
    """What a restorer is asked to undo.

    ``tasks`` are names from :data:`TASKS`; ``scale`` is the super-resolution factor (the output is
    ``scale`` times the input size); ``types`` are the engine's degradation type names, for reports;
    ``known`` holds degradation parameters a *non-blind oracle* baseline may use (``blur_sigma``:
    Gaussian PSF sigma in pixels, ``jpeg_quality``, ``noise_sigma`` in 0-255 units). Blind baselines
    ignore ``known`` and estimate what they need.
    """

    name: str = "custom"
    tasks: tuple[str, ...] = ()
    scale: int = 1
    types: tuple[str, ...] = ()
    known: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [t for t in self.tasks if t not in TASKS]
        if bad:
            raise ValueError(f"unknown task(s) {', '.join(bad)}; choose from {', '.join(TASKS)}")
        if int(self.scale) != self.scale or self.scale < 1:
            raise ValueError(f"scale must be a positive integer, got {self.scale}")


@runtime_checkable
class Restorer(Protocol):
    """``restorer(img, setting) -> restored``: uint8 HxWx3 RGB in, uint8 (H*scale)x(W*scale)x3 out."""

    name: str
    #: tasks this restorer addresses; ``{"any"}`` for dispatchers and models that handle everything
    tasks: frozenset[str]

    def __call__(self, img: np.ndarray, setting: Setting) -> np.ndarray: ...


@runtime_checkable
class Scorer(Protocol):
    """``scorer(img) -> float``: a no-reference quality score of a uint8 RGB image, higher = better."""

    name: str

    def __call__(self, img: np.ndarray) -> float: ...


def check_rgb_u8(img: np.ndarray) -> np.ndarray:
    """Return ``img`` as a contiguous HxWx3 uint8 array (gray is repeated to 3 channels)."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"expected an HxW, HxWx1 or HxWx3 image, got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a)
