"""MATLAB-compatible helpers for NIQE and BRISQUE: ``imresize`` (bicubic, antialiased) and
``fspecial('gaussian')``, written from MATLAB's documented algorithm."""

from __future__ import annotations

import math

import numpy as np


def fspecial_gaussian(size: int, sigma: float) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)``: normalised, tiny tails set to 0."""
    r = (size - 1) / 2.0
    ax = np.arange(-r, r + 1)
    h = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2.0 * sigma * sigma))
    h[h < np.finfo(h.dtype).eps * h.max()] = 0.0
    return h / h.sum()


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic kernel with a = -0.5 (MATLAB's 'bicubic')."""
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


def _resize_matrix(in_len: int, scale: float, antialias: bool) -> np.ndarray:
    """Dense ``(out_len, in_len)`` matrix applying MATLAB's 1-D bicubic resampling."""
    out_len = math.ceil(in_len * scale)
    width = 4.0
    if scale < 1 and antialias:
        # Stretch the kernel to low-pass before decimation, as MATLAB does.
        width = width / scale

        def kernel(t: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * t)
    else:
        kernel = _cubic
    out_x = np.arange(1, out_len + 1, dtype=np.float64)
    u = out_x / scale + 0.5 * (1.0 - 1.0 / scale)  # output -> input coordinate (1-based)
    left = np.floor(u - width / 2.0)
    taps = math.ceil(width) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    w = kernel(u[:, None] - idx)
    w = w / w.sum(axis=1, keepdims=True)
    # Mirror out-of-range taps (MATLAB: aux = [1:n, n:-1:1]).
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    idx0 = aux[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    mat = np.zeros((out_len, in_len))
    rows = np.repeat(np.arange(out_len), taps)
    np.add.at(mat, (rows, idx0.ravel()), w.ravel())
    return mat


def imresize(img: np.ndarray, scale: float, antialias: bool = True) -> np.ndarray:
    """MATLAB ``imresize(img, scale, 'bicubic')`` of a 2-D float array (no rounding or clipping)."""
    if img.ndim != 2:
        raise ValueError(f"imresize expects a 2-D array, got shape {img.shape}")
    mh = _resize_matrix(img.shape[0], scale, antialias)
    mw = _resize_matrix(img.shape[1], scale, antialias)
    return mh @ img @ mw.T
