"""Resizing: down / up with area, bilinear or bicubic, and super-resolution down-sampling."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from uare.degrade._array import ensure_hwc, from_float, to_float
from uare.degrade.record import Step

#: OpenCV interpolation per mode (OpenCV's bicubic uses a = -0.75, like PyTorch's).
CV2_MODES = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}
RESIZE_MODES: tuple[str, ...] = ("area", "bilinear", "bicubic", "matlab_bicubic")


def resize_float(f: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """Resize a float HxWxC image to ``size`` = (height, width)."""
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ValueError(f"resize target {h}x{w} is empty")
    if mode == "matlab_bicubic":
        # Pillow's bicubic is antialiased with a = -0.5, as MATLAB's imresize that made the SR
        # benchmarks' low-resolution images.
        chans = [
            np.asarray(Image.fromarray(np.ascontiguousarray(f[:, :, c])).resize((w, h), Image.Resampling.BICUBIC))
            for c in range(f.shape[2])
        ]
        return np.stack(chans, axis=2).astype(np.float32)
    if mode not in CV2_MODES:
        raise ValueError(f"unknown resize mode {mode!r}; choose from {', '.join(RESIZE_MODES)}")
    return ensure_hwc(cv2.resize(f, (w, h), interpolation=CV2_MODES[mode]))


def resize(img: np.ndarray, size: tuple[int, int] | None = None, scale: float | None = None,
           mode: str = "bicubic") -> tuple[np.ndarray, Step]:
    """Resize to ``size`` (height, width) or by ``scale``; the record marks down-scaling as lowres.

    The severity of a down-scaling is that of the resolution factor it removes; up-scaling adds
    no category (it loses nothing by itself).
    """
    f, meta = to_float(img)
    h, w = f.shape[:2]
    if size is None:
        if scale is None or scale <= 0:
            raise ValueError("give a target size or a positive scale")
        size = (max(1, int(h * scale)), max(1, int(w * scale)))
    out = resize_float(f, size, mode)
    return from_float(out, meta), resize_step(h, w, size, mode, factor=h / size[0])


def resize_step(h: int, w: int, size: tuple[int, int], mode: str, factor: float) -> Step:
    """Record of a resize from (h, w) to ``size``; ``factor`` is the resolution loss it stands for."""
    from uare.degrade.severity import severity_from_strength

    params = {"from": [h, w], "to": [int(size[0]), int(size[1])], "mode": mode}
    if factor > 1.0:
        params["factor"] = round(float(factor), 4)
        return Step("resize", params, "lowres", "downsample", severity_from_strength("lowres", factor))
    return Step("resize", params, None, None, 0.0)


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so both sides are multiples of ``scale`` (the SR ground truth)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def sr_downsample(img: np.ndarray, scale: int, mode: str = "matlab_bicubic") -> tuple[np.ndarray, Step]:
    """Down-sample by an integer ``scale`` to exactly H/scale x W/scale (after a mod-crop)."""
    if int(scale) != scale or scale < 1:
        raise ValueError(f"SR scale must be a positive integer, got {scale}")
    scale = int(scale)
    img = modcrop(np.asarray(img), scale)
    h, w = img.shape[:2]
    if h < scale or w < scale:
        raise ValueError(f"image {h}x{w} is smaller than the scale {scale}")
    f, meta = to_float(img)
    size = (h // scale, w // scale)
    out = resize_float(f, size, mode) if scale > 1 else f
    step = resize_step(h, w, size, mode, factor=float(scale))
    step.op = "sr_downsample"
    step.params["scale"] = scale
    return from_float(out, meta), step


def lowres(img: np.ndarray, factor: float, down_mode: str = "area", up_mode: str = "bicubic") -> tuple[np.ndarray, Step]:
    """Resolution loss at the same size: down by ``factor``, then back up."""
    f, meta = to_float(img)
    h, w = f.shape[:2]
    small = (max(1, round(h / factor)), max(1, round(w / factor)))
    out = resize_float(resize_float(f, small, down_mode), (h, w), up_mode)
    step = resize_step(h, w, small, down_mode, factor=float(factor))
    step.op = "lowres"
    step.params.update({"up_mode": up_mode})
    return from_float(out, meta), step
