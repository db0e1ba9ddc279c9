"""How visible a periodic block grid is (8-px JPEG blocks, or a latent model's 8-px generation tokens)."""

from __future__ import annotations

import numpy as np


def _luma(img: np.ndarray, period: int, name: str) -> np.ndarray:
    """Gray, RGB or RGBA (any dtype) as a float64 plane, larger than two periods per side."""
    g = np.asarray(img, dtype=np.float64)
    if g.ndim == 3:
        g = g[:, :, :3].mean(axis=2) if g.shape[2] >= 3 else g[:, :, 0]
    if g.ndim != 2 or min(g.shape) <= 2 * period:
        raise ValueError(f"{name} needs an image larger than {2 * period} px per side, got {np.shape(img)}")
    return g


def grid_ratio(img: np.ndarray, period: int = 8, offset: int = 0) -> float:
    """Mean |luma step| across the lines ``offset + k * period`` over the mean step across every other line.

    Steps are taken between neighbouring pixel columns (and rows): the step "across line x" is between
    columns x - 1 and x. Both orientations are pooled. 1.0 = block borders look like the rest of the image;
    a visible grid gives > 1 (the low-light target: <= 1.05). Gray, RGB or RGBA, any dtype.
    """
    g = _luma(img, period, "grid_ratio")
    if period < 2:
        raise ValueError(f"period must be >= 2, got {period}")
    on, off = [], []
    for d in (np.abs(np.diff(g, axis=1)), np.abs(np.diff(g, axis=0)).T):
        lines = np.arange(1, d.shape[1] + 1)  # d[:, i] is the step across line i + 1
        at = (lines - offset) % period == 0
        on.append(d[:, at].ravel())
        off.append(d[:, ~at].ravel())
    base = np.concatenate(off).mean()
    return float(np.concatenate(on).mean() / max(base, 1e-12))


def jpeg_blockiness(img: np.ndarray, period: int = 8) -> float:
    """How strongly the image shows a block grid of ``period`` px at any phase (JPEG's 8x8 blocks, also in
    a crop that moved the grid): per axis, the mean |luma step| across the lines of the strongest phase over
    the median over all phases; the smaller of the two axes (blocks are grids, not stripes).

    1.0 = no grid. Calibrated on training images (BSD200 / T91, 90 each, ``uare.degrade`` levels 3):
    clean / noise / blur / bicubic x4 at most 1.20 (median 1.01-1.05); JPEG quality 20: at least 1.22
    (median 1.64), quality 50: 80 % above 1.2, quality 70: 31 %, quality 90: none. Gray, RGB or RGBA.
    """
    g = _luma(img, period, "jpeg_blockiness")
    ratios = []
    for d in (np.abs(np.diff(g, axis=1)).mean(axis=0), np.abs(np.diff(g, axis=0)).mean(axis=1)):
        phase = (np.arange(d.size) + 1) % period
        prof = np.array([d[phase == k].mean() for k in range(period)])
        ratios.append(prof.max() / max(float(np.median(prof)), 1e-12))
    return float(min(ratios))
