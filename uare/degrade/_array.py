"""dtype handling shared by every operator: work in float32 [0, 1], give back what came in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ArrayMeta:
    dtype: np.dtype
    ndim: int


def to_float(img: np.ndarray) -> tuple[np.ndarray, ArrayMeta]:
    """Return ``img`` as float32 HxWxC in [0, 1] and what is needed to convert it back.

    uint8 and uint16 are scaled by their maximum; float input is taken as already in [0, 1].
    """
    img = np.asarray(img)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
        raise ValueError(f"expected an HxW, HxWx1 or HxWx3 image, got shape {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"image has zero size {img.shape[:2]}")
    meta = ArrayMeta(img.dtype, img.ndim)
    if img.dtype == np.uint8:
        f = img.astype(np.float32) * (1.0 / 255.0)
    elif img.dtype == np.uint16:
        f = img.astype(np.float32) * (1.0 / 65535.0)
    elif np.issubdtype(img.dtype, np.floating):
        f = img.astype(np.float32, copy=True)
    else:
        raise ValueError(f"unsupported image dtype {img.dtype}; use uint8, uint16 or float in [0, 1]")
    if f.ndim == 2:
        f = f[:, :, None]
    return f, meta


def from_float(f: np.ndarray, meta: ArrayMeta) -> np.ndarray:
    """Inverse of :func:`to_float`: clip, round to the input's integer grid, restore the shape."""
    if meta.ndim == 2 and f.ndim == 3:
        f = f[:, :, 0]
    if meta.dtype == np.uint8:
        return np.clip(np.rint(f * 255.0), 0, 255).astype(np.uint8)
    if meta.dtype == np.uint16:
        return np.clip(np.rint(f * 65535.0), 0, 65535).astype(np.uint16)
    return np.clip(f, 0.0, 1.0).astype(meta.dtype, copy=False)


def ensure_hwc(f: np.ndarray) -> np.ndarray:
    """OpenCV drops a trailing channel axis of size 1; put it back."""
    return f[:, :, None] if f.ndim == 2 else f


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A Generator from a seed (or the Generator itself, so callers can share one stream)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def luma(f: np.ndarray) -> np.ndarray:
    """BT.601 luma of an HxWxC float image (the image itself when it is gray)."""
    if f.shape[2] == 1:
        return f[:, :, 0]
    return f[:, :, 0] * 0.299 + f[:, :, 1] * 0.587 + f[:, :, 2] * 0.114
