"""Reading and writing images as numpy arrays, with one-line errors a user can act on.

Reading normalises what Pillow can open into ``HxWxC`` arrays (``C`` = 1 or 3) plus an optional
``HxW`` alpha plane, keeping 16-bit data 16-bit. Writing picks the format from the extension and is
atomic (see :mod:`uare.io.atomic`).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# OpenCV prints libtiff's complaints about damaged files to stderr; our errors say it in one line
with contextlib.suppress(AttributeError):  # older OpenCV builds have no logging module
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

from uare.errors import ImageReadError, UareError
from uare.io.atomic import atomic_path

#: Largest image (width * height) read without ``--max-pixels``: 100 megapixels, about 300 MB as RGB.
DEFAULT_MAX_PIXELS = 100_000_000
#: images over this many pixels must not claim more pixels per byte of file than their format can store:
#: a flat 16 MP JPEG at quality 10 holds 64 pixels per byte, a flat GIF 1,234, BMP's RLE at most 128;
#: a 3.4 KB JPEG claiming 39 MP (11,000 per byte) took minutes and gigabytes to "decode". PNG, TIFF and
#: WebP are not checked: a flat 1-bit PNG or a lossless WebP can legitimately exceed 20,000.
RATIO_CHECK_PIXELS = 4_000_000
MAX_PIXELS_PER_BYTE: dict[str, int] = {"JPEG": 1_000, "GIF": 5_000, "BMP": 1_000}
#: a JPEG decoder makes one pass over the whole image per scan; a 345 KB progressive JPEG of 4 MP whose
#: 16-byte scan was repeated 20,000 times took 52 s to decode, and a 496x496 one with 40,151 scans (9.9e9
#: scan-pixels) 8.8 s on one core. Scans x pixels above this budget (about 2 s of decoding; a normal
#: progressive JPEG has 6-12 scans, so 20 scans at 100 MP) are refused.
MAX_JPEG_SCAN_PIXELS = 2_000_000_000

#: Output extension -> Pillow format name.
WRITE_FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
_ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}  # Pillow writes BMP alpha, but reads it back without (and so do most tools)
_16BIT_FORMATS = {"PNG", "TIFF"}
_GRAY_FORMATS = {"PNG", "JPEG", "BMP", "TIFF"}

_EXIF_ORIENTATION = 0x0112
# Magic bytes, to tell "a broken PNG" from "not an image at all" when Pillow cannot identify a file.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
    (b"GIF8", "GIF"),
    (b"#?RADIANCE", "Radiance HDR"),
    (b"#?RGBE", "Radiance HDR"),
    (b"PF\n", "PFM"),
    (b"Pf\n", "PFM"),
)
_FLOAT_FORMATS = ("Radiance HDR", "PFM")
# Image.MAX_IMAGE_PIXELS is global: serialise the (header-only, fast) open that depends on it.
_OPEN_LOCK = threading.Lock()


@dataclass
class LoadedImage:
    """An image as read from disk, normalised to numpy.

    ``pixels`` is ``HxWxC`` (``C`` = 1 for gray, 3 for RGB), ``uint8`` or ``uint16`` (``bit_depth``
    8 or 16); ``alpha`` is ``HxW`` of the same dtype or ``None``. ``mode`` is the Pillow mode of the
    file before conversion, ``format`` its Pillow format name. ``notes`` lists, in plain words, every
    conversion applied (palette to RGB, EXIF rotation, ...).
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    mode: str
    bit_depth: int
    format: str | None
    exif_transposed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[2])


_FD2_LOCK = threading.Lock()


@contextlib.contextmanager
def c_stderr_captured():
    """Capture what C libraries (libpng, libjpeg, libtiff, OpenCV) print on file descriptor 2 while decoding:
    it never reaches the user's terminal (uare reports the outcome in one line). Yields a list that holds
    the captured text, one string, when the block ends. Python's own ``sys.stderr`` is flushed first."""
    got: list[str] = []
    with _FD2_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no fd 2 (a detached process): nothing to keep away
            yield got
            return
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield got
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                got.append(tmp.read(4096).decode("utf-8", "replace"))


