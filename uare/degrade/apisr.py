"""APISR's degradation pipeline for anime, with its published ranges, probabilities and order.

APISR (Wang et al., "APISR: Anime Production Inspired Real-World Anime Super-Resolution", CVPR 2024)
extends Real-ESRGAN's second-order model with the codecs anime reaches viewers through. Its public
code (github.com/Kiteretsu77/APISR: ``opt.py``, ``degradation/degradation_esr.py``,
``degradation/ESR/degradation_esr_shared.py``, ``degradation/image_compression/*``,
``degradation/video_compression/*``) does, for an H x W image and scale s:

1. first degradation: blur (always; Real-ESRGAN kernel family, sinc p 0.1, sigma U[0.2, 3]); a resize
   (up / down / keep p 0.2 / 0.7 / 0.1, up x U[1, 1.2], down x U[0.1, 1], mode area / bilinear / bicubic)
   placed before the blur, after it or after the noise, each with p 1/3; noise (Gaussian p 0.5, sigma
   U[1, 30], else Poisson scale U[0.05, 3]; gray p 0.4, clipped); image compression: JPEG p 0.4 or
   WebP p 0.6 (HEIF, AVIF p 0), quality U{20..95}, WebP method U{0..6};
2. second degradation: blur with p 0.8 (sigma U[0.2, 1.5]); at scale 4 only, a resize to
   (H / s * r, W / s * r) (p 0.2 / 0.7 / 0.1, up x U[1, 1.2], down x U[0.15, 1]) placed before the
   blur, after it or after the noise, p 1/3 each; noise (sigma U[1, 25], Poisson U[0.05, 2.5], gray 0.4);
3. resize to H / s x W / s (mode drawn once, uniformly) and clamp;
4. a second compression: JPEG 0.06, WebP 0.1, AVIF 0.1 (quality U{20..95}; AVIF's drawn "method" is
   unused, "Useless now" in ``opt.py``), MPEG-2 0.12, MPEG-4 0.12 (qscale U{8..31}), H.264 0.3 (CRF
   U{23..38}), H.265 0.2 (CRF U{28..42}); every video codec draws a preset slow / medium / fast / faster
   / superfast with p 0.05 / 0.35 / 0.3 / 0.2 / 0.1 (x264 / x265 use it; MPEG-2 / MPEG-4 have none).
   The image is one frame of a clip: a single intra frame in YUV 4:2:0.

The ground truth APISR trains on is a line-enhanced pseudo-GT (``scripts/anime_strong_usm.py``:
USM sharpening and XDoG line masks), a dataset-preparation step, not part of the degradation.

Here every parameter is drawn first (:func:`draw_params`: cheap, no pixels) and then applied step by
step (:func:`apply_step`); the record holds each step's drawn parameters, enough for :func:`reapply`
to redo it bit for bit (the noise steps carry the seed of their noise field). Differences from the
reference: resizing uses OpenCV (as :mod:`uare.degrade.realesrgan`), JPEG / WebP / AVIF go through
Pillow (libjpeg instead of OpenCV's; libavif instead of pillow-heif, at Pillow's default speed 6)
and every encoder's input is rounded to 8 bits (the reference truncates before WebP / AVIF), MPEG-4
uses FFmpeg's native encoder when PyAV has no libxvid (:mod:`uare.degrade.codecs` says how each codec
is run), and a codec this installation lacks, or that cannot code the image's size, is drawn again
among the others (noted in the record). Compression steps count in the quality
language's ``jpeg`` (compression) category, graded by their JPEG-equivalent quality: the JPEG quality
that loses as much on the same image.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from uare.degrade import codecs
from uare.degrade._array import from_float, make_rng, to_float
from uare.degrade.blur import draw_realesrgan_kernel, filter_float, kernel_step, realesrgan_kernel
from uare.degrade.kernels import KERNEL_LIST, KERNEL_PROB
from uare.degrade.noise import gaussian_noise_float, poisson_noise_float
from uare.degrade.record import DegradationRecord, Step
from uare.degrade.resize import modcrop, resize_float, resize_step
from uare.degrade.severity import severity_from_strength

PRESETS: tuple[str, ...] = ("slow", "medium", "fast", "faster", "superfast")


@dataclass(frozen=True)
class APISRConfig:
    """Every range and probability of the pipeline (defaults: APISR's ``opt.py``; integer ranges inclusive)."""

    # blur kernels (opt kernel_range [3, 11] -> sizes 2v + 1 for v in range(3, 11) = 7..21)
    kernel_range: tuple[int, int] = (7, 21)
    kernel_list: tuple[str, ...] = KERNEL_LIST
    kernel_prob: tuple[float, ...] = KERNEL_PROB
    sinc_prob: float = 0.1
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    betag_range: tuple[float, float] = (0.5, 4.0)
    betap_range: tuple[float, float] = (1.0, 2.0)
    kernel_prob2: tuple[float, ...] = KERNEL_PROB
    sinc_prob2: float = 0.1
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    betag_range2: tuple[float, float] = (0.5, 4.0)
    betap_range2: tuple[float, float] = (1.0, 2.0)

    # first degradation
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: tuple[float, float] = (0.1, 1.2)  # Real-ESRGAN: (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple[float, float] = (1.0, 30.0)
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4

    # second degradation
    second_blur_prob: float = 0.8
    resize_prob2: tuple[float, float, float] = (0.2, 0.7, 0.1)
    resize_range2: tuple[float, float] = (0.15, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: tuple[float, float] = (1.0, 25.0)
    poisson_scale_range2: tuple[float, float] = (0.05, 2.5)
    gray_noise_prob2: float = 0.4

    resize_options: tuple[str, ...] = ("area", "bilinear", "bicubic")
    #: where a resize sits in its degradation: 0 before the blur, 1 after it, 2 after the noise (uniform)
    resize_positions: tuple[int, ...] = (0, 1, 2)
    #: scales with a second resize (the reference: ``if opt['scale'] == 4``)
    second_resize_scales: tuple[int, ...] = (4,)

    # first compression (image codecs)
    compression_codec1: tuple[str, ...] = ("jpeg", "webp", "heif", "avif")
    compression_codec_prob1: tuple[float, ...] = (0.4, 0.6, 0.0, 0.0)
    jpeg_quality_range1: tuple[int, int] = (20, 95)
    webp_quality_range1: tuple[int, int] = (20, 95)
    webp_encode_speed1: tuple[int, int] = (0, 6)
    heif_quality_range1: tuple[int, int] = (30, 100)
    avif_quality_range1: tuple[int, int] = (30, 100)
    avif_encode_speed1: tuple[int, int] = (0, 6)

    # second compression (image and video codecs)
    compression_codec2: tuple[str, ...] = ("jpeg", "webp", "avif", "mpeg2", "mpeg4", "h264", "h265")
    compression_codec_prob2: tuple[float, ...] = (0.06, 0.1, 0.1, 0.12, 0.12, 0.3, 0.2)
    jpeg_quality_range2: tuple[int, int] = (20, 95)
    webp_quality_range2: tuple[int, int] = (20, 95)
    webp_encode_speed2: tuple[int, int] = (0, 6)
    avif_quality_range2: tuple[int, int] = (20, 95)
    avif_encode_speed2: tuple[int, int] = (0, 6)
    h264_crf_range2: tuple[int, int] = (23, 38)
    h265_crf_range2: tuple[int, int] = (28, 42)
    mpeg2_quality2: tuple[int, int] = (8, 31)  # qscale, 2 (best) .. 31
    mpeg4_quality2: tuple[int, int] = (8, 31)
    #: opt.py gives H.264, H.265, MPEG-2 and MPEG-4 the same preset list and probabilities
    preset_mode2: tuple[str, ...] = PRESETS
    preset_prob2: tuple[float, ...] = (0.05, 0.35, 0.3, 0.2, 0.1)
    #: the AVIF encoder speed used (the reference's drawn "method" does not reach its encoder)
    avif_speed: int = 6

    def __post_init__(self) -> None:
        for name, codec_names, probs in (("1", self.compression_codec1, self.compression_codec_prob1),
                                         ("2", self.compression_codec2, self.compression_codec_prob2)):
            if len(codec_names) != len(probs) or min(probs) < 0 or sum(probs) <= 0:
                raise ValueError(f"compression_codec{name}: one probability >= 0 per codec, not all zero")
            bad = [c for c, p in zip(codec_names, probs, strict=True) if c not in codecs.CODECS
                   or (c == "heif" and p > 0)]
            if bad:
                raise ValueError(f"compression_codec{name}: cannot draw {', '.join(bad)} (codecs: "
                                 f"{', '.join(c for c in codecs.CODECS if c != 'heif')}; HEIF only with p 0)")


def _int(rng: np.random.Generator, lo_hi: tuple[int, int]) -> int:
    """``random.randint``: an integer of the inclusive range."""
    return int(rng.integers(lo_hi[0], lo_hi[1] + 1))


def _pick(rng: np.random.Generator, names: tuple[str, ...], probs: tuple[float, ...]) -> str:
    p = np.asarray(probs, dtype=np.float64)
    return str(names[int(rng.choice(len(names), p=p / p.sum()))])


def _draw_resize(rng: np.random.Generator, probs: tuple[float, ...], lo_hi: tuple[float, float],
                 modes: tuple[str, ...]) -> tuple[str, float, str]:
    updown = _pick(rng, ("up", "down", "keep"), probs)
    if updown == "up":
        ratio = float(rng.uniform(1.0, lo_hi[1]))
    elif updown == "down":
        ratio = float(rng.uniform(lo_hi[0], 1.0))
    else:
        ratio = 1.0
    return updown, ratio, str(modes[int(rng.integers(len(modes)))])


def _draw_noise(rng: np.random.Generator, gauss_prob: float, sigma_range: tuple[float, float],
                poisson_range: tuple[float, float], gray_prob: float, channels: int, stage: int
                ) -> tuple[str, dict[str, Any]]:
    gray = bool(rng.uniform() < gray_prob) and channels == 3  # a gray image's noise is gray anyway
    if rng.uniform() < gauss_prob:
        op, params = "gaussian_noise", {"sigma": float(rng.uniform(*sigma_range))}
    else:
        op, params = "poisson_noise", {"scale": float(rng.uniform(*poisson_range))}
    params.update({"gray": gray, "seed": int(rng.integers(2**31)), "stage": stage})
    return op, params


def _draw_codec(rng: np.random.Generator, cfg: APISRConfig, stage: int, available: Collection[str],
                size: tuple[int, int]) -> tuple[str, dict[str, Any]]:
    names = cfg.compression_codec1 if stage == 1 else cfg.compression_codec2
    probs = cfg.compression_codec_prob1 if stage == 1 else cfg.compression_codec_prob2
    codec = _pick(rng, names, probs)
    params: dict[str, Any] = {}
    why = codecs.codec_status().get(codec) if codec not in available else codecs.size_problem(codec, *size)
    if codec not in available or why is not None:
        # the reference would fail; here the draw is repeated among the codecs this installation has for
        # this size (the conditional distribution given availability), and the record says so
        left = [(c, p) for c, p in zip(names, probs, strict=True)
                if c in available and p > 0 and codecs.size_problem(c, *size) is None]
        if not left:
            raise ValueError(f"no codec of {', '.join(names)} can code a {size[1]}x{size[0]} image here")
        params["drawn"] = codec
        params["drawn_why"] = why or "not among the codecs allowed"
        codec = _pick(rng, tuple(c for c, _ in left), tuple(p for _, p in left))
    s = str(stage)
    if codec in ("jpeg", "webp", "avif"):
        params["quality"] = _int(rng, getattr(cfg, f"{codec}_quality_range{s}"))
    if codec == "webp":
        params["method"] = _int(rng, getattr(cfg, f"webp_encode_speed{s}"))
    elif codec == "avif":
        params["method"] = _int(rng, getattr(cfg, f"avif_encode_speed{s}"))  # drawn as the reference does
        params["speed"] = cfg.avif_speed
    elif codec in ("h264", "h265"):
        params["crf"] = _int(rng, getattr(cfg, f"{codec}_crf_range2"))
        params["preset"] = _pick(rng, cfg.preset_mode2, cfg.preset_prob2)
    elif codec in ("mpeg2", "mpeg4"):
        params["qscale"] = _int(rng, getattr(cfg, f"{codec}_quality2"))
        params["preset"] = _pick(rng, cfg.preset_mode2, cfg.preset_prob2)  # no effect on these encoders
    params["stage"] = stage
    return codec, params


def draw_params(rng: np.random.Generator | int | None, size: tuple[int, int], scale: int = 4,
                config: APISRConfig | None = None, channels: int = 3,
                available: Collection[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Draw every parameter of one APISR degradation of an image of ``size`` (height, width).

    Returns the steps in the order they are applied, as (op, params) pairs for :func:`apply_step`:
    ``blur``, ``resize``, ``gaussian_noise`` / ``poisson_noise`` and one op per codec (``jpeg``, ``webp``,
    ``avif``, ``mpeg2``, ``mpeg4``, ``h264``, ``h265``); each params dict has its ``stage`` (1, 2; 3 for
    the final resize). ``available`` is the set of codecs to draw from (default: what this
    installation has, :func:`uare.degrade.codecs.available_codecs`). No pixels are touched: a draw
    takes about half a millisecond.
    """
    cfg = config or APISRConfig()
    rng = make_rng(rng)
    avail = codecs.available_codecs() if available is None else frozenset(available)
    h, w = int(size[0]), int(size[1])

    # drawn up front, as the reference does (kernels reset per batch, the final mode before the rest)
    k1 = draw_realesrgan_kernel(rng, cfg.blur_sigma, cfg.sinc_prob, cfg.kernel_range, cfg.betag_range,
                                cfg.betap_range, cfg.kernel_list, cfg.kernel_prob)
    k2 = draw_realesrgan_kernel(rng, cfg.blur_sigma2, cfg.sinc_prob2, cfg.kernel_range, cfg.betag_range2,
                                cfg.betap_range2, cfg.kernel_list, cfg.kernel_prob2)
    final_mode = str(cfg.resize_options[int(rng.integers(len(cfg.resize_options)))])
    pos1 = int(cfg.resize_positions[int(rng.integers(len(cfg.resize_positions)))])
    second_resize = scale in cfg.second_resize_scales
    pos2 = int(cfg.resize_positions[int(rng.integers(len(cfg.resize_positions)))]) if second_resize else -1

    # ---- first degradation: [resize] blur [resize] noise [resize], image compression
    updown, ratio, mode = _draw_resize(rng, cfg.resize_prob, cfg.resize_range, cfg.resize_options)
    resize1 = ("resize", {"to": [max(1, int(h * ratio)), max(1, int(w * ratio))], "mode": mode,
                          "updown": updown, "ratio": ratio, "position": pos1, "stage": 1})
    noise1 = _draw_noise(rng, cfg.gaussian_noise_prob, cfg.noise_range, cfg.poisson_scale_range,
                         cfg.gray_noise_prob, channels, 1)
    codec1 = _draw_codec(rng, cfg, 1, avail, tuple(resize1[1]["to"]))  # every position is before it
    first = _order(resize1, pos1, ("blur", {**k1, "stage": 1}), noise1)

    # ---- second degradation: [resize] blur (p 0.8) [resize] noise [resize]
    blur2 = bool(rng.uniform() < cfg.second_blur_prob)
    resize2 = None
    if second_resize:
        updown, ratio, mode = _draw_resize(rng, cfg.resize_prob2, cfg.resize_range2, cfg.resize_options)
        resize2 = ("resize", {"to": [max(1, int(h / scale * ratio)), max(1, int(w / scale * ratio))],
                              "mode": mode, "updown": updown, "ratio": ratio, "position": pos2, "stage": 2})
    noise2 = _draw_noise(rng, cfg.gaussian_noise_prob2, cfg.noise_range2, cfg.poisson_scale_range2,
                         cfg.gray_noise_prob2, channels, 2)
    second = _order(resize2, pos2, ("blur", {**k2, "stage": 2}) if blur2 else None, noise2)

    # ---- final resize to H / s x W / s, then the second compression (image or video codec)
    codec2 = _draw_codec(rng, cfg, 2, avail, (h // scale, w // scale))
    final = ("resize", {"to": [h // scale, w // scale], "mode": final_mode, "stage": 3})
    return [*first, codec1, *second, final, codec2]


def _order(resize: Any, position: int, blur: Any, noise: Any) -> list[tuple[str, dict[str, Any]]]:
    """One degradation's steps: the resize at ``position`` 0 (first), 1 (after the blur: even when the
    blur is skipped, as in the reference) or 2 (after the noise); ``None`` steps are left out."""
    steps = [resize if position == 0 else None, blur, resize if position == 1 else None, noise,
             resize if position == 2 else None]
    return [st for st in steps if st is not None]


class _State:
    """What a step needs from the ones before it: the resolution lost so far, relative to the input."""

    def __init__(self, h0: int):
        self.h0, self.min_rel = h0, 1.0


def apply_step(f: np.ndarray, op: str, params: dict[str, Any], state: _State) -> tuple[np.ndarray, Step]:
    """Apply one drawn step to the float HxWxC image ``f``; return the result and its record.

    ``params`` are the drawn parameters (:func:`draw_params`) or a recorded step's (extra measured
    fields such as ``bytes`` or ``effective_sigma`` are ignored).
    """
    p = dict(params)
    if op == "blur":
        k = realesrgan_kernel(p)
        return filter_float(f, k), kernel_step(k, p)
    if op == "resize":
        h, w = f.shape[:2]
        size = (int(p["to"][0]), int(p["to"][1]))
        out = resize_float(f, size, p["mode"])
        rel = size[0] / state.h0
        factor = 1.0 / rel if rel < state.min_rel else 1.0  # only a new minimum loses resolution
        state.min_rel = min(state.min_rel, rel)
        step = resize_step(h, w, size, p["mode"], factor)
        step.params.update({k: v for k, v in p.items() if k not in step.params and k != "factor"})
        if p.get("stage") == 3:
            out = np.clip(out, 0.0, 1.0)  # the reference clamps after its final resize
        return out, step
    if op == "gaussian_noise":
        out = np.clip(gaussian_noise_float(f, p["sigma"], p["gray"], np.random.default_rng(p["seed"])), 0, 1)
        keep = {k: p[k] for k in ("sigma", "gray", "seed", "stage")}
        return out, Step(op, keep, "noise", "gaussian", severity_from_strength("noise", p["sigma"]))
    if op == "poisson_noise":
        out = poisson_noise_float(f, p["scale"], p["gray"], np.random.default_rng(p["seed"]))
        std = float(np.std(out - f)) * 255.0
        keep = {k: p[k] for k in ("scale", "gray", "seed", "stage")}
        return np.clip(out, 0, 1), Step(op, {**keep, "std": round(std, 4)}, "noise", "poisson",
                                        severity_from_strength("noise", std))
    if op in codecs.CODECS:
        src = np.clip(np.rint(f * 255.0), 0, 255).astype(np.uint8)
        coded, info = codecs.roundtrip(src, op, p)
        q_eq = int(p["quality"]) if op == "jpeg" else codecs.jpeg_equivalent_quality(src, coded)
        keep = {k: v for k, v in p.items() if k not in ("bytes", "library", "encoder", "pad", "jpeg_equivalent_quality")}
        step = Step(op, {**keep, "codec": op, **info, "jpeg_equivalent_quality": q_eq}, "jpeg",
                    "jpeg" if op == "jpeg" else None, severity_from_strength("jpeg", 100 - q_eq))
        return coded.astype(np.float32) * np.float32(1 / 255.0), step
    raise ValueError(f"unknown APISR step {op!r}")


def _start(img: np.ndarray, scale: int) -> tuple[np.ndarray, Any]:
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    arr = modcrop(np.asarray(img), int(scale))
    f, meta = to_float(arr)
    h, w = f.shape[:2]
    if h < scale * 4 or w < scale * 4:
        raise ValueError(f"image {h}x{w} is too small for the APISR pipeline at scale {scale}")
    return f, meta


def apisr(img: np.ndarray, scale: int = 4, seed: int | np.random.Generator | None = 0,
          config: APISRConfig | None = None, available: Collection[str] | None = None
          ) -> tuple[np.ndarray, DegradationRecord]:
    """Degrade with APISR's pipeline to exactly H/scale x W/scale of the mod-cropped input.

    ``scale`` is a positive integer (APISR trains x4; only x4 has the second resize). Returns the
    degraded image (input dtype) and the record of every step; :func:`reapply` redoes it from the record.
    ``available`` restricts the codecs (default: every codec this installation has).
    """
    f, meta = _start(img, scale)
    h, w = f.shape[:2]
    rng = make_rng(seed)
    plan = draw_params(rng, (h, w), int(scale), config, f.shape[2], available)
    rec = DegradationRecord("apisr", seed=seed if isinstance(seed, int) else None, scale=int(scale),
                            input_size=(h, w))
    state = _State(h)
    for op, params in plan:
        f, step = apply_step(f, op, params, state)
        rec.add(step)
        if "drawn" in params:
            rec.notes.append(f"codec {params['drawn']} unavailable ({params['drawn_why']}): drawn again among "
                             f"the available codecs -> {op}")
    if int(scale) not in (config or APISRConfig()).second_resize_scales:
        rec.notes.append(f"no second resize at x{int(scale)} (APISR resizes twice only at x4)")
    rec.output_size = (f.shape[0], f.shape[1])
    return from_float(f, meta), rec


def reapply(img: np.ndarray, record: DegradationRecord | dict[str, Any]) -> np.ndarray:
    """Redo a recorded APISR degradation on the same clean image: bit for bit the recorded output.

    Every step is rebuilt from its recorded parameters alone (blur kernels from their parameters, noise
    from its seed, codecs from their settings); the same library versions give the same bytes.
    """
    rec = DegradationRecord.from_dict(record) if isinstance(record, dict) else record
    if rec.pipeline != "apisr":
        raise ValueError(f"not an APISR record (pipeline {rec.pipeline!r})")
    f, meta = _start(img, rec.scale)
    if tuple(f.shape[:2]) != tuple(rec.input_size):
        raise ValueError(f"image {f.shape[0]}x{f.shape[1]} (after the x{rec.scale} mod-crop) is not the "
                         f"recorded input {rec.input_size[0]}x{rec.input_size[1]}")
    state = _State(f.shape[0])
    for s in rec.steps:
        f, _ = apply_step(f, s.op, s.params, state)
    return from_float(f, meta)

