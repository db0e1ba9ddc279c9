"""Image and video codecs for one still image: encode in memory, decode back, report what was used.

Image codecs go through Pillow (JPEG: libjpeg, WebP: libwebp, AVIF: libavif, all in Pillow's wheels);
video codecs (MPEG-2, MPEG-4 Part 2, H.264, H.265) go through PyAV, whose wheels bundle FFmpeg with
its encoders (the optional extra ``uare[apisr]``; never a downloaded binary). A video codec codes the
image as the single frame of a clip, as ``ffmpeg -i 1.png -vcodec ... -pix_fmt yuv420p out.mp4`` does:
one intra frame, RGB -> YUV 4:2:0 (BT.601, limited range, bicubic chroma) and back.

Reproducibility: every encoder runs single-threaded (x264 / x265 / libaom otherwise pick a thread
count from the machine, which can change the bitstream), so one set of parameters gives the same
bytes on every machine with the same library versions; each result names the library that made it.

:func:`codec_status` says which codecs this installation has (``None``) or why not (a reason).
"""

from __future__ import annotations

import fractions
import functools
import io
from typing import Any

import numpy as np
from PIL import Image, features

from uare.degrade.jpeg import jpeg_roundtrip_uint8

#: image codecs (Pillow) and video codecs (PyAV), in the order APISR's ``opt.py`` lists them
IMAGE_CODECS: tuple[str, ...] = ("jpeg", "webp", "heif", "avif")
VIDEO_CODECS: tuple[str, ...] = ("mpeg2", "mpeg4", "h264", "h265")
CODECS: tuple[str, ...] = IMAGE_CODECS + VIDEO_CODECS

#: FFmpeg encoders per video codec, preferred first (APISR's reference uses libxvid for MPEG-4; PyAV's
#: FFmpeg has no libxvid, and FFmpeg's native ``mpeg4`` encoder writes the same MPEG-4 Part 2 stream)
VIDEO_ENCODERS: dict[str, tuple[str, ...]] = {
    "mpeg2": ("mpeg2video",),
    "mpeg4": ("libxvid", "mpeg4"),
    "h264": ("libx264",),
    "h265": ("libx265",),
}
_DECODERS = {"mpeg2video": "mpeg2video", "libxvid": "mpeg4", "mpeg4": "mpeg4", "libx264": "h264", "libx265": "hevc"}

#: smallest side the video path encodes (x265 refuses frames under 16 px); smaller images are padded
VIDEO_MIN_SIDE = 16
#: largest side each codec codes (the video codecs' after padding to an even size), measured on these
#: libraries: libjpeg 65,500; WebP 16,383; MPEG-2 16,382; MPEG-4 Part 2 8,190 (13-bit sizes);
#: x264 16,384; x265 8,192 (its level limits; extreme aspect ratios can fail below that too)
MAX_SIDE: dict[str, int] = {"jpeg": 65_500, "webp": 16_383, "heif": 16_384, "avif": 32_768, "mpeg2": 16_382,
                            "mpeg4": 8_190, "h264": 16_384, "h265": 8_192}
#: the clip's frame rate (FFmpeg's default for an image sequence; x264 / x265 rate control reads it)
VIDEO_FPS = 25
#: FFmpeg's chroma / colour conversion (the ffmpeg command line's default swscale filter is bicubic)
_SWS = "BICUBIC"


def _av() -> Any:
    import av  # optional: ``pip install uare[apisr]``

    return av


@functools.cache
def _video_encoder(codec: str) -> tuple[str | None, str | None]:
    """(the FFmpeg encoder used for ``codec``, or None; and a reason when it is missing)."""
    try:
        av = _av()
    except ImportError as e:
        return None, f"PyAV is not installed ({e}); pip install 'uare[apisr]'"
    for name in VIDEO_ENCODERS[codec]:
        try:
            av.codec.Codec(name, "w")
        except Exception:  # UnknownCodecError and its relatives differ between PyAV versions
            continue
        return name, None
    return None, f"PyAV {av.__version__}'s FFmpeg has no {' / '.join(VIDEO_ENCODERS[codec])} encoder"


