"""The saturated-colour evaluation set: the most chromatic crops of the held-out test images.

Saturated colour is rare in the training pool, and a restorer can harm it badly (a deep-red close-up
assessed as "underexposed" and brightened; a red door turned cyan). This set makes that measurable:
from each test image the ``per_image`` non-overlapping ``size``-px crops of highest mean CIELAB chroma
(:func:`uare.data.augment.chroma`) are kept when their chroma reaches ``min_chroma``; every bench setting
(:mod:`uare.eval.settings`) is then applied to each crop, seeded per crop and setting.

Only test images are read (Kodak24, CBSD68, Urban100, Set14 by default): it is an evaluation set, never
training data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from uare.data.augment import chroma
from uare.io import iter_inputs

DEFAULT_FOLDERS: tuple[str, ...] = ("Kodak24", "CBSD68", "Urban100_first20", "Set14")


@dataclass
class ColorCrop:
    """One crop of the set: where it comes from and its pixels (uint8 RGB)."""

    name: str  # FOLDER/STEM@Y,X
    pixels: np.ndarray
    chroma: float


def saturated_crops(folders: list[Path], size: int = 96, per_image: int = 1, min_chroma: float = 35.0,
                    stride: int | None = None, load=None) -> list[ColorCrop]:
    """The set (see the module docstring), sorted by folder order, then image name, then chroma."""
    if load is None:
        from uare.eval.bench_restore import load_clean as load
    stride = stride or size // 2
    out: list[ColorCrop] = []
    for folder in folders:
        for p in iter_inputs(folder):
            img = load(p)
            h, w = img.shape[:2]
            if min(h, w) < size:
                continue
            cands = sorted(((chroma(img[y:y + size, x:x + size]), y, x) for y in range(0, h - size + 1, stride)
                            for x in range(0, w - size + 1, stride)), reverse=True)
            kept: list[tuple[float, int, int]] = []
            for c, y, x in cands:
                if c < min_chroma or len(kept) == per_image:
                    break
                if all(abs(y - ky) >= size or abs(x - kx) >= size for _, ky, kx in kept):
                    kept.append((c, y, x))
            out += [ColorCrop(f"{folder.name}/{p.stem}@{y},{x}", np.ascontiguousarray(img[y:y + size, x:x + size]),
                              round(c, 2)) for c, y, x in kept]
    return out
