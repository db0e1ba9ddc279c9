"""NIQE -- Natural Image Quality Evaluator (Mittal, Soundararajan & Bovik, IEEE SPL 2013).

Lower is better. Re-implemented in numpy following the algorithm as BasicSR and pyiqa run it:

* luminance rounded to integers in [0, 255]: Y of YIQ (pyiqa ``niqe``, default here) or Y of MATLAB
  YCbCr (BasicSR ``calculate_niqe``); gray input is used as is; no border crop;
* the image is cut to a whole number of 96x96 blocks (top-left kept);
* two scales; at each, MSCN coefficients with a 7x7 Gaussian (sigma 7/6, replicated border,
  ``(I - mu) / (sigma + 1)``), 18 features per block (AGGD fits of the coefficients and of their
  products with the horizontal, vertical and two diagonal neighbours, each block rolled
  circularly), then MATLAB ``imresize(0.5, 'bicubic')`` with antialiasing for the next scale;
* the blocks' multivariate Gaussian (``nanmean``, covariance of rows without NaN) is compared with
  the pristine model: ``sqrt((mu_p - mu_d)^T pinv((C_p + C_d) / 2) (mu_p - mu_d))``.

The pristine model ships as ``data/niqe_pris_params.npz``: the standard parameters released with
the official MATLAB NIQE (LIVE, UT Austin), as redistributed in BasicSR 1.4.2
(``basicsr/metrics/niqe_pris_params.npz``, Apache-2.0); see ``data/NOTICE.md``.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any, Literal

import cv2
import numpy as np
from scipy.special import gammaln

from uare.metrics._input import finish, to_nhwc255
from uare.metrics._matlab import fspecial_gaussian, imresize
from uare.metrics.color import luminance_nhwc

BLOCK = 96
_GAM = np.arange(0.2, 10.001, 0.001)
# AGGD ratio table Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)); monotone in a, matched by nearest value.
_R_GAM = np.exp(2 * gammaln(2 / _GAM) - gammaln(1 / _GAM) - gammaln(3 / _GAM))
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


@functools.cache
def pristine_params() -> tuple[np.ndarray, np.ndarray]:
    """The standard NIQE pristine model: mean ``(36,)`` and covariance ``(36, 36)``."""
    with resources.files("uare.metrics").joinpath("data/niqe_pris_params.npz").open("rb") as f:
        z = np.load(f)
        return z["mu_pris_param"].copy(), z["cov_pris_param"].copy()


def mscn(
    img: np.ndarray, window: np.ndarray, c: float = 1.0, border: int = cv2.BORDER_REPLICATE
) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients ``(I - mu) / (sigma + c)``."""
    mu = cv2.filter2D(img, cv2.CV_64F, window, borderType=border)
    var = cv2.filter2D(img * img, cv2.CV_64F, window, borderType=border) - mu * mu
    return (img - mu) / (np.sqrt(np.abs(var)) + c)


def aggd_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moment-matching AGGD fit over the last two axes: ``(alpha, left_std, right_std)``.

    NaN appears (as in MATLAB/BasicSR) for a sample with no negative or no positive value.
    """
    flat = x.reshape(x.shape[0], -1)
    neg, pos = flat < 0, flat > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.sqrt((np.where(neg, flat, 0.0) ** 2).sum(1) / neg.sum(1))
        right = np.sqrt((np.where(pos, flat, 0.0) ** 2).sum(1) / pos.sum(1))
        gh = left / right
        rhat = np.abs(flat).mean(1) ** 2 / (flat**2).mean(1)
        rnorm = rhat * (gh**3 + 1) * (gh + 1) / (gh**2 + 1) ** 2
    idx = np.argmin(np.abs(_R_GAM[None, :] - np.nan_to_num(rnorm, nan=np.inf)[:, None]), axis=1)
    alpha = np.where(np.isfinite(rnorm), _GAM[idx], np.nan)
    return alpha, left, right


def _block_features(blocks: np.ndarray) -> np.ndarray:
    """18 NIQE features for each block in ``(nb, h, w)``."""
    alpha, left, right = aggd_fit(blocks)
    g = np.sqrt(np.exp(gammaln(1 / alpha) - gammaln(3 / alpha)))
    feats = [alpha, (left + right) * g / 2]
    for sh in _SHIFTS:
        prod = blocks * np.roll(blocks, sh, axis=(1, 2))
        alpha, left, right = aggd_fit(prod)
        g = np.sqrt(np.exp(gammaln(1 / alpha) - gammaln(3 / alpha)))
        bl, br = left * g, right * g
        mean = (br - bl) * np.exp(gammaln(2 / alpha) - gammaln(1 / alpha))
        feats += [alpha, mean, bl, br]
    return np.stack(feats, axis=1)


def _to_blocks(img: np.ndarray, bh: int, bw: int) -> np.ndarray:
    nh, nw = img.shape[0] // bh, img.shape[1] // bw
    return img[: nh * bh, : nw * bw].reshape(nh, bh, nw, bw).transpose(0, 2, 1, 3).reshape(-1, bh, bw)


def niqe_plane(y: np.ndarray, mu_p: np.ndarray | None = None, cov_p: np.ndarray | None = None) -> float:
    """NIQE of one 2-D luminance plane in [0, 255] (already rounded as the convention requires)."""
    if mu_p is None or cov_p is None:
        mu_p, cov_p = pristine_params()
    h, w = y.shape
    nh, nw = h // BLOCK, w // BLOCK
    if nh < 1 or nw < 1:
        raise ValueError(f"NIQE needs an image of at least {BLOCK}x{BLOCK}, got {h}x{w}")
    img = np.ascontiguousarray(y[: nh * BLOCK, : nw * BLOCK], dtype=np.float64)
    window = fspecial_gaussian(7, 7.0 / 6.0)
    feats = []
    for scale in (1, 2):
        norm = mscn(img, window)
        feats.append(_block_features(_to_blocks(norm, BLOCK // scale, BLOCK // scale)))
        if scale == 1:
            img = np.ascontiguousarray(imresize(img / 255.0, 0.5) * 255.0)
    dist = np.concatenate(feats, axis=1)
    mu_d = np.nanmean(dist, axis=0)
    rows = dist[~np.isnan(dist).any(axis=1)]
    # One block gives no covariance; fall back to zeros (the pristine covariance then dominates).
    cov_d = np.cov(rows, rowvar=False) if rows.shape[0] > 1 else np.zeros_like(cov_p)
    diff = mu_p - mu_d
    q = diff @ np.linalg.pinv((cov_p + cov_d) / 2.0) @ diff
    return float(np.sqrt(q))


def niqe(
    img: Any, *, color_space: Literal["yiq", "ycbcr"] = "yiq", crop_border: int = 0
) -> float | np.ndarray:
    """NIQE score (lower is better) of one image or a batch.

    Args:
        img: image(s) in any format :func:`uare.metrics.psnr` accepts, at least 96x96.
        color_space: luminance for RGB input: ``"yiq"`` (pyiqa ``niqe``) or ``"ycbcr"``
            (BasicSR ``calculate_niqe``).
        crop_border: pixels removed on each side first (0 in pyiqa and in our parity tests).

    Returns:
        A float (one image) or an ``(N,)`` array (batch).
    """
    x, batched = to_nhwc255(img)
    x = luminance_nhwc(x, color_space, round_=True)
    if crop_border:
        x = x[:, crop_border:-crop_border, crop_border:-crop_border]
    return finish(np.array([niqe_plane(x[i, :, :, 0]) for i in range(x.shape[0])]), batched)