@functools.cache
def codec_status() -> dict[str, str | None]:
    """Every codec of :data:`CODECS` -> ``None`` when this installation can code with it, else why not."""
    status: dict[str, str | None] = {
        "jpeg": None,
        "webp": None if features.check("webp") else "this Pillow was built without WebP",
        "heif": "HEIF needs pillow-heif, which uare does not depend on (APISR draws it with probability 0)",
        "avif": None if features.check("avif") else "this Pillow has no AVIF (Pillow >= 11.3 writes AVIF)",
    }
    for codec in VIDEO_CODECS:
        status[codec] = _video_encoder(codec)[1]
    return status


def size_problem(codec: str, h: int, w: int) -> str | None:
    """Why ``codec`` cannot code an ``h`` x ``w`` image (``None``: it can)."""
    side = max(h + h % 2, w + w % 2) if codec in VIDEO_CODECS else max(h, w)
    if side > MAX_SIDE[codec]:
        return f"{codec} codes at most {MAX_SIDE[codec]:,} px a side; this image is {w}x{h}"
    return None


def available_codecs() -> frozenset[str]:
    """The codecs of :data:`CODECS` this installation can code with."""
    return frozenset(c for c, why in codec_status().items() if why is None)


@functools.cache
def library(codec: str) -> str:
    """The library (and version) that codes ``codec`` here, as recorded in each step."""
    if codec == "jpeg":
        return f"Pillow {Image.__version__} (libjpeg {features.version('jpg')})"
    if codec == "webp":
        return f"Pillow {Image.__version__} (libwebp {features.version('webp')})"
    if codec == "avif":
        extra = ""
        try:
            from PIL import _avif

            extra = f", {_avif.codec_versions()}"
        except (ImportError, AttributeError):
            pass
        return f"Pillow {Image.__version__} (libavif {features.version('avif')}{extra})"
    av = _av()
    encoder = _video_encoder(codec)[0]
    return f"PyAV {av.__version__} ({encoder}, libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))})"


def _pillow_roundtrip(u8: np.ndarray, fmt: str, **kw: Any) -> tuple[np.ndarray, int]:
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, fmt, **kw)
    n = buf.tell()
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB")), n


def _video_roundtrip(u8: np.ndarray, codec: str, params: dict[str, Any]) -> tuple[np.ndarray, int, str]:
    av = _av()
    encoder, why = _video_encoder(codec)
    if encoder is None:
        raise RuntimeError(f"cannot code {codec}: {why}")
    h, w = u8.shape[:2]
    ctx = av.CodecContext.create(encoder, "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuv420p"
    ctx.time_base = fractions.Fraction(1, VIDEO_FPS)
    ctx.framerate = fractions.Fraction(VIDEO_FPS, 1)
    ctx.thread_count = 1
    opts: dict[str, str] = {}
    if codec in ("h264", "h265"):
        opts = {"crf": str(int(params["crf"])), "preset": str(params["preset"])}
        if codec == "h265":
            # single-threaded (no pool: no WPP) so that the bitstream does not depend on the core count
            opts["x265-params"] = "log-level=error:pools=none:frame-threads=1"
    else:
        # ``ffmpeg -qscale:v q`` sets each frame's quality, which PyAV cannot reach; a rate control clamped
        # to qmin = qmax = q codes the frame with the same fixed quantiser. (``-preset`` is not an option
        # of these encoders: the reference's draw of it has no effect, here as there.)
        ctx.qmin = ctx.qmax = int(params["qscale"])
    ctx.options = opts
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(u8), format="rgb24")
    frame = frame.reformat(format="yuv420p", interpolation=_SWS)
    frame.pts = 0
    try:
        packets = list(ctx.encode(frame)) + list(ctx.encode(None))
    except av.error.FFmpegError as e:  # the encoder refused the frame (size / aspect limits): the image's fault
        raise ValueError(f"{encoder} cannot code a {w}x{h} frame ({e})") from None
    n = sum(p.size for p in packets)
    dec = av.CodecContext.create(_DECODERS[encoder], "r")
    dec.thread_count = 1
    frames = [f for p in packets for f in dec.decode(p)] + list(dec.decode(None))
    if len(frames) != 1:
        raise RuntimeError(f"{encoder}: expected one decoded frame, got {len(frames)}")
    return frames[0].to_ndarray(format="rgb24", interpolation=_SWS), n, encoder