def _c_message(captured: list[str]) -> str:
    """The first line a C library printed (e.g. ``libpng error: bad adaptive filter value``), or ''."""
    lines = [ln.strip() for ln in "".join(captured).splitlines() if ln.strip()]
    return lines[0][:200] if lines else ""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _sniff(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((name for sig, name in _SIGNATURES if head.startswith(sig)), None)


def _bomb_error(path: Path, pixels: int | None, max_pixels: int, size: tuple[int, int] | None = None) -> ImageReadError:
    what = f"{size[0]}x{size[1]} = {pixels:,} pixels" if size and pixels else (
        f"{pixels:,} pixels" if pixels else "too many pixels")
    return ImageReadError(
        f"{path}: image is {what}, over the {max_pixels:,}-pixel limit that guards against "
        "decompression bombs; pass --max-pixels N if you trust this file"
    )


def _corrupt_error(path: Path, fmt: str | None, exc: BaseException) -> ImageReadError:
    kind = f"{fmt} " if fmt else ""
    return ImageReadError(
        f"{path}: corrupt or truncated {kind}image data ({_one_line(exc) or type(exc).__name__}); "
        "re-export or re-download the file"
    )


def _float_error(path: Path, what: str) -> ImageReadError:
    return ImageReadError(
        f"{path}: {what} is not supported; convert it to an 8- or 16-bit integer PNG or TIFF"
    )


def _open(path: Path, max_pixels: int | None) -> Image.Image:
    """Open (header only) with Pillow's bomb check set to ``max_pixels`` and its warning made an error."""
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # damaged headers: reported once, as our error
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            return Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            m = re.search(r"\((\d+) pixels\)", str(e))
            raise _bomb_error(path, int(m.group(1)) if m else None, max_pixels or 0) from None
        except UnidentifiedImageError:
            raise _unidentified_error(path) from None
        except Exception as e:  # noqa: BLE001 - OSError, SyntaxError, ... or anything a hostile header raises
            raise _corrupt_error(path, _sniff(path), e) from None
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _unidentified_error(path: Path) -> ImageReadError:
    fmt = _sniff(path)
    if fmt in _FLOAT_FORMATS:
        return _float_error(path, f"{fmt} (a floating-point format)")
    if fmt == "TIFF":
        # Pillow cannot open float RGB TIFFs at all; OpenCV can, which tells us what the file is.
        arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if arr is not None and arr.dtype.kind == "f":
            return _float_error(path, f"floating-point TIFF ({arr.dtype.itemsize * 8}-bit float samples)")
    if fmt is not None:
        return ImageReadError(
            f"{path}: starts like a {fmt} file but its header is corrupt, truncated or an unsupported "
            "variant; re-export or re-download the file"
        )
    return ImageReadError(
        f"{path}: not an image (contents are not PNG, JPEG, WebP, BMP, TIFF or another known format); "
        "pass an image file"
    )


def _count_jpeg_scans(path: Path, chunk: int = 1 << 24) -> int:
    """Start-of-scan markers in a JPEG file (an upper bound on its scans: entropy-coded data stuffs every
    0xFF byte, so ``FF DA`` only occurs as a marker, here or in an embedded thumbnail). O(file size), in C."""
    n, tail = 0, b""
    with open(path, "rb") as f:
        while block := f.read(chunk):
            data = tail + block
            n += data.count(b"\xff\xda")
            tail = data[-1:]
    return n


def _png_header(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) from the PNG IHDR, which Pillow hides for 16-bit colour images."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


def _is_16bit_colour(path: Path, im: Image.Image) -> bool:
    """True for 16-bit colour (or gray+alpha) files that Pillow would silently reduce to 8 bits."""
    if im.format == "PNG":
        hdr = _png_header(path)
        return hdr is not None and hdr[0] == 16 and hdr[1] in (2, 4, 6)  # RGB, gray+alpha, RGBA
    if im.format == "TIFF" and im.mode in ("RGB", "RGBA", "RGBX", "LA"):
        bits = im.tag_v2.get(258, (8,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        return any(int(b) > 8 for b in bits)
    return False


def orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an ``HxW[xC]`` array, as ``ImageOps.exif_transpose`` does."""
    swap = (1, 0, *range(2, arr.ndim))
    if orientation == 2:
        out = arr[:, ::-1]
    elif orientation == 3:
        out = arr[::-1, ::-1]
    elif orientation == 4:
        out = arr[::-1]
    elif orientation == 5:
        out = arr.transpose(swap)
    elif orientation == 6:
        out = np.rot90(arr, -1)
    elif orientation == 7:
        out = arr[::-1, ::-1].transpose(swap)
    elif orientation == 8:
        out = np.rot90(arr, 1)
    else:
        out = arr
    return np.ascontiguousarray(out)


def _split(arr: np.ndarray, has_alpha: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """``HxW[xC]`` -> (``HxWxC'``, alpha or None), with gray kept as one channel."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if has_alpha:
        return np.ascontiguousarray(arr[:, :, :-1]), np.ascontiguousarray(arr[:, :, -1])
    return np.ascontiguousarray(arr), None


def _from_pillow(path: Path, im: Image.Image, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Decoded Pillow image -> (pixels, alpha, bit depth), converting unusual modes."""
    mode = im.mode
    if mode == "1":
        notes.append("1-bit image converted to 8-bit gray (0 and 255)")
        im, mode = im.convert("L"), "L"
    elif mode in ("P", "PA"):
        transparent = mode == "PA" or im.has_transparency_data
        mode = "RGBA" if transparent else "RGB"
        notes.append(f"palette image converted to {mode}")
        im = im.convert(mode)
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        notes.append(f"{mode} image converted to RGB" + (" (no colour profile applied)" if mode == "CMYK" else ""))
        im, mode = im.convert("RGB"), "RGB"
    elif mode in ("RGBa", "La"):
        mode = mode[:-1] + "A"
        notes.append("premultiplied alpha converted to straight alpha")
        im = im.convert(mode)

    if mode in ("L", "LA", "RGB", "RGBA"):
        return (*_split(np.asarray(im, dtype=np.uint8), mode.endswith("A")), 8)
    if mode.startswith("I;16"):
        # np.asarray gives big-endian '>u2' for I;16B: make it native.
        return (*_split(np.asarray(im).astype(np.uint16), False), 16)
    if mode == "I":
        arr = np.asarray(im)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise ImageReadError(
                f"{path}: 32-bit integer image with values outside 0..65535 is not supported; "
                "convert it to an 8- or 16-bit PNG or TIFF"
            )
        notes.append("32-bit integer gray image read as 16-bit (values fit in 0..65535)")
        return (*_split(arr.astype(np.uint16), False), 16)
    if mode == "F":
        raise _float_error(path, "floating-point image (32-bit float samples)")
    try:
        converted = im.convert("RGB")
    except (ValueError, OSError) as e:
        raise ImageReadError(
            f"{path}: unsupported image mode {mode} ({_one_line(e)}); convert it to an RGB PNG"
        ) from None
    notes.append(f"{mode} image converted to RGB")
    return (*_split(np.asarray(converted, dtype=np.uint8), False), 8)


def _read_16bit_colour(path: Path, orientation: int, expected: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.shape[:2] != expected or arr.dtype != np.uint16:
        raise ImageReadError(
            f"{path}: OpenCV could not decode this 16-bit colour image; re-export it as a 16-bit PNG"
        )
    if arr.ndim == 2:
        arr = arr[:, :, None]
    c = arr.shape[2]
    if c == 4:
        pixels, alpha = arr[:, :, 2::-1], arr[:, :, 3]  # BGRA -> RGB + alpha
    elif c == 3:
        pixels, alpha = arr[:, :, ::-1], None
    elif c == 2:
        pixels, alpha = arr[:, :, :1], arr[:, :, 1]
    else:
        pixels, alpha = arr[:, :, :1], None
    pixels = orient(pixels, orientation)
    alpha = orient(alpha, orientation) if alpha is not None else None
    return pixels, alpha


def read_image(path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image file into a :class:`LoadedImage`.

    Applies the EXIF orientation; converts palette, CMYK, 1-bit, premultiplied and other modes to
    gray/RGB (+ alpha); keeps 16-bit gray and colour data as ``uint16`` (16-bit colour PNG/TIFF are
    decoded with OpenCV, since Pillow reduces them to 8 bits). Images over ``max_pixels`` (width *
    height; ``None`` for no limit) are refused from the header, before any pixel is decoded.

    Raises :class:`ImageReadError` with one line naming the file, the problem and the fix for a
    missing, empty, non-image, truncated/corrupt, zero-size, too large or floating-point file.
    """
    p = Path(path)
    if not p.exists():
        raise ImageReadError(f"{p}: file not found; check the path")
    if p.is_dir():
        raise ImageReadError(f"{p}: is a folder, not an image file; pass an image file")
    try:
        size = p.stat().st_size
    except OSError as e:
        raise ImageReadError(f"{p}: cannot access the file ({e.strerror or e}); check its permissions") from None
    if size == 0:
        raise ImageReadError(f"{p}: empty file (0 bytes); re-copy or re-export the image")

    captured: list[str] = []
    try:
        with c_stderr_captured() as captured:
            im = _open(p, max_pixels)
            with warnings.catch_warnings():
                # a damaged file makes Pillow warn ("Truncated File Read", "Corrupt EXIF data") before it
                # fails or recovers; the outcome is reported once, as an error or in the notes
                warnings.simplefilter("ignore", UserWarning)
                return _decode(p, im, max_pixels)
    except ImageReadError as e:
        said = _c_message(captured)
        if said and said not in str(e):
            raise ImageReadError(f"{e} ({said})") from None
        raise
    except MemoryError:
        raise ImageReadError(f"{p}: not enough memory to decode this image; lower --max-pixels or use a "
                             "smaller image") from None
    except Exception as e:  # noqa: BLE001 - a hostile file may raise anything inside a decoder
        raise _corrupt_error(p, _sniff(p), e) from None


def _decode(p: Path, im: Image.Image, max_pixels: int | None) -> LoadedImage:
    with im:
        fmt, mode = im.format, im.mode
        w, h = im.size
        if w <= 0 or h <= 0:
            raise ImageReadError(f"{p}: image has zero width or height ({w}x{h}); re-export the image")
        if max_pixels is not None and w * h > max_pixels:
            raise _bomb_error(p, w * h, max_pixels, (w, h))
        size = p.stat().st_size
        ratio = MAX_PIXELS_PER_BYTE.get(fmt or "")
        if ratio and w * h > RATIO_CHECK_PIXELS and w * h > ratio * size:
            raise ImageReadError(
                f"{p}: header claims {w}x{h} pixels in a {size:,}-byte {fmt} file (over {ratio:,} pixels per byte, "
                "beyond what the format can compress): damaged or hostile; re-export or re-download the file")
        if fmt in ("JPEG", "MPO") and im.info.get("progressive"):  # a sequential JPEG has one scan per component
            scans = _count_jpeg_scans(p)
            if scans * w * h > MAX_JPEG_SCAN_PIXELS:
                raise ImageReadError(
                    f"{p}: JPEG with {scans:,} scans at {w}x{h} (over {MAX_JPEG_SCAN_PIXELS:,} scan-pixels; a "
                    "normal JPEG has 1-12 scans): damaged or hostile; re-save it as a baseline JPEG or a PNG")
        if mode == "F":
            raise _float_error(p, "floating-point image (32-bit float samples)")
        notes: list[str] = []
        if getattr(im, "n_frames", 1) > 1:
            notes.append(f"first of {im.n_frames} frames used")
        try:
            # Decode everything now, so a truncated file fails here rather than half-way through a job
            # (and before the EXIF block: reading a PNG's EXIF loads the pixels, and a failure there
            # used to leave a half-decoded image behind, its damaged rows black)
            im.load()
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise _corrupt_error(p, fmt, e) from None
        try:
            orientation = int(im.getexif().get(_EXIF_ORIENTATION, 1))
        except Exception:  # noqa: BLE001 - a broken EXIF block must not make the pixels unreadable
            orientation = 1
            notes.append("EXIF data unreadable; orientation not applied")
        orientation = orientation if 1 <= orientation <= 8 else 1

        if _is_16bit_colour(p, im):
            pixels, alpha = _read_16bit_colour(p, orientation, (h, w))
            bit_depth = 16
            notes.append("16-bit colour image decoded with OpenCV to keep all 16 bits")
            if mode == "LA":
                notes.append("16-bit gray + alpha image read as gray + alpha")
        else:
            oriented = ImageOps.exif_transpose(im) if orientation != 1 else im
            pixels, alpha, bit_depth = _from_pillow(p, oriented, notes)
    transposed = orientation != 1
    if transposed:
        notes.append(f"EXIF orientation {orientation} applied")
    return LoadedImage(pixels=pixels, alpha=alpha, mode=mode, bit_depth=bit_depth, format=fmt,
                       exif_transposed=transposed, notes=notes)


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """Round ``uint16`` data to ``uint8`` (``x / 257``, the exact inverse of 8->16 bit ``x * 257``)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype != np.uint16:
        raise ValueError(f"expected uint8 or uint16, got {arr.dtype}")
    return ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)


def output_format(path: str | os.PathLike[str]) -> str:
    """Pillow format name for an output path, from its extension; :class:`UareError` if unsupported."""
    suffix = Path(path).suffix.lower()
    if suffix not in WRITE_FORMATS:
        supported = ", ".join(WRITE_FORMATS)
        raise UareError(f"{path}: cannot write '{suffix or '(no extension)'}' files; use one of {supported}")
    return WRITE_FORMATS[suffix]


def _check_arrays(pixels: np.ndarray, alpha: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    px = np.asarray(pixels)
    if px.ndim == 2:
        px = px[:, :, None]
    if px.ndim != 3 or px.shape[2] not in (1, 3) or px.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"pixels must be HxW or HxWx1/3 uint8/uint16, got shape {px.shape} {px.dtype}")
    if alpha is None:
        return px, None
    a = np.asarray(alpha)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.shape != px.shape[:2]:
        raise ValueError(f"alpha shape {a.shape} does not match pixels {px.shape[:2]}")
    if a.dtype != px.dtype:
        # Alpha follows the colour depth, so that it can be stacked with the pixels.
        a = (a.astype(np.uint16) * 257) if px.dtype == np.uint16 else to_uint8(a)
    return px, a


def write_image(
    path: str | os.PathLike[str],
    pixels: np.ndarray,
    alpha: np.ndarray | None = None,
    *,
    overwrite: bool = False,
    quality: int = 95,
) -> list[str]:
    """Write ``pixels`` (``HxW`` or ``HxWx1/3``, ``uint8``/``uint16``) and an optional ``HxW`` alpha.

    The format follows the extension (see :data:`WRITE_FORMATS`). 16-bit data stays 16-bit in PNG
    and TIFF (written with OpenCV) and is rounded to 8 bits elsewhere; alpha is kept in PNG, WebP and
    TIFF and dropped elsewhere; gray stays gray except in WebP, which has no gray mode. ``quality``
    (1-100) applies to JPEG and WebP. The write is atomic and refuses an existing file unless
    ``overwrite`` (:class:`OutputExistsError`). Returns notes on every lossy adaptation made.
    """
    fmt = output_format(path)
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    px, a = _check_arrays(pixels, alpha)
    notes: list[str] = []
    if px.dtype == np.uint16 and fmt not in _16BIT_FORMATS:
        notes.append(f"{fmt} stores 8 bits per channel: 16-bit data rounded to 8 bits")
        px, a = to_uint8(px), (to_uint8(a) if a is not None else None)
    if a is not None and fmt not in _ALPHA_FORMATS:
        notes.append(f"{fmt} cannot store transparency: alpha channel dropped")
        a = None
    if px.shape[2] == 1 and fmt not in _GRAY_FORMATS:
        notes.append(f"{fmt} has no grayscale mode: written as RGB")

    with atomic_path(path, overwrite=overwrite) as tmp:
        try:
            if px.dtype == np.uint16:
                _write_16bit(tmp, px, a, notes)
            else:
                _write_8bit(tmp, fmt, px, a, quality)
        except OSError as e:  # full disk, lost mount, ...: the user can fix these
            raise UareError(f"{path}: cannot write the image ({_one_line(e)}); "
                            "check that the folder is writable and has free space") from e
    return notes


def _write_8bit(tmp: Path, fmt: str, px: np.ndarray, a: np.ndarray | None, quality: int) -> None:
    arr = px[:, :, 0] if px.shape[2] == 1 and a is None else px
    if a is not None:
        arr = np.dstack([px, a])  # HxWx2 -> LA, HxWx4 -> RGBA
    im = Image.fromarray(np.ascontiguousarray(arr))
    kwargs: dict[str, object] = {}
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = quality
    if fmt == "JPEG" and quality >= 90:
        kwargs["subsampling"] = 0  # 4:4:4: at high quality chroma subsampling would be the largest loss
    if fmt == "TIFF":
        kwargs["compression"] = "tiff_lzw"
    im.save(tmp, format=fmt, **kwargs)


def _write_16bit(tmp: Path, px: np.ndarray, a: np.ndarray | None, notes: list[str]) -> None:
    if px.shape[2] == 1 and a is not None:
        notes.append("16-bit gray + alpha written as 16-bit RGBA (OpenCV cannot write gray + alpha)")
        px = np.repeat(px, 3, axis=2)
    if px.shape[2] == 1:
        arr = px[:, :, 0]
    elif a is None:
        arr = px[:, :, ::-1]  # OpenCV writes BGR
    else:
        arr = np.dstack([px[:, :, ::-1], a])
    try:
        ok = cv2.imwrite(str(tmp), np.ascontiguousarray(arr))
    except cv2.error as e:
        raise UareError(f"{tmp}: OpenCV cannot write this image ({_one_line(e)})") from None
    if not ok:
        raise UareError(f"{tmp}: OpenCV failed to write the 16-bit image; check the folder is writable")
