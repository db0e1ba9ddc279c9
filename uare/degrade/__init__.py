"""The degradation engine: operators, calibrated severities and the pipelines (:mod:`uare.degrade.pipelines`).

Every operator takes a uint8 / uint16 / float [0, 1] image (HxW, HxWx1 or HxWx3), returns the
image in the same dtype and a :class:`Step` recording exactly what it did; every random choice
comes from a seed or a ``numpy.random.Generator``. Pipelines return a :class:`DegradationRecord`.
"""

from __future__ import annotations

import numpy as np

from uare.degrade.apisr import APISRConfig, apisr
from uare.degrade.blur import apply_kernel, defocus_blur, gaussian_blur, motion_blur, sinc_filter
from uare.degrade.curriculum import Curriculum
from uare.degrade.haze import add_haze, depth_proxy
from uare.degrade.jpeg import jpeg_compress
from uare.degrade.lowlight import lowlight, sensor_noise
from uare.degrade.noise import add_gaussian_noise, add_poisson_noise, add_salt_pepper
from uare.degrade.pipelines import HIGHORDER_PIPELINES, PIPELINE_TABLE, PIPELINES, Pipeline, run_pipeline
from uare.degrade.rain import add_rain
from uare.degrade.realesrgan import RealESRGANConfig, realesrgan
from uare.degrade.record import CATEGORIES, DegradationRecord, Step
from uare.degrade.resize import lowres, modcrop, resize, sr_downsample
from uare.degrade.severity import severity_from_strength
from uare.degrade.sharpen import usm_sharpen
from uare.degrade.single import PHYSICAL_ORDER, multi, single
from uare.degrade.types import (
    CATEGORY_TABLE,
    SINGLE_LEVELS,
    SINGLE_TYPES,
    STRENGTH_TABLE,
    TYPE_TABLE,
    TYPES,
    Category,
    DegradationType,
    pool_types,
)


def degrade(img: np.ndarray, pipeline: str = "single", types: list[str] | None = None, severity: int | None = None,
            scale: int = 1, seed: int | np.random.Generator | None = 0,
            pool: tuple[str, ...] | list[str] | None = None) -> tuple[np.ndarray, DegradationRecord]:
    """Degrade ``img`` with one of the pipelines.

    Args:
        img: HxW, HxWx1 or HxWx3 image, uint8 / uint16 or float in [0, 1].
        pipeline: a row of :data:`PIPELINE_TABLE`: ``single`` (one type), ``multi`` (2-3 types in physical
            order), ``realesrgan`` or ``apisr`` (these two draw their own types and strengths).
        types: type names (any of :data:`TYPES`); ``single`` takes one, ``multi`` 2-3; None = random.
        severity: level 1..5 for ``single`` / ``multi``; None = random.
        scale: 1, 2, 3 or 4; the output is exactly H/scale x W/scale of the mod-cropped input.
        seed: int seed or a Generator; the same seed gives the same output.
        pool: the types a random draw of ``single`` / ``multi`` chooses from (default: the default pool
            :data:`SINGLE_TYPES`; ``pool_types(["salt_pepper"])`` adds an opt-in type).

    Returns:
        The degraded image in the input's dtype and the record of what was applied.
    """
    return run_pipeline(img, pipeline, types, severity, scale, seed, pool)


__all__ = [
    "CATEGORIES", "CATEGORY_TABLE", "HIGHORDER_PIPELINES", "PHYSICAL_ORDER", "PIPELINES", "PIPELINE_TABLE", "SINGLE_LEVELS", "SINGLE_TYPES", "STRENGTH_TABLE",
    "TYPES", "TYPE_TABLE",
    "APISRConfig", "Category", "Curriculum", "DegradationRecord", "DegradationType", "Pipeline", "RealESRGANConfig",
    "Step",
    "add_gaussian_noise", "add_haze", "apisr", "add_poisson_noise", "add_rain", "add_salt_pepper", "apply_kernel", "defocus_blur", "degrade",
    "depth_proxy", "gaussian_blur", "jpeg_compress", "lowlight", "lowres", "modcrop", "motion_blur", "multi",
    "pool_types", "realesrgan", "resize", "sensor_noise", "severity_from_strength", "single", "sinc_filter", "sr_downsample",
    "usm_sharpen",
]
