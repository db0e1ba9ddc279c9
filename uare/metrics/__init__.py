"""Image quality metrics with the conventions of published restoration and IQA tables.

Full-reference: :func:`psnr`, :func:`ssim` (conventions ``basicsr``/``realisr``/``rgb``/``yiq``),
:func:`ms_ssim`. No-reference: :func:`niqe`, :func:`brisque`. Evaluation: :func:`srcc`,
:func:`plcc`, :func:`krcc`, :func:`logistic4`. Luminance: :func:`rgb_to_y`.
"""

from uare.metrics.brisque import BrisqueModel, brisque, load_libsvm_model
from uare.metrics.color import rgb_to_y
from uare.metrics.correlation import fit_logistic4, krcc, logistic4, plcc, srcc
from uare.metrics.ms_ssim import MS_SSIM_WEIGHTS, ms_ssim
from uare.metrics.niqe import niqe
from uare.metrics.psnr_ssim import CONVENTIONS, psnr, ssim

__all__ = [
    "CONVENTIONS",
    "MS_SSIM_WEIGHTS",
    "BrisqueModel",
    "brisque",
    "fit_logistic4",
    "krcc",
    "load_libsvm_model",
    "logistic4",
    "ms_ssim",
    "niqe",
    "plcc",
    "psnr",
    "rgb_to_y",
    "srcc",
    "ssim",
]
