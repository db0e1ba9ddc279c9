"""Image preparation for the two image paths, following BAGEL's ``data/transforms.py`` and ``data_utils``.

* :func:`resize_to_stride` (target size: :func:`resize_to_stride_size`) keeps the aspect ratio and snaps
  both sides to a stride: 14 for the ViT (``resize_to_stride(img, 980, 224, 14)``; 378 as minimum for
  understanding), 16 for the VAE (``resize_to_stride(img, 1024, 512, 16)``).
* :func:`to_tensor_pm1` maps uint8 RGB to float ``[3, H, W]`` in [-1, 1] (mean = std = 0.5).
* :func:`vit_patchify` / :func:`vit_position_ids` make the packed ViT input; :func:`latent_patchify`,
  :func:`latent_unpatchify` and :func:`latent_position_ids` do the same for VAE latents (2 x 2 patches).

Patch features are always ordered (row-in-patch, col-in-patch, channel), i.e. feature ``(i*p + j)*C + c``;
patches (tokens) are row-major, and the patch in grid cell (r, c) gets the position id ``r * max_side + c``
(top-left placement in the position grid, no interpolation).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

ImageLike = Image.Image | np.ndarray


def _as_pil(img: ImageLike) -> Image.Image:
    if isinstance(img, Image.Image):
        return img
    arr = np.asarray(img)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise ValueError(f"expected an HxW or HxWx{{1,3,4}} uint8 array, got {arr.dtype} {arr.shape}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return Image.fromarray(arr)


def _snap(value: float, stride: int) -> int:
    # Nearest multiple of the stride, never below one stride (BAGEL's _make_divisible).
    return max(stride, int(round(value / stride)) * stride)


def _scaled(width: int, height: int, scale: float, stride: int) -> tuple[int, int]:
    return _snap(round(width * scale), stride), _snap(round(height * scale), stride)


def resize_to_stride_size(
    width: int, height: int, max_size: int, min_size: int, stride: int, max_pixels: int | None = None
) -> tuple[int, int]:
    """The ``(width, height)`` that :func:`resize_to_stride` produces for a ``width x height`` image.

    Steps, as in BAGEL's ``MaxLongEdgeMinShortEdgeResize``:

    1. ``scale = max(min(max_size / long, 1), min_size / short)``: shrink so the long side fits
       ``max_size`` (never enlarge for that), but enlarge if the short side is below ``min_size``.
       Each side becomes ``round(side * scale)`` snapped to the nearest multiple of ``stride``
       (Python rounding, half to even; at least one stride).
    2. If ``max_pixels`` is given and exceeded, shrink by ``sqrt(max_pixels / area)`` and snap again.
       (BAGEL uses the area ratio itself as the linear scale, which over-shrinks. With its settings,
       ``max_size**2 < max_pixels``, the step only fires after step 1 enlarged a very elongated image, and
       step 3 then shrinks much further anyway, so the results agree up to a stride of rounding.)
    3. If the long side exceeds ``max_size``, shrink it to ``max_size`` and snap again.
    4. Guarantees: any side still above ``max_size`` (possible when ``max_size`` is not a multiple of
       ``stride``) is floored to a multiple, and the longer side is reduced stride by stride until the area
       fits ``max_pixels``.

    So ``max_size`` (and ``max_pixels``) win over ``min_size``. Extreme aspect ratios: when
    ``long / short > max_size / min_size`` the short side ends below ``min_size``, and beyond about
    ``max_size / stride`` it is clamped to one stride, so the output (e.g. 980 x 14 for a 10000 x 1 strip)
    is stretched across the short side. Nothing is ever padded or cropped.

    Raises:
        ValueError: on an empty image, non-positive sizes, ``min_size > max_size``, ``max_size < stride``
            or ``max_pixels < stride**2``.
    """
    if stride < 1 or min_size < 1 or max_size < stride:
        raise ValueError(
            f"need stride >= 1, min_size >= 1 and max_size >= stride; got {max_size}, {min_size}, {stride}"
        )
    if min_size > max_size:
        raise ValueError(f"min_size {min_size} is larger than max_size {max_size}")
    if max_pixels is not None and max_pixels < stride * stride:
        raise ValueError(f"max_pixels {max_pixels} is below one stride x stride cell ({stride * stride})")
    if width < 1 or height < 1:
        raise ValueError(f"empty image {width}x{height}")

    scale = max(min(max_size / max(width, height), 1.0), min_size / min(width, height))
    w, h = _scaled(width, height, scale, stride)
    if max_pixels is not None and w * h > max_pixels:
        w, h = _scaled(w, h, math.sqrt(max_pixels / (w * h)), stride)
    if max(w, h) > max_size:
        w, h = _scaled(w, h, max_size / max(w, h), stride)

    # Rounding to the nearest multiple can overshoot the limits by a fraction of a stride.
    cap = (max_size // stride) * stride
    w, h = min(w, cap), min(h, cap)
    while max_pixels is not None and w * h > max_pixels:
        if w >= h:
            w -= stride
        else:
            h -= stride
    return w, h


def resize_to_stride(
    img: ImageLike, max_size: int, min_size: int, stride: int, max_pixels: int | None = None
) -> Image.Image:
    """Resize keeping the aspect ratio so that both sides are multiples of ``stride`` (BAGEL's resize).

    Long side <= ``max_size``, short side >= ``min_size`` when the aspect ratio allows it, area <=
    ``max_pixels`` if given; the exact rule and the behaviour for extreme aspect ratios are described in
    :func:`resize_to_stride_size`. Resampling is Pillow bicubic, which antialiases when shrinking (what
    torchvision does for PIL input). A PIL image keeps its mode; an array (HxW or HxWx{1,3,4} uint8) is
    converted with ``Image.fromarray``. An image already of the target size is returned as a copy.
    """
    pil = _as_pil(img)
    w, h = resize_to_stride_size(pil.width, pil.height, max_size, min_size, stride, max_pixels)
    if (w, h) == pil.size:
        return pil.copy()
    return pil.resize((w, h), resample=Image.Resampling.BICUBIC)


def to_tensor_pm1(img: ImageLike) -> torch.Tensor:
    """RGB image -> float32 ``[3, H, W]`` in [-1, 1]: ``(x / 255 - 0.5) / 0.5``.

    PIL images in another mode are converted to RGB (``L`` is replicated; ``RGBA`` drops alpha); arrays
    must be HxWx3 uint8.
    """
    if isinstance(img, Image.Image):
        arr = np.asarray(img if img.mode == "RGB" else img.convert("RGB"))
    else:
        arr = np.asarray(img)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 uint8 array, got {arr.dtype} {arr.shape}")
    if not arr.flags.writeable:  # PIL-backed arrays are read-only; torch wants writable memory
        arr = arr.copy()
    x = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float().div(255.0)
    # Same two steps as torchvision's ToTensor + Normalize(0.5, 0.5), so values match bit for bit.
    return x.sub(0.5).div(0.5)


def _patchify(x: torch.Tensor, p: int, what: str) -> tuple[torch.Tensor, tuple[int, int]]:
    if x.ndim != 3:
        raise ValueError(f"{what} must be [C, H, W], got shape {tuple(x.shape)}")
    c, height, width = x.shape
    if p < 1 or height % p or width % p:
        raise ValueError(f"{what} size {height}x{width} is not a multiple of the patch size {p}")
    h, w = height // p, width // p
    # [C, h, p, w, p] -> [h, w, p(row), p(col), C] -> one row per patch.
    tokens = x.reshape(c, h, p, w, p).permute(1, 3, 2, 4, 0).reshape(h * w, p * p * c)
    return tokens, (h, w)


def vit_patchify(x: torch.Tensor, p: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """``[C, H, W]`` -> (``[h*w, p*p*C]``, ``(h, w)``): row-major patches, each flattened (row, col, channel)."""
    return _patchify(x, p, "image")


def _grid_ids(h: int, w: int, max_side: int, what: str) -> torch.Tensor:
    if h < 1 or w < 1:
        raise ValueError(f"{what} grid {h}x{w} is empty")
    if h > max_side or w > max_side:
        raise ValueError(f"{what} grid {h}x{w} exceeds the {max_side}x{max_side} position table")
    r = torch.arange(h, dtype=torch.long)[:, None]
    c = torch.arange(w, dtype=torch.long)[None, :]
    return (r * max_side + c).reshape(-1)


def vit_position_ids(h: int, w: int, max_side: int) -> torch.Tensor:
    """Long ``[h*w]`` ids ``r * max_side + c`` (row-major), placing the image at the table's top-left.

    Raises:
        ValueError: if ``h`` or ``w`` exceeds ``max_side`` (BAGEL does not interpolate positions).
    """
    return _grid_ids(h, w, max_side, "ViT patch")


def latent_patchify(z: torch.Tensor, p: int = 2) -> torch.Tensor:
    """Latent ``[C, H, W]`` -> tokens ``[h*w, p*p*C]`` (row-major), feature ``(pi*p + qi)*C + c``."""
    return _patchify(z, p, "latent")[0]


def latent_unpatchify(tokens: torch.Tensor, h: int, w: int, p: int = 2, C: int | None = None) -> torch.Tensor:
    """Exact inverse of :func:`latent_patchify`: ``[h*w, p*p*C]`` -> ``[C, h*p, w*p]``.

    ``C`` defaults to ``tokens.shape[1] // p**2``.
    """
    if C is None:
        C = tokens.shape[-1] // (p * p)
    if tokens.shape != (h * w, p * p * C):
        raise ValueError(f"tokens have shape {tuple(tokens.shape)}, expected ({h * w}, {p * p * C})")
    return tokens.reshape(h, w, p, p, C).permute(4, 0, 2, 1, 3).reshape(C, h * p, w * p)


def latent_position_ids(h: int, w: int, max_latent_size: int) -> torch.Tensor:
    """Long ``[h*w]`` ids ``r * max_latent_size + c`` for an ``h x w`` token grid (ValueError if too large)."""
    return _grid_ids(h, w, max_latent_size, "latent token")
