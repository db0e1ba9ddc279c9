"""Tests of uare.io: reading odd images, atomic writing, listing folders. All files are made in tmp_path."""

from __future__ import annotations

import json
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from uare.errors import ImageReadError, OutputExistsError, UareError
from uare.io import (
    IMAGE_EXTENSIONS,
    iter_inputs,
    orient,
    output_format,
    read_image,
    to_uint8,
    write_image,
    write_json_atomic,
)


def rgb8(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def rgb16(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, (h, w, 3), dtype=np.uint16)


def bomb_png(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A valid small PNG whose IHDR claims width x height (with a correct CRC, so only the size is wrong)."""
    Image.fromarray(rgb8(8, 8)).save(path)
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- round trips -------------------------------------------------------------------------------


def test_png_8bit_rgb_round_trip_is_exact(tmp_path: Path) -> None:
    px = rgb8()
    assert write_image(tmp_path / "a.png", px) == []
    img = read_image(tmp_path / "a.png")
    assert img.pixels.dtype == np.uint8 and img.bit_depth == 8
    np.testing.assert_array_equal(img.pixels, px)
    assert img.alpha is None and img.mode == "RGB" and img.format == "PNG"
    assert not img.exif_transposed


@pytest.mark.parametrize("ext", [".png", ".tif", ".tiff"])
def test_16bit_rgb_round_trip_is_exact(tmp_path: Path, ext: str) -> None:
    px = rgb16()
    write_image(tmp_path / f"a{ext}", px)
    img = read_image(tmp_path / f"a{ext}")
    assert img.pixels.dtype == np.uint16 and img.bit_depth == 16
    np.testing.assert_array_equal(img.pixels, px)


def test_16bit_rgb_png_written_by_opencv_reads_as_rgb(tmp_path: Path) -> None:
    # Independent of our writer: Pillow alone would give 8-bit data here.
    px = rgb16()
    cv2.imwrite(str(tmp_path / "cv.png"), px[:, :, ::-1])
    img = read_image(tmp_path / "cv.png")
    np.testing.assert_array_equal(img.pixels, px)
    assert any("16-bit" in n for n in img.notes)


def test_16bit_rgba_round_trip_is_exact(tmp_path: Path) -> None:
    px, alpha = rgb16(seed=1), rgb16(seed=2)[:, :, 0]
    write_image(tmp_path / "a.png", px, alpha)
    img = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(img.pixels, px)
    np.testing.assert_array_equal(img.alpha, alpha)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".tif"])
def test_gray_stays_one_channel(tmp_path: Path, ext: str) -> None:
    gray = rgb8()[:, :, :1]
    write_image(tmp_path / f"g{ext}", gray)
    img = read_image(tmp_path / f"g{ext}")
    assert img.pixels.shape == (24, 32, 1)
    if ext != ".jpg":
        np.testing.assert_array_equal(img.pixels, gray)


def test_16bit_gray_png_stays_16bit_gray(tmp_path: Path) -> None:
    gray = rgb16()[:, :, 0]
    write_image(tmp_path / "g.png", gray)
    img = read_image(tmp_path / "g.png")
    assert img.pixels.shape == (24, 32, 1) and img.pixels.dtype == np.uint16
    np.testing.assert_array_equal(img.pixels[:, :, 0], gray)


def test_16bit_big_endian_gray_tiff(tmp_path: Path) -> None:
    gray = rgb16()[:, :, 0]
    Image.frombytes("I;16B", (32, 24), gray.astype(">u2").tobytes()).save(tmp_path / "be.tif")
    img = read_image(tmp_path / "be.tif")
    assert img.pixels.dtype == np.uint16
    np.testing.assert_array_equal(img.pixels[:, :, 0], gray)


@pytest.mark.parametrize("ext", [".png", ".tif", ".webp"])
def test_rgba_alpha_is_preserved(tmp_path: Path, ext: str) -> None:
    px, alpha = rgb8(seed=3), rgb8(seed=4)[:, :, 0]
    assert write_image(tmp_path / f"a{ext}", px, alpha, quality=100) == []
    img = read_image(tmp_path / f"a{ext}")
    assert img.pixels.shape == (24, 32, 3) and img.alpha is not None
    if ext != ".webp":  # WebP colour is lossy; its alpha is what matters here
        np.testing.assert_array_equal(img.pixels, px)
    np.testing.assert_array_equal(img.alpha, alpha)


def test_gray_alpha_png_round_trip(tmp_path: Path) -> None:
    gray, alpha = rgb8(seed=5)[:, :, :1], rgb8(seed=6)[:, :, 0]
    write_image(tmp_path / "la.png", gray, alpha)
    assert Image.open(tmp_path / "la.png").mode == "LA"
    img = read_image(tmp_path / "la.png")
    np.testing.assert_array_equal(img.pixels, gray)
    np.testing.assert_array_equal(img.alpha, alpha)


def test_jpeg_drops_alpha_with_a_note(tmp_path: Path) -> None:
    notes = write_image(tmp_path / "a.jpg", rgb8(), rgb8()[:, :, 0])
    assert any("alpha" in n for n in notes)
    img = read_image(tmp_path / "a.jpg")
    assert img.alpha is None and img.pixels.shape == (24, 32, 3)


def test_16bit_to_jpeg_is_rounded_with_a_note(tmp_path: Path) -> None:
    notes = write_image(tmp_path / "a.jpg", rgb16())
    assert any("8 bits" in n for n in notes)
    assert read_image(tmp_path / "a.jpg").pixels.dtype == np.uint8


def test_to_uint8_inverts_times_257() -> None:
    x = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(to_uint8(x.astype(np.uint16) * 257), x)
    assert to_uint8(np.array([65535, 0, 128], dtype=np.uint16)).tolist() == [255, 0, 0]


# --- conversions -------------------------------------------------------------------------------


def test_exif_orientation_6_rotates_the_pixels(tmp_path: Path) -> None:
    px = rgb8(4, 6)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(px).save(tmp_path / "o.png", exif=exif.tobytes())
    img = read_image(tmp_path / "o.png")
    assert img.exif_transposed
    # Orientation 6: the camera was turned clockwise; displaying it means rotating 90 degrees clockwise.
    np.testing.assert_array_equal(img.pixels, np.rot90(px, -1))


def test_exif_orientation_in_jpeg(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(rgb8(16, 40)).save(tmp_path / "o.jpg", exif=exif.tobytes())
    img = read_image(tmp_path / "o.jpg")
    assert img.exif_transposed and img.pixels.shape == (40, 16, 3)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_matches_pillow_exif_transpose(orientation: int) -> None:
    px = rgb8(3, 5)
    im = Image.fromarray(px)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.info["exif"] = exif.tobytes()
    expected = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(orient(px, orientation), expected)


def test_palette_converted_to_rgb(tmp_path: Path) -> None:
    im = Image.fromarray(rgb8()).quantize(16)
    im.save(tmp_path / "p.png")
    img = read_image(tmp_path / "p.png")
    assert img.mode == "P" and img.alpha is None
    np.testing.assert_array_equal(img.pixels, np.asarray(im.convert("RGB")))
    assert any("palette" in n for n in img.notes)


def test_palette_with_transparency_gives_alpha(tmp_path: Path) -> None:
    im = Image.fromarray(rgb8()).quantize(16)
    im.info["transparency"] = 0
    im.save(tmp_path / "pt.png", transparency=0)
    img = read_image(tmp_path / "pt.png")
    idx = np.asarray(im)
    assert img.alpha is not None
    np.testing.assert_array_equal(img.alpha == 0, idx == 0)


def test_cmyk_converted_to_rgb(tmp_path: Path) -> None:
    im = Image.fromarray(rgb8()).convert("CMYK")
    im.save(tmp_path / "c.tif")
    img = read_image(tmp_path / "c.tif")
    assert img.mode == "CMYK" and img.pixels.shape == (24, 32, 3)
    np.testing.assert_array_equal(img.pixels, np.asarray(im.convert("RGB")))


def test_one_bit_becomes_gray_0_255(tmp_path: Path) -> None:
    bits = rgb8()[:, :, 0] > 127
    Image.fromarray(bits).save(tmp_path / "b.png")
    img = read_image(tmp_path / "b.png")
    assert img.pixels.dtype == np.uint8 and img.pixels.shape == (24, 32, 1)
    np.testing.assert_array_equal(img.pixels[:, :, 0], bits.astype(np.uint8) * 255)


def test_one_by_one_image_is_fine(tmp_path: Path) -> None:
    write_image(tmp_path / "1.png", np.array([[[1, 2, 3]]], dtype=np.uint8))
    img = read_image(tmp_path / "1.png")
    assert img.pixels.tolist() == [[[1, 2, 3]]]


# --- read errors -------------------------------------------------------------------------------


def _read_error(path: Path, **kw: object) -> str:
    with pytest.raises(ImageReadError) as info:
        read_image(path, **kw)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_missing_file(tmp_path: Path) -> None:
    assert "not found" in _read_error(tmp_path / "nope.png")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.png").write_bytes(b"")
    assert "empty" in _read_error(tmp_path / "e.png")


def test_text_file_named_png(tmp_path: Path) -> None:
    (tmp_path / "t.png").write_text("hello, I am not a picture\n")
    assert "not an image" in _read_error(tmp_path / "t.png")


def test_truncated_png(tmp_path: Path) -> None:
    write_image(tmp_path / "full.png", rgb8(64, 64))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "half.png").write_bytes(data[: len(data) // 2])
    msg = _read_error(tmp_path / "half.png")
    assert "truncated" in msg and "re-export" in msg


def test_float_tiff_is_refused_clearly(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "f1.tif"), np.random.default_rng(0).random((8, 8)).astype(np.float32))
    cv2.imwrite(str(tmp_path / "f3.tif"), np.random.default_rng(0).random((8, 8, 3)).astype(np.float32))
    for name in ("f1.tif", "f3.tif"):
        msg = _read_error(tmp_path / name)
        assert "floating-point" in msg and "16-bit" in msg


def test_decompression_bomb_refused_before_decoding(tmp_path: Path) -> None:
    path = bomb_png(tmp_path / "bomb.png")
    start = time.perf_counter()
    msg = _read_error(path)
    assert time.perf_counter() - start < 1.0
    assert "400,000,000" in msg and "--max-pixels N" in msg
    # Raising the limit does not matter while the image is still over it.
    assert "--max-pixels" in _read_error(path, max_pixels=300_000_000)


def test_max_pixels_boundary(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", rgb8(50, 100))
    assert read_image(tmp_path / "a.png", max_pixels=5000).pixels.shape == (50, 100, 3)
    assert "5,000" in _read_error(tmp_path / "a.png", max_pixels=4999)


def test_zero_width_png_is_refused(tmp_path: Path) -> None:
    path = bomb_png(tmp_path / "z.png", width=0, height=8)
    _read_error(path)


# --- writing -----------------------------------------------------------------------------------


def test_existing_output_is_refused_and_kept(tmp_path: Path) -> None:
    out = tmp_path / "a.png"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_image(out, rgb8())
    assert out.read_bytes() == b"precious"
    write_image(out, rgb8(), overwrite=True)
    np.testing.assert_array_equal(read_image(out).pixels, rgb8())
    assert files_in(tmp_path) == ["a.png"]


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def broken_save(self: Image.Image, fp: object, *args: object, **kw: object) -> None:
        seen.append(Path(str(fp)).name)
        Path(str(fp)).write_bytes(b"half an image")
        raise OSError("disk on fire")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(UareError, match="disk on fire"):
        write_image(tmp_path / "out.png", rgb8())
    assert files_in(tmp_path) == []
    # The writer was given a hidden temporary file in the same folder, with the real extension.
    assert len(seen) == 1 and seen[0].startswith(".out.tmp-") and seen[0].endswith(".png")


def test_unknown_extension_names_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(UareError, match=r"\.png") as info:
        write_image(tmp_path / "a.gif", rgb8())
    assert ".gif" in str(info.value)
    assert files_in(tmp_path) == []
    assert output_format("X.JPEG") == "JPEG"


def test_output_permissions_follow_umask(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", rgb8())
    (tmp_path / "ref").write_bytes(b"")
    assert (tmp_path / "a.png").stat().st_mode & 0o777 == (tmp_path / "ref").stat().st_mode & 0o777


def test_write_json_atomic(tmp_path: Path) -> None:
    path = write_json_atomic(tmp_path / "r.json", {"a": np.float32(1.5), "b": np.arange(3), "c": (1, 2)})
    assert json.loads(path.read_text()) == {"a": 1.5, "b": [0, 1, 2], "c": [1, 2]}
    with pytest.raises(OutputExistsError):
        write_json_atomic(path, {})
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "bad.json", {"x": object()})
    assert files_in(tmp_path) == ["r.json"]


# --- folders -----------------------------------------------------------------------------------


def test_iter_inputs_lists_images_sorted(tmp_path: Path) -> None:
    for name in ("b.PNG", "a.jpg", "c.webp", "notes.txt", ".hidden.png", "d.tiff"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.png").write_bytes(b"x")
    assert [p.name for p in iter_inputs(tmp_path)] == ["a.jpg", "b.PNG", "c.webp", "d.tiff"]
    assert iter_inputs(tmp_path / "notes.txt") == [tmp_path / "notes.txt"]
    assert ".png" in IMAGE_EXTENSIONS


def test_iter_inputs_errors(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(UareError, match="no image files"):
        iter_inputs(tmp_path)
    with pytest.raises(UareError, match="no such file"):
        iter_inputs(tmp_path / "missing")


def test_pillow_limit_is_restored_after_reads(tmp_path: Path) -> None:
    # The reader changes Pillow's global bomb limit only while opening a file.
    before = Image.MAX_IMAGE_PIXELS
    bomb_png(tmp_path / "b.png")
    with pytest.raises(ImageReadError):
        read_image(tmp_path / "b.png", max_pixels=10)
    assert before == Image.MAX_IMAGE_PIXELS


def test_a_tiny_jpeg_claiming_millions_of_pixels_is_refused_from_its_header(tmp_path):
    import io
    import struct

    from PIL import Image

    from uare.errors import ImageReadError
    from uare.io import read_image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(buf, "JPEG")
    b = bytearray(buf.getvalue())
    i = b.find(b"\xff\xc0")
    b[i + 5:i + 9] = struct.pack(">HH", 6000, 6500)  # SOF0: height, width
    (tmp_path / "h.jpg").write_bytes(bytes(b))
    with pytest.raises(ImageReadError, match=r"claims 6500x6000 pixels in a \d+-byte JPEG file"):
        read_image(tmp_path / "h.jpg")
    Image.new("RGB", (2400, 2000), (200, 200, 200)).save(tmp_path / "flat.webp", lossless=True)
    assert read_image(tmp_path / "flat.webp").pixels.shape == (2000, 2400, 3)  # legitimately extreme ratio


def test_jpeg_scan_bomb_refused_before_decoding(tmp_path: Path, monkeypatch) -> None:
    """Each scan is a pass over the whole image: a progressive JPEG with its smallest scan repeated is a CPU
    bomb. Scans are counted from the markers (entropy data stuffs 0xFF) and scans x pixels is budgeted."""
    import io

    import uare.io.image as image_mod

    ramp = np.linspace(0, 255, 64, dtype=np.float32)
    grad = np.stack([np.add.outer(ramp, ramp) / 2] * 3, -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(grad).save(buf, format="JPEG", progressive=True)
    data = buf.getvalue()
    sos = [i for i in range(len(data) - 1) if data[i:i + 2] == b"\xff\xda"]
    assert len(sos) >= 6  # a normal progressive JPEG: a handful of scans
    good = tmp_path / "good.jpg"
    good.write_bytes(data)
    last = data[sos[-1]:-2]  # the final scan, repeated: still a decodable file
    bomb = tmp_path / "bomb.jpg"
    bomb.write_bytes(data[:-2] + last * 200 + data[-2:])
    assert image_mod._count_jpeg_scans(bomb) == len(sos) + 200
    monkeypatch.setattr(image_mod, "MAX_JPEG_SCAN_PIXELS", 64 * 64 * 100)
    assert read_image(good).pixels.shape == (64, 64, 3)
    with pytest.raises(ImageReadError, match=r"JPEG with \d+ scans at 64x64 .* re-save it as a baseline JPEG"):
        read_image(bomb)
    monkeypatch.setattr(image_mod, "MAX_JPEG_SCAN_PIXELS", 64 * 64 * 1000)
    assert read_image(bomb).pixels.shape == (64, 64, 3)  # within the budget it decodes


@pytest.mark.parametrize("ext,what", [(".hdr", "Radiance HDR"), (".pfm", "PFM")])
def test_float_formats_only_opencv_reads_are_named(tmp_path: Path, ext: str, what: str) -> None:
    ok, enc = cv2.imencode(ext, np.zeros((8, 8, 3), np.float32))
    assert ok
    p = tmp_path / f"x{ext}"
    p.write_bytes(enc.tobytes())
    with pytest.raises(ImageReadError, match=f"{what} .a floating-point format. is not supported; convert"):
        read_image(p)
