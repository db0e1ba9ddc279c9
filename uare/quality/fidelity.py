"""Full-reference fidelity: SSIM of the BT.601 luma, Gaussian window, written with OpenCV.

The SSIM follows Wang et al. (2004) and matches ``skimage.metrics.structural_similarity`` with
``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255``: an 11x11
Gaussian window (sigma 1.5, the window scikit-image derives from ``truncate=3.5``), constants
``C1 = (0.01 * 255)^2`` and ``C2 = (0.03 * 255)^2``, local statistics filtered with a reflected
border, and the mean taken over the valid part of the map only (5 pixels cropped on every side),
so border handling does not enter the value.

Images follow the convention of :mod:`uare.degrade`: uint8 and uint16 are scaled by their maximum,
float input is taken as already in [0, 1]; everything is brought to [0, 255] before SSIM.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Gaussian window side and standard deviation.
WINDOW = 11
SIGMA = 1.5
DATA_RANGE = 255.0
_C1 = (0.01 * DATA_RANGE) ** 2
_C2 = (0.03 * DATA_RANGE) ** 2
#: BT.601 luma weights for R, G, B.
BT601 = (0.299, 0.587, 0.114)


def _to_255(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
        raise ValueError(f"expected an HxW, HxWx1 or HxWx3 image, got shape {img.shape}")
    if img.dtype == np.uint8:
        return img.astype(np.float64)
    if img.dtype == np.uint16:
        return img.astype(np.float64) * (255.0 / 65535.0)
    if np.issubdtype(img.dtype, np.floating):
        return img.astype(np.float64) * 255.0
    raise ValueError(f"unsupported image dtype {img.dtype}; use uint8, uint16 or float in [0, 1]")


def luma(img: np.ndarray, channel_order: str = "rgb") -> np.ndarray:
    """BT.601 luma ``Y = 0.299 R + 0.587 G + 0.114 B`` as float64 in [0, 255].

    ``channel_order`` is ``"rgb"`` (PIL, :mod:`uare.degrade`) or ``"bgr"`` (``cv2.imread``). Grey
    images (HxW or HxWx1) are returned as they are, scaled to [0, 255].
    """
    if channel_order not in ("rgb", "bgr"):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    f = _to_255(img)
    if f.ndim == 2:
        return f
    if f.shape[2] == 1:
        return f[:, :, 0]
    wr, wg, wb = BT601
    r, g, b = (
        (f[:, :, 0], f[:, :, 1], f[:, :, 2])
        if channel_order == "rgb"
        else (f[:, :, 2], f[:, :, 1], f[:, :, 0])
    )
    return wr * r + wg * g + wb * b


def _blur(x: np.ndarray) -> np.ndarray:
    # BORDER_REFLECT (abc|cba) is scipy's "reflect", used by scikit-image; only the cropped
    # border depends on it anyway.
    return cv2.GaussianBlur(x, (WINDOW, WINDOW), SIGMA, sigmaY=SIGMA, borderType=cv2.BORDER_REFLECT)


def ssim_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM of two equally sized 2-D arrays in [0, 255] (full size, border included)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"ssim needs two 2-D arrays of the same shape, got {x.shape} and {y.shape}")
    mx, my = _blur(x), _blur(y)
    # E[x^2] - E[x]^2 is the population (biased) variance, i.e. use_sample_covariance=False.
    vx = _blur(x * x) - mx * mx
    vy = _blur(y * y) - my * my
    cxy = _blur(x * y) - mx * my
    num = (2 * mx * my + _C1) * (2 * cxy + _C2)
    den = (mx * mx + my * my + _C1) * (vx + vy + _C2)
    return num / den


def ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM of two 2-D arrays in [0, 255] over the valid region (``WINDOW // 2`` px cropped per side)."""
    x = np.asarray(x)
    pad = WINDOW // 2
    if x.ndim != 2 or min(x.shape) < WINDOW:
        raise ValueError(f"ssim needs 2-D arrays of at least {WINDOW}x{WINDOW}, got shape {x.shape}")
    return float(ssim_map(x, y)[pad:-pad, pad:-pad].mean())


def fidelity(clean: np.ndarray, degraded: np.ndarray, channel_order: str = "rgb") -> float:
    """SSIM of the degraded image's luma against the clean one's.

    A degraded image of another size (the low-resolution input of a super-resolution pair) is
    resized to the clean size with ``cv2.INTER_CUBIC`` first, on the luma, then clipped to
    [0, 255] as a stored 8-bit image would be; this is how an upscaled input is judged anyway.
    """
    yc = luma(clean, channel_order)
    yd = luma(degraded, channel_order)
    if yd.shape != yc.shape:
        h, w = yc.shape
        yd = np.clip(cv2.resize(yd, (w, h), interpolation=cv2.INTER_CUBIC), 0.0, 255.0)
    return ssim(yd, yc)
