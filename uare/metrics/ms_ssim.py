"""Multi-scale SSIM (Wang, Simoncelli & Bovik, Asilomar 2003) as pyiqa computes it.

We follow pyiqa's ``ms_ssim`` (the toolbox behind the Real-ISR tables and the calibration values
in ``ResultsCalibra``) rather than piq, because piq scores each RGB channel and first averages
large images down by ``round(min(H, W) / 256)``, while pyiqa works on one luminance channel:

* luminance: Y of YIQ (default) or of MATLAB YCbCr, scaled to [0, 255] and rounded;
* five scales with the standard weights ``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``;
* per scale: SSIM with the 11x11 Gaussian (sigma 1.5), 'valid' region, contrast-structure term
  clipped at 0; between scales a 2x2 average pool, zero-padding odd sizes by one pixel on each
  side with the padding counted in the average (``F.avg_pool2d(padding=(H % 2, W % 2))``);
* result ``prod_{s<5} cs_s ** w_s * ssim_5 ** w_5``.

For even sizes down to the coarsest scale the pooling equals MATLAB ``msssim.m``'s
``imfilter(ones(2)/4)`` + decimation; the reference values differ from the MATLAB ones by < 1 %
(see the parity tests). The smallest side must be at least 11 * 2**4 = 176 pixels.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from uare.metrics._input import finish, pair_to_nhwc255
from uare.metrics.color import luminance_nhwc
from uare.metrics.psnr_ssim import SSIM_WINDOW, ssim_maps

#: Wang et al. 2003 scale weights, finest scale first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _avg_pool2(x: np.ndarray) -> np.ndarray:
    """2x2 average pooling with pyiqa's padding rule (zeros counted in the mean)."""
    ph, pw = x.shape[0] % 2, x.shape[1] % 2
    if ph or pw:
        x = np.pad(x, ((ph, ph), (pw, pw)))
    h2, w2 = x.shape[0] // 2, x.shape[1] // 2
    x = x[: 2 * h2, : 2 * w2]
    return x.reshape(h2, 2, w2, 2).mean(axis=(1, 3))


def _ms_ssim_plane(x: np.ndarray, y: np.ndarray, weights: tuple[float, ...]) -> float:
    cs_vals: list[float] = []
    ssim_last = 0.0
    for level in range(len(weights)):
        smap, cs = ssim_maps(x, y, clip_cs=True)
        cs_vals.append(float(cs.mean()))
        ssim_last = float(smap.mean())
        if level < len(weights) - 1:
            x, y = _avg_pool2(x), _avg_pool2(y)
    w = np.asarray(weights)
    return float(np.prod(np.asarray(cs_vals[:-1]) ** w[:-1]) * ssim_last ** w[-1])


def ms_ssim(
    img: Any,
    ref: Any,
    *,
    color_space: Literal["yiq", "ycbcr"] = "yiq",
    weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
) -> float | np.ndarray:
    """Multi-scale SSIM of ``img`` against ``ref`` (higher is better, 1 for identical images).

    Args:
        img: distorted image(s), in any format :func:`uare.metrics.psnr` accepts.
        ref: reference image(s), same shape.
        color_space: luminance used for RGB input, ``"yiq"`` (pyiqa default) or ``"ycbcr"``.
        weights: per-scale exponents, finest first; their number sets the number of scales.

    Returns:
        A float (one image) or an ``(N,)`` array (batch).

    Raises:
        ValueError: bad inputs, or images too small for the number of scales.
    """
    x, y, batched = pair_to_nhwc255(img, ref)
    min_side = SSIM_WINDOW * 2 ** (len(weights) - 1)
    if min(x.shape[1:3]) < min_side:
        raise ValueError(
            f"ms_ssim with {len(weights)} scales needs images of at least {min_side} px per side, "
            f"got {x.shape[1]}x{x.shape[2]}"
        )
    x = luminance_nhwc(x, color_space, round_=True)
    y = luminance_nhwc(y, color_space, round_=True)
    vals = [_ms_ssim_plane(x[i, :, :, 0], y[i, :, :, 0], tuple(weights)) for i in range(x.shape[0])]
    return finish(np.asarray(vals), batched)
