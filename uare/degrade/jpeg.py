"""JPEG compression through a real encoder (Pillow's libjpeg), at an integer quality."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from uare.degrade._array import from_float, to_float
from uare.degrade.record import Step
from uare.degrade.severity import severity_from_strength

#: libjpeg stores sides in 16 bits and refuses anything over 65,500 px
JPEG_MAX_SIDE = 65_500


def jpeg_roundtrip_uint8(u8: np.ndarray, quality: int) -> tuple[np.ndarray, int]:
    """Encode an HxWxC uint8 array with Pillow at ``quality`` and decode it; also return the byte size."""
    h, w = u8.shape[:2]
    if max(h, w) > JPEG_MAX_SIDE:
        raise ValueError(f"JPEG cannot hold a side over {JPEG_MAX_SIDE:,} px (this image is {w}x{h}); crop the "
                         "image or choose a degradation without JPEG")
    pil = Image.fromarray(u8[:, :, 0] if u8.shape[2] == 1 else u8)
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=int(quality))
    n = buf.tell()
    buf.seek(0)
    dec = np.asarray(Image.open(buf).convert(pil.mode))
    return (dec[:, :, None] if dec.ndim == 2 else dec), n


def jpeg_float(f: np.ndarray, quality: int) -> tuple[np.ndarray, int]:
    """JPEG a float image: clip to [0, 1] and round to 8 bits first, as an encoder must."""
    u8 = np.clip(np.rint(f * 255.0), 0, 255).astype(np.uint8)
    dec, n = jpeg_roundtrip_uint8(u8, quality)
    return dec.astype(np.float32) * np.float32(1 / 255.0), n


def jpeg_compress(img: np.ndarray, quality: int) -> tuple[np.ndarray, Step]:
    """Compress with libjpeg at ``quality`` (1..95; Pillow's default 4:2:0 chroma subsampling)."""
    q = int(round(quality))
    if not 1 <= q <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    f, meta = to_float(img)
    out, n = jpeg_float(f, q)
    step = Step("jpeg", {"quality": q, "bytes": n}, "jpeg", "jpeg", severity_from_strength("jpeg", 100 - q))
    return from_float(out, meta), step
