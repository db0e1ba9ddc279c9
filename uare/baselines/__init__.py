"""Baselines: classical restorers, optional Real-ESRGAN, the UARE adapters and NR-IQA scorers.

One interface each: a :class:`Restorer` is called as ``restorer(img, setting)`` on a uint8 RGB
image and returns the restored uint8 RGB image (``setting.scale`` times larger); a :class:`Scorer`
is called as ``scorer(img)`` and returns a quality score where higher is better.
"""

from __future__ import annotations

from uare.baselines.base import TASKS, BaselineUnavailable, Restorer, Scorer, Setting, check_rgb_u8
from uare.baselines.classical import (
    auto_gamma,
    back_projection,
    bicubic_up,
    clahe_enhance,
    classical_chain,
    classical_restorers,
    dcp_dehaze,
    estimate_noise_sigma,
    gaussian_psf,
    guided_filter,
    jpeg_deblock,
    nlm_denoise,
    richardson_lucy,
    wiener_deconv,
)
from uare.baselines.external import RealESRGANNcnn, UARERestorer, UAREScorer
from uare.baselines.scorers import SCORER_NAMES, NegatedMetric, get_scorer

#: names accepted by :func:`get_restorer`
RESTORER_NAMES: tuple[str, ...] = (*classical_restorers(), "realesrgan", "uare")


def get_restorer(name: str, model_path: str | None = None, device: str = "cpu") -> Restorer:
    """A restorer by name (see :data:`RESTORER_NAMES`); ``uare`` loads the model from ``model_path``."""
    table = classical_restorers()
    if name in table:
        return table[name]
    if name == "realesrgan":
        return RealESRGANNcnn(gpuid=0 if device != "cpu" else -1)
    if name == "uare":
        return UARERestorer(model_path, device)
    raise ValueError(f"unknown restorer {name!r}; choose from {', '.join(RESTORER_NAMES)}")


__all__ = [
    "RESTORER_NAMES", "SCORER_NAMES", "TASKS",
    "BaselineUnavailable", "NegatedMetric", "RealESRGANNcnn", "Restorer", "Scorer", "Setting", "UARERestorer",
    "UAREScorer",
    "auto_gamma", "back_projection", "bicubic_up", "check_rgb_u8", "clahe_enhance", "classical_chain",
    "classical_restorers", "dcp_dehaze", "estimate_noise_sigma", "gaussian_psf", "get_restorer", "get_scorer",
    "guided_filter", "jpeg_deblock", "nlm_denoise", "richardson_lucy", "wiener_deconv",
]
