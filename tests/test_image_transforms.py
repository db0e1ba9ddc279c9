"""Tests of uare.model.image_transforms: stride-snapped resizing, [-1, 1] tensors, patch/position layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from uare.model.image_transforms import (
    latent_patchify,
    latent_position_ids,
    latent_unpatchify,
    resize_to_stride,
    resize_to_stride_size,
    to_tensor_pm1,
    vit_patchify,
    vit_position_ids,
)

SETTINGS = [
    (980, 224, 14, None),  # ViT (BAGEL default)
    (980, 378, 14, 2_007_040),  # ViT for understanding
    (1024, 512, 16, None),  # VAE
    (64, 32, 16, 2048),  # small, max_pixels binding
    (1005, 100, 14, None),  # max_size not a multiple of the stride
]


def _sizes() -> list[tuple[int, int]]:
    rng = np.random.default_rng(0)
    sizes = [(int(w), int(h)) for w, h in rng.integers(1, 5000, size=(2000, 2))]
    sizes += [(int(w), int(h)) for w, h in rng.integers(1, 300, size=(500, 2))]
    sizes += [(1, 1), (1, 5000), (5000, 1), (980, 980), (4000, 3000), (300, 200), (14, 14), (1023, 1025)]
    return sizes


@pytest.mark.parametrize("max_size,min_size,stride,max_pixels", SETTINGS)
def test_resize_to_stride_bounds(max_size: int, min_size: int, stride: int, max_pixels: int | None) -> None:
    for width, height in _sizes():
        w, h = resize_to_stride_size(width, height, max_size, min_size, stride, max_pixels)
        assert w % stride == 0 and h % stride == 0, (width, height, w, h)
        assert w >= stride and h >= stride
        assert max(w, h) <= max_size, (width, height, w, h)
        if max_pixels is not None:
            assert w * h <= max_pixels, (width, height, w, h)
        aspect = max(width, height) / min(width, height)
        pixels_ok = max_pixels is None or max_size * max_size <= max_pixels
        if aspect <= 0.95 * max_size / min_size and pixels_ok:
            # min_size is reachable: the short side reaches it (up to half a stride of rounding).
            assert min(w, h) >= min_size - stride / 2, (width, height, w, h)
        if min(w, h) >= 4 * stride and aspect < 20:
            # Aspect ratio kept up to the rounding of each side (two snapping steps at most).
            rel = abs((w / h) / (width / height) - 1)
            assert rel <= 2 * (stride + 1) / min(w, h), (width, height, w, h)


def test_resize_to_stride_exact_sizes() -> None:
    def size(wh: tuple[int, int], *args: int) -> tuple[int, int]:
        out = resize_to_stride(Image.new("L", wh), *args)
        assert out.size == resize_to_stride_size(*wh, *args)
        return out.size

    assert size((448, 672), 980, 224, 14) == (448, 672)  # already valid: untouched, never enlarged
    assert size((450, 670), 980, 224, 14) == (448, 672)
    assert size((4000, 3000), 980, 224, 14) == (980, 728)  # 735 / 14 = 52.5 rounds half to even: 52 * 14
    assert size((500, 300), 1024, 512, 16) == (848, 512)  # enlarged: short side 300 -> 512
    assert size((1024, 1024), 1024, 512, 16) == (1024, 1024)
    assert size((2048, 1536), 1024, 512, 16) == (1024, 768)
    # Extreme aspect: max_size wins, the short side is clamped to one stride.
    assert size((10000, 1), 980, 224, 14) == (980, 14)
    assert size((1, 10000), 1024, 512, 16) == (16, 1024)
    # max_size 1005 is not a multiple of 14: 1008 would be nearest, the long side is floored to 994.
    assert size((3000, 3000), 1005, 100, 14) == (994, 994)
    # max_pixels: 64x64 would be 4096 > 2048 pixels.
    w, h = size((640, 640), 64, 32, 16, 2048)
    assert w * h <= 2048 and (w, h) in {(32, 48), (48, 32), (32, 32)}


def test_resize_to_stride_is_pil_bicubic_antialiased() -> None:
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, (301, 457, 3), dtype=np.uint8)
    out = resize_to_stride(arr, 224, 112, 14)
    assert isinstance(out, Image.Image) and out.mode == "RGB"
    ref = Image.fromarray(arr).resize(out.size, resample=Image.Resampling.BICUBIC)
    assert np.array_equal(np.asarray(out), np.asarray(ref))
    assert np.array_equal(np.asarray(resize_to_stride(Image.fromarray(arr), 224, 112, 14)), np.asarray(out))
    # A 1-pixel checkerboard shrunk 4x becomes flat grey with antialiasing (it would alias without).
    checker = ((np.indices((448, 448)).sum(0) % 2) * 255).astype(np.uint8)
    small = np.asarray(resize_to_stride(np.stack([checker] * 3, -1), 112, 56, 14)).astype(float)
    assert small.shape == (112, 112, 3)
    assert abs(small.mean() - 127.5) < 3 and small[4:-4, 4:-4].std() < 3


def test_resize_to_stride_errors() -> None:
    img = Image.new("RGB", (10, 10))
    with pytest.raises(ValueError):
        resize_to_stride(img, 100, 200, 14)
    with pytest.raises(ValueError):
        resize_to_stride(img, 10, 5, 14)
    with pytest.raises(ValueError):
        resize_to_stride(img, 100, 20, 14, max_pixels=100)
    with pytest.raises(ValueError):
        resize_to_stride(np.zeros((4, 4, 3), dtype=np.float32), 100, 20, 14)
    with pytest.raises(ValueError):
        resize_to_stride_size(0, 10, 100, 20, 14)


def test_to_tensor_pm1() -> None:
    arr = np.zeros((2, 3, 3), dtype=np.uint8)
    arr[0, 0] = (0, 128, 255)
    arr[1, 2] = (255, 0, 1)
    x = to_tensor_pm1(arr)
    assert x.shape == (3, 2, 3) and x.dtype == torch.float32
    assert x[0, 0, 0].item() == -1.0 and x[2, 0, 0].item() == 1.0 and x[0, 1, 2].item() == 1.0
    assert x[1, 0, 0].item() == pytest.approx(128 / 255 * 2 - 1, abs=1e-7)
    assert x[2, 1, 2].item() == pytest.approx(1 / 255 * 2 - 1, abs=1e-7)
    assert torch.equal(to_tensor_pm1(Image.fromarray(arr)), x)
    grey = to_tensor_pm1(Image.fromarray(np.full((4, 5), 255, dtype=np.uint8)))
    assert grey.shape == (3, 4, 5) and torch.equal(grey, torch.ones(3, 4, 5))
    with pytest.raises(ValueError):
        to_tensor_pm1(np.zeros((4, 4), dtype=np.uint8))


def test_vit_patchify_exact_order() -> None:
    x = torch.arange(3 * 4 * 6).reshape(3, 4, 6)
    tokens, (h, w) = vit_patchify(x, 2)
    assert (h, w) == (2, 3) and tokens.shape == (6, 12)
    # Token 0 = top-left patch: (row 0, col 0) for channels 0..2, then (row 0, col 1), ...
    assert tokens[0].tolist() == [0, 24, 48, 1, 25, 49, 6, 30, 54, 7, 31, 55]
    for r in range(h):
        for c in range(w):
            for i in range(2):
                for j in range(2):
                    for ch in range(3):
                        assert tokens[r * w + c, (i * 2 + j) * 3 + ch] == x[ch, r * 2 + i, c * 2 + j]
    with pytest.raises(ValueError):
        vit_patchify(torch.zeros(3, 5, 6), 2)


def test_vit_position_ids() -> None:
    ids = vit_position_ids(2, 3, 70)
    assert ids.dtype == torch.long and ids.tolist() == [0, 1, 2, 70, 71, 72]
    assert vit_position_ids(70, 70, 70)[-1].item() == 70 * 70 - 1
    with pytest.raises(ValueError):
        vit_position_ids(71, 3, 70)
    with pytest.raises(ValueError):
        vit_position_ids(3, 71, 70)


def test_latent_patchify_order_and_round_trip() -> None:
    c_, p = 16, 2
    z = torch.arange(c_ * 4 * 6, dtype=torch.float32).reshape(c_, 4, 6)
    tokens = latent_patchify(z, p)
    assert tokens.shape == (6, 64)
    for r in range(2):
        for c in range(3):
            for pi in range(p):
                for qi in range(p):
                    for ch in range(c_):
                        assert tokens[r * 3 + c, (pi * p + qi) * c_ + ch] == z[ch, r * p + pi, c * p + qi]
    assert torch.equal(latent_unpatchify(tokens, 2, 3, p, c_), z)
    assert torch.equal(latent_unpatchify(tokens, 2, 3), z)  # p = 2 and C inferred

    g = torch.Generator().manual_seed(0)
    z2 = torch.randn(4, 10, 6, generator=g)
    assert torch.equal(latent_unpatchify(latent_patchify(z2, 2), 5, 3, 2, 4), z2)
    t3 = torch.randn(12, 36, generator=g)
    assert torch.equal(latent_patchify(latent_unpatchify(t3, 3, 4, 3, 4), 3), t3)
    with pytest.raises(ValueError):
        latent_unpatchify(t3, 4, 4, 3, 4)
    with pytest.raises(ValueError):
        latent_patchify(torch.zeros(16, 3, 4))


def test_latent_position_ids() -> None:
    assert latent_position_ids(2, 2, 64).tolist() == [0, 1, 64, 65]
    assert latent_position_ids(1, 64, 64).tolist() == list(range(64))
    with pytest.raises(ValueError):
        latent_position_ids(65, 1, 64)
