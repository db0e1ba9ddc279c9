"""How visible a periodic block grid is (8-px JPEG blocks, or a latent model's 8-px generation tokens)."""

from __future__ import annotations

import numpy as np


def grid_ratio(img: np.ndarray, period: int = 8, offset: int = 0) -> float:
    """Mean |luma step| across the lines ``offset + k * period`` over the mean step across every other line.

    Steps are taken between neighbouring pixel columns (and rows): the step "across line x" is between
    columns x - 1 and x. Both orientations are pooled. 1.0 = block borders look like the rest of the image;
    a visible grid gives > 1 (the low-light target: <= 1.05). Gray, RGB or RGBA, any dtype.
    """
    g = np.asarray(img, dtype=np.float64)
    if g.ndim == 3:
        g = g[:, :, :3].mean(axis=2) if g.shape[2] >= 3 else g[:, :, 0]
    if g.ndim != 2 or min(g.shape) <= 2 * period:
        raise ValueError(f"grid_ratio needs an image larger than {2 * period} px per side, got {np.shape(img)}")
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