def roundtrip(u8: np.ndarray, codec: str, params: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """Code the HxWxC (C = 1 or 3) uint8 image ``u8`` with ``codec`` and decode it back.

    ``params`` holds the codec's settings: ``quality`` (jpeg, webp, avif), ``method`` (webp: 0-6),
    ``speed`` (avif: 0-10), ``crf`` and ``preset`` (h264, h265), ``qscale`` (mpeg2, mpeg4: 2-31).
    Returns the decoded image (same shape and dtype) and what was used: the byte size, the library,
    the FFmpeg encoder, and ``pad`` (bottom, right) when a video codec needed an even size of at least
    :data:`VIDEO_MIN_SIDE` (the image is edge-padded, coded, and cropped back).
    """
    if u8.dtype != np.uint8 or u8.ndim != 3 or u8.shape[2] not in (1, 3):
        raise ValueError(f"codec round trip needs an HxWx1 or HxWx3 uint8 image, got {u8.dtype} {u8.shape}")
    if codec == "jpeg":
        out, n = jpeg_roundtrip_uint8(u8, int(params["quality"]))
        return out, {"bytes": n, "library": library(codec)}
    if codec not in CODECS or codec == "heif":
        raise ValueError(f"cannot code {codec!r}; codecs: {', '.join(c for c in CODECS if c != 'heif')}")
    why = codec_status()[codec]
    if why is not None:
        raise RuntimeError(f"cannot code {codec}: {why}")
    gray = u8.shape[2] == 1
    rgb = np.repeat(u8, 3, axis=2) if gray else u8
    info: dict[str, Any] = {}
    if codec == "webp":
        out, n = _pillow_roundtrip(rgb, "WEBP", quality=int(params["quality"]), method=int(params["method"]))
    elif codec == "avif":
        out, n = _pillow_roundtrip(rgb, "AVIF", quality=int(params["quality"]), speed=int(params["speed"]),
                                   max_threads=1)
    else:
        h, w = rgb.shape[:2]
        ph = max(VIDEO_MIN_SIDE, h + h % 2) - h
        pw = max(VIDEO_MIN_SIDE, w + w % 2) - w
        padded = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge") if ph or pw else rgb
        out, n, encoder = _video_roundtrip(padded, codec, params)
        out = out[:h, :w]
        info["encoder"] = encoder
        if ph or pw:
            info["pad"] = [ph, pw]
    if gray:  # a gray picture has neutral chroma: its three decoded channels agree up to rounding
        out = np.rint(out.astype(np.float32).mean(axis=2, keepdims=True)).astype(np.uint8)
    return np.ascontiguousarray(out), {"bytes": n, "library": library(codec), **info}


def jpeg_equivalent_quality(src: np.ndarray, coded: np.ndarray) -> int:
    """The JPEG quality (1-100) whose round trip of ``src`` loses as much (MSE) as ``coded`` did.

    The quality language grades compression by JPEG quality; this puts any codec's result on that
    scale, measured on the very image it coded (a binary search over libjpeg's qualities).
    """
    mse = float(np.mean((coded.astype(np.float64) - src.astype(np.float64)) ** 2))

    def jpeg_mse(q: int) -> float:
        out, _ = jpeg_roundtrip_uint8(src, q)
        return float(np.mean((out.astype(np.float64) - src.astype(np.float64)) ** 2))

    lo, hi = 1, 100  # smallest q whose JPEG loses no more than ``coded``; JPEG's loss falls with q
    if jpeg_mse(hi) > mse:
        return 100
    while lo < hi:
        mid = (lo + hi) // 2
        if jpeg_mse(mid) <= mse:
            hi = mid
        else:
            lo = mid + 1
    return lo
