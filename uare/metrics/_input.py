"""Input normalisation shared by every metric in :mod:`uare.metrics`.

All metrics work on float64 arrays in the [0, 255] range, shaped ``(N, H, W, C)`` with ``C`` 1
(gray) or 3 (RGB). This module turns the accepted inputs into that form:

* numpy ``uint8`` (taken as [0, 255]) or ``uint16`` (scaled by 255 / 65535, as :mod:`uare.degrade`
  does), or floating point in [0, 1]; shapes ``HxW`` (gray), ``HxWxC`` and ``NxHxWxC``;
* torch tensors in [0, 1] (floating) or uint8, shapes ``CxHxW`` and ``BxCxHxW``.

Values are scaled, never rounded: the conventions that quantise (pyiqa rounds its Y channel) do
so themselves, so uint8 input stays exact and float input is not silently altered.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Floats slightly above 1 come from resampling; anything clearly above means [0, 255] data.
_FLOAT_TOL = 1e-3


def _tensor_to_nhwc(x: Any) -> tuple[np.ndarray, bool]:
    """Convert a torch tensor (CHW or BCHW) to an NHWC numpy array and a 'batched' flag."""
    if x.ndim == 3:
        batched = False
        x = x.unsqueeze(0)
    elif x.ndim == 4:
        batched = True
    else:
        raise ValueError(f"tensor images must be CxHxW or BxCxHxW, got shape {tuple(x.shape)}")
    if x.shape[1] not in (1, 3):
        raise ValueError(f"tensor images need 1 or 3 channels in dim -3, got shape {tuple(x.shape)}")
    arr = x.detach().cpu()
    if arr.is_floating_point():
        arr = arr.double()  # also handles float16/bfloat16, which numpy cannot take directly
    elif str(arr.dtype) != "torch.uint8":
        raise ValueError(f"unsupported tensor dtype {arr.dtype}; use floating point in [0, 1] or uint8")
    return arr.permute(0, 2, 3, 1).numpy(), batched


def to_nhwc255(img: Any, name: str = "img") -> tuple[np.ndarray, bool]:
    """Return ``(array, batched)``: a float64 ``(N, H, W, C)`` array in [0, 255] and whether the
    input was a batch (so results come back as an array rather than a float).

    Raises:
        ValueError: for unsupported types, dtypes or shapes, empty images, or float data outside
            [0, 1].
    """
    if type(img).__module__.startswith("torch"):
        arr, batched = _tensor_to_nhwc(img)
    elif isinstance(img, np.ndarray):
        arr = img
        if arr.ndim == 2:
            arr, batched = arr[None, :, :, None], False
        elif arr.ndim == 3:
            if arr.shape[2] not in (1, 3):
                raise ValueError(
                    f"{name}: numpy images must be HxW, HxWxC or NxHxWxC with C in (1, 3), "
                    f"got shape {arr.shape} (tensors use CxHxW)"
                )
            arr, batched = arr[None], False
        elif arr.ndim == 4:
            if arr.shape[3] not in (1, 3):
                raise ValueError(
                    f"{name}: batched numpy images must be NxHxWxC with C in (1, 3), got {arr.shape}"
                )
            batched = True
        else:
            raise ValueError(f"{name}: expected a 2-D, 3-D or 4-D image array, got shape {arr.shape}")
    else:
        raise ValueError(f"{name}: expected a numpy array or torch tensor, got {type(img).__name__}")

    if arr.size == 0:
        raise ValueError(f"{name}: empty image (shape {arr.shape})")
    if arr.dtype == np.uint8:
        out = arr.astype(np.float64)
    elif arr.dtype == np.uint16:
        out = arr.astype(np.float64) * (255.0 / 65535.0)
    elif np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float64)
        if not np.all(np.isfinite(out)):
            raise ValueError(f"{name}: image contains NaN or infinite values")
        lo, hi = float(out.min()), float(out.max())
        if lo < -_FLOAT_TOL or hi > 1.0 + _FLOAT_TOL:
            raise ValueError(
                f"{name}: float images must be in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; "
                "pass uint8 for [0, 255] data"
            )
        out = out * 255.0
    else:
        raise ValueError(f"{name}: unsupported dtype {arr.dtype}; use uint8, uint16 or float in [0, 1]")
    return np.ascontiguousarray(out), batched


def pair_to_nhwc255(img: Any, ref: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """Normalise a distorted/reference pair and check that their shapes agree."""
    x, bx = to_nhwc255(img, "img")
    y, by = to_nhwc255(ref, "ref")
    if x.shape != y.shape:
        raise ValueError(f"img and ref must have the same shape, got {x.shape} and {y.shape} (as NxHxWxC)")
    return x, y, bx or by


def crop(x: np.ndarray, border: int) -> np.ndarray:
    """Remove ``border`` pixels from every side of an NHWC array."""
    if border < 0:
        raise ValueError(f"crop_border must be >= 0, got {border}")
    if border == 0:
        return x
    if 2 * border >= x.shape[1] or 2 * border >= x.shape[2]:
        raise ValueError(f"crop_border {border} leaves nothing of a {x.shape[1]}x{x.shape[2]} image")
    return x[:, border:-border, border:-border, :]


def finish(values: np.ndarray, batched: bool) -> float | np.ndarray:
    """Return a float for a single image, the per-image array for a batch."""
    values = np.asarray(values, dtype=np.float64)
    return values if batched else float(values[0])
