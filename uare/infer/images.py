"""Inputs of any kind -> float RGB for the model, and the model's output -> the input's kind.

Accepted: a path (read with :func:`uare.io.read_image`: EXIF orientation, palette / CMYK
conversion, 16-bit kept, decompression-bomb guard), a PIL image, a numpy array (HxW, HxWx1, HxWx3,
HxWx4; uint8, uint16 or float in [0, 1]) or a torch tensor (CHW / HWC / 1xCxHxW, float in [0, 1]).
The model sees RGB floats; gray inputs are replicated to RGB and the output converted back to
gray; alpha is set aside, resized with the image and reattached; 16-bit inputs give 16-bit outputs
(computed from the float output, not from an 8-bit rounding).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps

from uare.errors import ImageReadError
from uare.io import DEFAULT_MAX_PIXELS, read_image

ImageInput = Any  # str | os.PathLike | PIL.Image.Image | np.ndarray | torch.Tensor

#: Smallest side the model works on: one generation token (16 px) and one ViT patch (14 px).
MIN_SIDE = 16


@dataclass
class Prepared:
    """An input ready for the model: float32 RGB in [0, 1] plus what is needed to give the output back."""

    rgb: np.ndarray
    alpha: np.ndarray | None  # float32 HxW in [0, 1]
    gray: bool
    bit_depth: int
    source: str
    notes: list[str] = field(default_factory=list)


def _scale_of(arr: np.ndarray) -> tuple[np.ndarray, int]:
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0, 8
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0, 16
    if np.issubdtype(arr.dtype, np.floating):
        if arr.size and (np.nanmin(arr) < -1e-3 or np.nanmax(arr) > 1 + 1e-3):
            raise ImageReadError(f"float image values must be in [0, 1], got [{arr.min():.3g}, {arr.max():.3g}]")
        if not np.isfinite(arr).all():
            raise ImageReadError("float image contains NaN or infinity")
        return np.clip(arr.astype(np.float32), 0, 1), 8
    raise ImageReadError(f"unsupported image dtype {arr.dtype}; use uint8, uint16 or float in [0, 1]")


def _from_array(arr: np.ndarray, source: str) -> Prepared:
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ImageReadError(f"{source}: expected an HxW, HxWx1, HxWx3 or HxWx4 image, got shape {arr.shape}")
    if arr.shape[0] < MIN_SIDE or arr.shape[1] < MIN_SIDE:
        raise ImageReadError(f"{source}: image is {arr.shape[1]}x{arr.shape[0]} pixels; uare needs at least "
                             f"{MIN_SIDE}x{MIN_SIDE} (upscale it first)")
    f, depth = _scale_of(arr)
    alpha = None
    if f.shape[2] in (2, 4):
        alpha, f = f[:, :, -1].copy(), f[:, :, :-1]
    gray = f.shape[2] == 1
    rgb = np.repeat(f, 3, axis=2) if gray else f
    return Prepared(np.ascontiguousarray(rgb), alpha, gray, depth, source)


def prepare(image: ImageInput, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Prepared:
    """Normalise any accepted input (see the module docstring); one-line ImageReadError on bad input."""
    if isinstance(image, (str, os.PathLike)):
        loaded = read_image(Path(image), max_pixels=max_pixels)
        px = loaded.pixels
        if loaded.alpha is not None:
            px = np.concatenate([px, loaded.alpha[:, :, None]], axis=2)
        p = _from_array(px, str(image))
        p.notes.extend(loaded.notes)
        return p
    if isinstance(image, Image.Image):
        if max_pixels is not None and image.width * image.height > max_pixels:
            raise ImageReadError(f"PIL image of {image.width}x{image.height} exceeds the {max_pixels:,}-pixel limit; "
                                 "raise max_pixels if you trust it")
        im = ImageOps.exif_transpose(image)
        mode = im.mode
        if mode in ("P", "PA"):
            im = im.convert("RGBA" if (mode == "PA" or im.has_transparency_data) else "RGB")
        elif mode not in ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I"):
            im = im.convert("RGB")
        arr = np.asarray(im)
        if im.mode in ("I;16", "I;16B", "I"):
            arr = arr.astype(np.uint16)
        return _from_array(arr, "PIL image")
    if isinstance(image, np.ndarray):
        return _from_array(image, "array")
    try:
        import torch

        if isinstance(image, torch.Tensor):
            t = image.detach().to("cpu", torch.float32)
            if t.ndim == 4:
                if t.shape[0] != 1:
                    raise ImageReadError(f"tensor batch of {t.shape[0]} images: pass one image at a time")
                t = t[0]
            if t.ndim == 3 and t.shape[0] in (1, 3, 4) and t.shape[2] not in (1, 3, 4):
                t = t.permute(1, 2, 0)
            return _from_array(t.numpy(), "tensor")
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    raise ImageReadError(f"unsupported image input of type {type(image).__name__}; pass a path, PIL image, "
                         "numpy array or torch tensor")


def finish(rgb: np.ndarray, prep: Prepared) -> np.ndarray:
    """Model output (float RGB [0, 1], output size) -> the input's kind: gray/RGB, alpha, bit depth."""
    h, w = rgb.shape[:2]
    out = np.clip(rgb, 0, 1)
    if prep.gray:
        out = (out[:, :, 0] * 0.299 + out[:, :, 1] * 0.587 + out[:, :, 2] * 0.114)[:, :, None]
    if prep.alpha is not None:
        a = prep.alpha
        if a.shape != (h, w):
            interp = cv2.INTER_AREA if a.shape[0] > h else cv2.INTER_CUBIC
            a = cv2.resize(a, (w, h), interpolation=interp)
        out = np.concatenate([out, np.clip(a, 0, 1)[:, :, None]], axis=2)
    if prep.bit_depth == 16:
        return np.rint(out * 65535).astype(np.uint16)
    res = np.rint(out * 255).astype(np.uint8)
    return res[:, :, 0] if res.shape[2] == 1 else res
