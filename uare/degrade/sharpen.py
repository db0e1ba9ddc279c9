"""Unsharp masking of training targets, as Real-ESRGAN sharpens its ground truth (``gt_usm``)."""

from __future__ import annotations

import cv2
import numpy as np

from uare.degrade._array import ensure_hwc, from_float, to_float


def usm_sharpen(img: np.ndarray, weight: float = 0.5, radius: int = 50, threshold: float = 10) -> np.ndarray:
    """Sharpen where the high-pass residual exceeds ``threshold`` (0-255 units), softly masked.

    out = m * (img + weight * (img - blur)) + (1 - m) * img, m = blur(residual > threshold).
    """
    f, meta = to_float(img)
    k = radius + 1 if radius % 2 == 0 else radius
    blur = ensure_hwc(cv2.GaussianBlur(f, (k, k), 0))
    residual = f - blur
    mask = (np.abs(residual) * 255 > threshold).astype(np.float32)
    soft = ensure_hwc(cv2.GaussianBlur(mask, (k, k), 0))
    sharp = np.clip(f + weight * residual, 0, 1)
    return from_float(soft * sharp + (1 - soft) * f, meta)
