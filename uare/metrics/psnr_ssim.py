"""PSNR and SSIM under the conventions that published restoration tables use.

Conventions (``convention=``):

``"basicsr"`` -- classical SR (BasicSR ``calculate_psnr/ssim(..., test_y_channel=True)``):
    Y of MATLAB ``rgb2ycbcr`` on [0, 255], **not rounded**, float64; ``crop_border`` pixels removed
    on each side, defaulting to ``scale`` (0 when neither is given). SSIM: 11x11 Gaussian window,
    sigma 1.5, 'valid' region, mean of the map (``calculate_ssim``). PSNR of identical images is
    ``inf`` (as BasicSR).
``"realisr"`` -- Real-ISR / diffusion SR (pyiqa ``psnr``/``ssim`` with ``test_y_channel=True,
    color_space='ycbcr'``, the OSEDiff/SeeSR scripts): no crop. PSNR on the unrounded Y scaled to
    [0, 1] with pyiqa's ``eps = 1e-8`` added to the MSE, so identical images give
    ``10 log10(1e8) = 80`` dB instead of ``inf`` (kept for parity with published tables). SSIM on
    Y x 255 **rounded to integers** (pyiqa rounds to mimic MATLAB), float64, Gaussian 11/1.5,
    'valid', the contrast-structure term clipped at 0 (pyiqa's ``relu``), no 2x downsampling
    (pyiqa's ``downsample=False`` default, unlike MATLAB ``ssim.m``).
``"rgb"`` -- restoration (denoise/derain/...): all channels. PSNR from the MSE pooled over all
    channels (= BasicSR, pyiqa ``psnr``, ``skimage.metrics.peak_signal_noise_ratio``); SSIM per
    channel as ``"basicsr"`` does it, then the mean over channels. Identical images -> ``inf``.
``"yiq"`` -- pyiqa's *defaults* (``psnry``, ``ssim``): as ``"realisr"`` but with Y of YIQ.

Gray input (one channel) skips the colour conversion in every convention. ``crop_border`` may
be given for every convention; ``scale`` only sets the default crop of ``"basicsr"``.
"""

from __future__ import annotations

from typing import Any, Literal

import cv2
import numpy as np

from uare.metrics._input import crop, finish, pair_to_nhwc255
from uare.metrics.color import luminance_nhwc

