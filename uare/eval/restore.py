"""``uare eval restore``: metrics of a folder of restored images against a folder of ground truths.

Files are paired by stem (``0801.png`` with ``0801.jpg``). Every problem is collected and reported
together as one :class:`~uare.errors.UareError` (exit code 2), never skipped silently: stems present
on one side only, duplicate stems, unreadable files, and size mismatches. One mismatch is tolerated
and noted: with ``scale`` > 1 a ground truth at most ``scale - 1`` pixels larger than the prediction
in each dimension is the un-mod-cropped original and is cropped top-left to the prediction's size.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from uare.baselines.base import check_rgb_u8
from uare.errors import ImageReadError, UareError
from uare.eval.metricset import Metric
from uare.io import iter_inputs, read_image, to_uint8

_MAX_LISTED = 8


def _listing(items: list[str]) -> str:
    more = f" (and {len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else ""
    return ", ".join(items[:_MAX_LISTED]) + more


def _by_stem(folder: Path, what: str) -> dict[str, Path]:
    files = iter_inputs(folder)
    if not Path(folder).is_dir():
        raise UareError(f"{folder}: --{what} must be a folder of images")
    out: dict[str, Path] = {}
    dups: list[str] = []
    for p in files:
        if p.stem in out:
            dups.append(f"{out[p.stem].name}/{p.name}")
        out[p.stem] = p
    if dups:
        raise UareError(f"{folder}: several files share a stem, so pairing is ambiguous: {_listing(dups)}")
    return out


def pair_folders(pred: str | Path, gt: str | Path) -> list[tuple[str, Path, Path]]:
    """(stem, prediction, ground truth) for every stem, in name order; unmatched stems raise."""
    p, g = _by_stem(Path(pred), "pred"), _by_stem(Path(gt), "gt")
    only_p, only_g = sorted(set(p) - set(g)), sorted(set(g) - set(p))
    problems = []
    if only_g:
        problems.append(f"{len(only_g)} ground truth(s) without a prediction in {pred}: {_listing(only_g)}")
    if only_p:
        problems.append(f"{len(only_p)} prediction(s) without a ground truth in {gt}: {_listing(only_p)}")
    if problems:
        raise UareError("file lists differ by stem; " + "; ".join(problems))
    return [(s, p[s], g[s]) for s in sorted(p)]


def _header_size(path: Path) -> tuple[int, int]:
    """(height, width) from the header, after the EXIF orientation (as :func:`read_image` returns it)."""
    with Image.open(path) as im:
        w, h = im.size
        try:
            orientation = int(im.getexif().get(0x0112, 1))
        except Exception:  # noqa: BLE001 - a broken EXIF block: read_image ignores it too
            orientation = 1
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def _load_rgb(path: Path) -> np.ndarray:
    px = read_image(path).pixels
    return check_rgb_u8(to_uint8(px) if px.dtype != np.uint8 else px)


@dataclass
class RestoreEval:
    """Per-image metric rows, their means and the notes on any tolerated adjustment."""

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def check_pairs(pairs: list[tuple[str, Path, Path]], scale: int) -> list[str]:
    """Check that every pair is readable and the same size (see the module doc); return notes."""
    unreadable: list[str] = []
    mismatched: list[str] = []
    notes: list[str] = []
    for stem, p, g in pairs:
        try:
            sp = _header_size(p)
        except Exception:  # noqa: BLE001 - any failure to identify the file is a user problem
            unreadable.append(p.name)
            continue
        try:
            sg = _header_size(g)
        except Exception:  # noqa: BLE001
            unreadable.append(g.name)
            continue
        if sp == sg:
            continue
        dh, dw = sg[0] - sp[0], sg[1] - sp[1]
        if scale > 1 and 0 <= dh < scale and 0 <= dw < scale:
            notes.append(f"{stem}: ground truth {sg[0]}x{sg[1]} cropped to {sp[0]}x{sp[1]} (mod-crop by {scale})")
        else:
            mismatched.append(f"{stem} (pred {sp[0]}x{sp[1]}, gt {sg[0]}x{sg[1]})")
    problems = []
    if unreadable:
        problems.append(f"{len(unreadable)} unreadable file(s): {_listing(unreadable)}")
    if mismatched:
        problems.append(f"{len(mismatched)} size mismatch(es): {_listing(mismatched)}")
    if problems:
        raise UareError("cannot evaluate; " + "; ".join(problems))
    return notes


def mean_summary(rows: list[dict[str, Any]], names: list[str]) -> dict[str, float]:
    """Mean of each metric over rows (NaN-free rows only; NaN if none)."""
    out: dict[str, float] = {}
    for n in names:
        vals = [float(r[n]) for r in rows if n in r and not math.isnan(float(r[n]))]
        out[n] = float(np.mean(vals)) if vals else float("nan")
    return out


def evaluate_folders(pred: str | Path, gt: str | Path, metrics: dict[str, Metric], scale: int = 1) -> RestoreEval:
    """Compute ``metrics`` for every pair of the two folders (see the module doc for the checks)."""
    pairs = pair_folders(pred, gt)
    notes = check_pairs(pairs, scale)
    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    for stem, p, g in pairs:
        try:
            a, b = _load_rgb(p), _load_rgb(g)
        except ImageReadError as e:  # truncated data only shows when decoding
            failed.append(" ".join(str(e).split()))
            continue
        b = b[: a.shape[0], : a.shape[1]]
        row: dict[str, Any] = {"image": stem}
        t = time.perf_counter()
        for name, m in metrics.items():
            row[name] = m.fn(a, b if m.full_reference else None)
        row["seconds"] = time.perf_counter() - t
        rows.append(row)
    if failed:
        raise UareError(f"cannot evaluate; {len(failed)} unreadable file(s): {_listing(failed)}")
    summary = {"n": len(rows), "mean": mean_summary(rows, list(metrics)),
               "lower_is_better": [n for n, m in metrics.items() if m.lower_is_better]}
    return RestoreEval(rows, summary, notes)
