"""Tiled processing with overlap blending: bounded memory and no visible seams.

The output is cut into tiles of ``tile`` pixels that overlap by ``overlap``; each tile is processed
on its own and written into the output with a weight that ramps linearly from 0 to 1 across every
overlap shared with a neighbour (and stays 1 on the image border), so neighbouring tiles cross-fade.
Tile origins are multiples of ``align`` (16 px: one generation token), so a tile's latent grid lines
up with the whole image's, and noise drawn for the whole image can be cropped per tile; the last
tile of each row and column stretches to the image edge (up to ``tile + align - 1`` px).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


def _starts(size: int, tile: int, step: int, align: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, step))
    last = size - tile
    last -= last % align
    if not starts or starts[-1] < last:
        starts.append(last)
    return sorted(set(starts))


def windows(h: int, w: int, tile: int, overlap: int, align: int = 16) -> list[Window]:
    """Tiles covering an h x w output; origins on the ``align`` grid, neighbours overlapping >= ``overlap``."""
    if tile <= 0 or overlap < 0 or overlap >= tile:
        raise ValueError(f"need 0 <= overlap < tile, got tile {tile}, overlap {overlap}")
    if tile % align:
        raise ValueError(f"tile size {tile} must be a multiple of {align}")
    step = max(align, (tile - overlap) // align * align)
    ys, xs = _starts(h, tile, step, align), _starts(w, tile, step, align)
    # the last tile of a row / column is aligned down, so it stretches to the edge (< tile + align px)
    return [Window(y, h if y == ys[-1] else y + tile, x, w if x == xs[-1] else x + tile) for y in ys for x in xs]


def _ramp(n: int, lo_overlap: int, hi_overlap: int) -> np.ndarray:
    r = np.ones(n, np.float32)
    if lo_overlap > 0:
        r[:lo_overlap] = (np.arange(lo_overlap, dtype=np.float32) + 0.5) / lo_overlap
    if hi_overlap > 0:
        r[n - hi_overlap:] = np.minimum(r[n - hi_overlap:], (np.arange(hi_overlap, 0, -1, dtype=np.float32) - 0.5)
                                        / hi_overlap)
    return r


def blend_weight(win: Window, all_windows: list[Window]) -> np.ndarray:
    """Weight of one tile: linear ramps across the overlaps it shares with its neighbours."""
    top = max((w.y1 - win.y0 for w in all_windows if w.y0 < win.y0 < w.y1 and _xo(w, win)), default=0)
    bottom = max((win.y1 - w.y0 for w in all_windows if w.y0 < win.y1 < w.y1 and _xo(w, win)), default=0)
    left = max((w.x1 - win.x0 for w in all_windows if w.x0 < win.x0 < w.x1 and _yo(w, win)), default=0)
    right = max((win.x1 - w.x0 for w in all_windows if w.x0 < win.x1 < w.x1 and _yo(w, win)), default=0)
    h, w = win.shape
    return _ramp(h, top, bottom)[:, None] * _ramp(w, left, right)[None, :]


def _xo(a: Window, b: Window) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1


def _yo(a: Window, b: Window) -> bool:
    return a.y0 < b.y1 and b.y0 < a.y1


def process_tiled(shape: tuple[int, int, int], fn: Callable[[Window], np.ndarray], tile: int, overlap: int,
                  align: int = 16, progress: Callable[[int, int], None] | None = None,
                  stats: dict | None = None) -> tuple[np.ndarray, int]:
    """Run ``fn(window) -> HxWxC float`` on every tile of an output of ``shape`` and blend the results.

    Memory is the output, one weight plane and one tile's working set. Returns (output, tile count).
    With ``stats`` (a dict), ``stats["disagreement"]`` receives how much neighbouring tiles disagree
    where they overlap: the mean absolute difference of their low-passed outputs (Gaussian, sigma 3 px,
    so texture is averaged out and colour or exposure differences remain), in the output's units. Tiles
    that agree cannot leave a seam, however they are blended.
    """
    h, w, c = shape
    wins = windows(h, w, tile, overlap, align)
    acc = np.zeros((h, w, c), np.float32)
    wsum = np.zeros((h, w, 1), np.float32)
    diffs: list[float] = []
    for i, win in enumerate(wins):
        out = fn(win)
        if out.shape[:2] != win.shape:
            raise AssertionError(f"tile function returned {out.shape[:2]} for a {win.shape} window")
        if stats is not None:
            seen = wsum[win.y0:win.y1, win.x0:win.x1, 0] > 0
            if seen.any():
                prior = acc[win.y0:win.y1, win.x0:win.x1] / np.maximum(wsum[win.y0:win.y1, win.x0:win.x1], 1e-8)
                prior = np.where(seen[:, :, None], prior, out)  # unseen pixels: the same in both
                d = np.abs(_low(out) - _low(prior)).mean(axis=2)[seen]
                diffs.append(float(d.mean()))
        wt = blend_weight(win, wins)[:, :, None]
        acc[win.y0:win.y1, win.x0:win.x1] += out * wt
        wsum[win.y0:win.y1, win.x0:win.x1] += wt
        if progress is not None:
            progress(i + 1, len(wins))
    if stats is not None:
        stats["disagreement"] = float(np.mean(diffs)) if diffs else 0.0
    return acc / np.maximum(wsum, 1e-8), len(wins)


def _low(x: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(np.ascontiguousarray(x, dtype=np.float32), (0, 0), 3.0, borderType=cv2.BORDER_REFLECT)


def seam_ratio(img: np.ndarray, wins: list[Window]) -> dict[str, float]:
    """How visible the tile seams of a tiled output are: gradient at tile borders and in overlaps vs elsewhere.

    ``edge``: mean |luma step| across the lines where a tile starts or ends (inside the image) over the
    mean step across every other line of the same orientation; ``band``: the mean |gradient| inside the
    overlap bands over that outside them. 1.0 = the borders look like the rest of the image; a hard
    seam shows as ``edge`` >> 1, a soft one (tiles that disagree in colour or exposure, cross-faded) as
    ``band`` > 1. Returns both (the larger of the horizontal and vertical values) plus the line counts.
    """
    g = np.asarray(img, dtype=np.float64)
    if g.ndim == 3:
        g = g[:, :, :3].mean(axis=2) if g.shape[2] >= 3 else g[:, :, 0]
    import cv2

    h, w = g.shape
    low = cv2.GaussianBlur(g, (0, 0), 3.0, borderType=cv2.BORDER_REFLECT)
    dx = np.abs(np.diff(g, axis=1))  # dx[:, x - 1] = step between columns x - 1 and x
    dy = np.abs(np.diff(g, axis=0))
    lx, ly = np.abs(np.diff(low, axis=1)), np.abs(np.diff(low, axis=0))
    out = {"edge": 0.0, "band": 0.0, "lines": 0}
    for d, ld, size, lo, hi in ((dx, lx, w, "x0", "x1"), (dy.T, ly.T, h, "y0", "y1")):
        cuts = sorted({getattr(v, lo) for v in wins if getattr(v, lo) > 0}
                      | {getattr(v, hi) for v in wins if getattr(v, hi) < size})
        if not cuts:
            continue
        edge_idx = np.array([c - 1 for c in cuts])
        rest = np.setdiff1d(np.arange(size - 1), edge_idx)
        band = np.zeros(size - 1, bool)
        for v in wins:
            a0, a1 = getattr(v, lo), getattr(v, hi)
            for u in wins:
                b0, b1 = getattr(u, lo), getattr(u, hi)
                if u is not v and b0 < a0 < b1:  # v starts inside u: the overlap is [a0, min(a1, b1))
                    band[a0:min(a1, b1) - 1] = True
        base = d[:, rest].mean() if rest.size else 1.0
        out["edge"] = max(out["edge"], float(d[:, edge_idx].mean() / max(base, 1e-12)))
        if band.any() and (~band).any():
            out["band"] = max(out["band"], float(ld[:, band].mean() / max(ld[:, ~band].mean(), 1e-12)))
        out["lines"] += len(cuts)
    if not out["lines"]:
        out.update(edge=1.0, band=1.0)
    return out