Convention = Literal["basicsr", "realisr", "rgb", "yiq"]
CONVENTIONS: tuple[str, ...] = ("basicsr", "realisr", "rgb", "yiq")

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03
#: pyiqa's epsilon in the PSNR denominator (MSE of [0, 1] data).
PYIQA_PSNR_EPS = 1e-8


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 2-D Gaussian (MATLAB ``fspecial('gaussian')`` = outer product of OpenCV's 1-D one)."""
    k = cv2.getGaussianKernel(size, sigma, cv2.CV_64F)
    return k @ k.T


def _valid_filter(plane: np.ndarray, kernel_1d: np.ndarray) -> np.ndarray:
    """Separable correlation keeping only the 'valid' region (border handling cannot leak in)."""
    r = kernel_1d.shape[0] // 2
    out = cv2.sepFilter2D(plane, cv2.CV_64F, kernel_1d, kernel_1d, borderType=cv2.BORDER_REFLECT_101)
    return out[r:-r, r:-r] if r else out


def ssim_maps(
    x: np.ndarray, y: np.ndarray, data_range: float = 255.0, *, clip_cs: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """SSIM and contrast-structure maps of two float64 2-D planes ('valid' region).

    ``clip_cs`` applies pyiqa's ``relu`` to the contrast-structure term (keeps SSIM >= 0).
    """
    if min(x.shape) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {x.shape}")
    k = cv2.getGaussianKernel(SSIM_WINDOW, SSIM_SIGMA, cv2.CV_64F)
    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    mu1 = _valid_filter(x, k)
    mu2 = _valid_filter(y, k)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = _valid_filter(x * x, k) - mu1_sq
    s2 = _valid_filter(y * y, k) - mu2_sq
    s12 = _valid_filter(x * y, k) - mu12
    cs = (2.0 * s12 + c2) / (s1 + s2 + c2)
    if clip_cs:
        cs = np.maximum(cs, 0.0)
    return (2.0 * mu12 + c1) / (mu1_sq + mu2_sq + c1) * cs, cs


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")


def _border(convention: str, crop_border: int | None, scale: int | None) -> int:
    if crop_border is not None:
        return int(crop_border)
    if convention == "basicsr" and scale is not None:
        return int(scale)  # BasicSR evaluates SR with crop_border = scale
    return 0


def _prepare(
    img: Any, ref: Any, convention: str, crop_border: int | None, scale: int | None, *, for_ssim: bool
) -> tuple[np.ndarray, np.ndarray, bool]:
    _check_convention(convention)
    x, y, batched = pair_to_nhwc255(img, ref)
    b = _border(convention, crop_border, scale)
    x, y = crop(x, b), crop(y, b)
    if convention == "basicsr":
        x, y = luminance_nhwc(x, "ycbcr"), luminance_nhwc(y, "ycbcr")
    elif convention in ("realisr", "yiq"):
        space = "ycbcr" if convention == "realisr" else "yiq"
        # pyiqa rounds Y to integers only on the SSIM path (data_range 255); PSNR stays unrounded.
        x, y = luminance_nhwc(x, space, round_=for_ssim), luminance_nhwc(y, space, round_=for_ssim)
    return x, y, batched


def psnr(
    img: Any,
    ref: Any,
    *,
    convention: Convention = "basicsr",
    crop_border: int | None = None,
    scale: int | None = None,
) -> float | np.ndarray:
    """Peak signal-to-noise ratio in dB (higher is better).

    Args:
        img: distorted/restored image(s): numpy ``HxW``/``HxWxC``/``NxHxWxC`` (uint8 [0, 255],
            uint16, or float [0, 1]) or torch ``CxHxW``/``BxCxHxW`` in [0, 1]; RGB channel order.
        ref: reference image(s), same shape.
        convention: ``"basicsr"``, ``"realisr"``, ``"rgb"`` or ``"yiq"`` (see the module docstring).
        crop_border: pixels removed on each side before the computation.
        scale: SR factor; the default ``crop_border`` of ``"basicsr"``.

    Returns:
        A float for one image, an array of shape ``(N,)`` for a batch. Identical images give
        ``inf`` (``"basicsr"``, ``"rgb"``) or 80 dB (``"realisr"``, ``"yiq"``, pyiqa's epsilon).

    Raises:
        ValueError: unknown convention, shape mismatch, bad dtype/shape/range, empty input.
    """
    x, y, batched = _prepare(img, ref, convention, crop_border, scale, for_ssim=False)
    mse = np.mean((x - y) ** 2, axis=(1, 2, 3))
    if convention in ("realisr", "yiq"):
        # pyiqa works on [0, 1] data: PSNR = 10 log10(1 / (mse01 + eps)).
        vals = 10.0 * np.log10(1.0 / (mse / 255.0**2 + PYIQA_PSNR_EPS))
    else:
        with np.errstate(divide="ignore"):
            vals = np.where(mse == 0, np.inf, 10.0 * np.log10(255.0**2 / np.maximum(mse, 1e-300)))
    return finish(vals, batched)


def ssim(
    img: Any,
    ref: Any,
    *,
    convention: Convention = "basicsr",
    crop_border: int | None = None,
    scale: int | None = None,
    downsample: bool = False,
) -> float | np.ndarray:
    """Structural similarity (Wang et al. 2004), 11x11 Gaussian window, sigma 1.5, valid region.

    Args and input formats as :func:`psnr`. ``downsample=True`` first averages
    ``f x f`` blocks with ``f = max(1, round(min(H, W) / 256))``, as MATLAB ``ssim.m`` and pyiqa's
    ``downsample=True`` do (off by default, like pyiqa and BasicSR). Multi-channel data (``"rgb"`` convention or gray
    batches) is scored per channel and averaged over channels.

    Returns:
        A float (one image) or an ``(N,)`` array (batch); identical images give 1.
    """
    x, y, batched = _prepare(img, ref, convention, crop_border, scale, for_ssim=True)
    clip = convention in ("realisr", "yiq")
    f = max(1, round(min(x.shape[1:3]) / 256))
    if downsample and f > 1:
        h, w = x.shape[1] // f, x.shape[2] // f
        x = x[:, : h * f, : w * f].reshape(x.shape[0], h, f, w, f, -1).mean(axis=(2, 4))
        y = y[:, : h * f, : w * f].reshape(y.shape[0], h, f, w, f, -1).mean(axis=(2, 4))
    n, _, _, c = x.shape
    vals = np.empty((n, c))
    for i in range(n):
        for j in range(c):
            smap, _ = ssim_maps(x[i, :, :, j], y[i, :, :, j], clip_cs=clip)
            vals[i, j] = smap.mean()
    return finish(vals.mean(axis=1), batched)
