"""Image folders, random crops and resizing for training samples (model inputs: :mod:`uare.data.sequence`)."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from uare.errors import UareError
from uare.io import iter_inputs, read_image, to_uint8


class DataError(UareError):
    """A training data source is missing, empty or malformed."""


def list_images(folders: list[str | Path]) -> list[Path]:
    """Image files of every folder (name order per folder, folders in the given order)."""
    files: list[Path] = []
    for f in folders:
        p = Path(f)
        if not p.is_dir():
            raise DataError(f"{p}: image folder not found")
        files.extend(iter_inputs(p))
    if not files:
        raise DataError(f"no images in {', '.join(str(f) for f in folders)}")
    return files


class ImageCache:
    """A small per-process LRU cache of decoded RGB uint8 images (workers each hold their own)."""

    def __init__(self, max_items: int = 512):
        self.max_items = max_items
        self._d: OrderedDict[str, np.ndarray] = OrderedDict()

    def load(self, path: Path) -> np.ndarray:
        key = str(path)
        if key in self._d:
            self._d.move_to_end(key)
            return self._d[key]
        img = load_rgb(path)
        self._d[key] = img
        if len(self._d) > self.max_items:
            self._d.popitem(last=False)
        return img


def load_rgb(path: Path) -> np.ndarray:
    """HxWx3 uint8 RGB: gray is replicated, 16-bit rounded, alpha dropped."""
    px = read_image(path).pixels
    return to_rgb3(px if px.dtype == np.uint8 else to_uint8(px))


def random_crop(img: np.ndarray, size: int, rng: np.random.Generator, flip: bool = True) -> np.ndarray:
    """A ``size`` x ``size`` crop at a random place; images smaller than that are enlarged first (bicubic).

    With ``flip`` the crop is mirrored horizontally with probability 1/2 (one draw always taken).
    """
    h, w = img.shape[:2]
    if min(h, w) < size:
        s = size / min(h, w)
        img = cv2.resize(img, (max(size, round(w * s)), max(size, round(h * s))), interpolation=cv2.INTER_CUBIC)
        h, w = img.shape[:2]
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    out = img[y:y + size, x:x + size]
    if rng.uniform() < 0.5 and flip:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def crop_size(rng: np.random.Generator, lo: int, hi: int, stride: int) -> int:
    """A crop side drawn uniformly from the multiples of ``stride`` in [lo, hi]."""
    sizes = list(range(-(-lo // stride) * stride, hi + 1, stride))
    if not sizes:
        raise DataError(f"no multiple of {stride} between crop sizes {lo} and {hi}")
    return sizes[int(rng.integers(len(sizes)))]


def resize_to(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize to ``(h, w)`` with bicubic interpolation (how the LQ image reaches the output size)."""
    if img.shape[:2] == hw:
        return img
    return cv2.resize(img, (hw[1], hw[0]), interpolation=cv2.INTER_CUBIC)


def to_rgb3(img: np.ndarray) -> np.ndarray:
    """HxW / HxWx1 / HxWx3 / HxWx4 -> HxWx3 (gray replicated, alpha dropped), any dtype kept."""
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])
