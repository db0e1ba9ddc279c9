"""Real-ESRGAN's second-order degradation pipeline, with its published ranges and probabilities.

Reproduces the recipe of ``train_realesrnet_x4plus.yml`` (Wang et al., 2021), step by step:

1. blur (always): sinc with p 0.1, else a mixed Gaussian-family kernel, sigma in [0.2, 3];
2. resize: up / down / keep with p 0.2 / 0.7 / 0.1, up x U[1, 1.5], down x U[0.15, 1], mode random;
3. noise: Gaussian (p 0.5, sigma U[1, 30]) else Poisson (scale U[0.05, 3]); gray with p 0.4;
4. JPEG quality U[30, 95];
5. second blur with p 0.8, sigma in [0.2, 1.5];
6. resize: p 0.3 / 0.4 / 0.3, up x U[1, 1.2], down x U[0.3, 1], to (H / scale * s, W / scale * s);
7. noise: Gaussian sigma U[1, 25] else Poisson U[0.05, 2.5]; gray with p 0.4;
8. final, in random order with p 0.5: [resize to H / scale + sinc] then JPEG U[30, 95], or JPEG then
   [resize + sinc]; the final sinc (omega U[pi/3, pi]) with p 0.8, else an identity pulse;
9. round to the 8-bit grid.

Differences from the reference: JPEG goes through libjpeg (Pillow) at an integer quality instead
of the differentiable DiffJPEG, and resizing uses OpenCV (same kernels as PyTorch's, including
a = -0.75 bicubic; OpenCV's area mode equals PyTorch's for down-scaling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from uare.degrade._array import from_float, make_rng, to_float
from uare.degrade.blur import filter_float, kernel_step, random_realesrgan_kernel
from uare.degrade.jpeg import jpeg_float
from uare.degrade.kernels import sinc_kernel
from uare.degrade.noise import gaussian_noise_float, poisson_noise_float
from uare.degrade.record import DegradationRecord, Step
from uare.degrade.resize import modcrop, resize_float, resize_step
from uare.degrade.severity import severity_from_strength

RESIZE_MODES = ("area", "bilinear", "bicubic")


@dataclass(frozen=True)
class RealESRGANConfig:
    """Every range and probability of the pipeline (defaults: Real-ESRGAN x4plus)."""

    kernel_range: tuple[int, int] = (7, 21)
    sinc_prob: float = 0.1
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: tuple[float, float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple[float, float] = (1.0, 30.0)
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[int, int] = (30, 95)

    second_blur_prob: float = 0.8
    sinc_prob2: float = 0.1
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    resize_prob2: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range2: tuple[float, float] = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: tuple[float, float] = (1.0, 25.0)
    poisson_scale_range2: tuple[float, float] = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: tuple[int, int] = (30, 95)

    final_sinc_prob: float = 0.8


class _Tracker:
    """Keeps the record and the resolution lost so far (relative to the clean input)."""

    def __init__(self, rec: DegradationRecord, h: int, w: int):
        self.rec, self.h0, self.min_rel = rec, h, 1.0

    def resize(self, f: np.ndarray, size: tuple[int, int], mode: str, stage: int) -> np.ndarray:
        h, w = f.shape[:2]
        out = resize_float(f, size, mode)
        rel = size[0] / self.h0
        # Only a new minimum of size loses resolution; growing back does not restore it.
        factor = 1.0 / rel if rel < self.min_rel else 1.0
        self.min_rel = min(self.min_rel, rel)
        step = resize_step(h, w, size, mode, factor)
        step.params["stage"] = stage
        self.rec.add(step)
        return out


def _random_resize(f, rng, tr: _Tracker, probs, rng_range, up_max, target_hw, stage, cfg_scale):
    updown = str(rng.choice(["up", "down", "keep"], p=probs))
    if updown == "up":
        s = float(rng.uniform(1.0, up_max))
    elif updown == "down":
        s = float(rng.uniform(rng_range[0], 1.0))
    else:
        s = 1.0
    mode = str(rng.choice(RESIZE_MODES))
    if target_hw is None:  # first stage: relative to the current size
        size = (max(1, int(f.shape[0] * s)), max(1, int(f.shape[1] * s)))
    else:  # second stage: relative to the output size
        size = (max(1, int(target_hw[0] / cfg_scale * s)), max(1, int(target_hw[1] / cfg_scale * s)))
    return tr.resize(f, size, mode, stage)


def _random_noise(f, rng, rec, gauss_prob, sigma_range, poisson_range, gray_prob, stage):
    gray = bool(rng.uniform() < gray_prob) and f.shape[2] == 3
    if rng.uniform() < gauss_prob:
        sigma = float(rng.uniform(*sigma_range))
        # gray_prob is drawn before the type, as in the reference; a gray image is always "gray".
        out = gaussian_noise_float(f, sigma, gray, rng)
        rec.add(Step("gaussian_noise", {"sigma": sigma, "gray": gray, "stage": stage}, "noise", "gaussian",
                     severity_from_strength("noise", sigma)))
    else:
        scale = float(rng.uniform(*poisson_range))
        out = poisson_noise_float(f, scale, gray, rng)
        std = float(np.std(out - f)) * 255.0
        rec.add(Step("poisson_noise", {"scale": scale, "gray": gray, "std": round(std, 4), "stage": stage},
                     "noise", "poisson", severity_from_strength("noise", std)))
    return out


def _jpeg(f, rng, rec, q_range, stage):
    q = int(round(rng.uniform(*q_range)))
    out, n = jpeg_float(np.clip(f, 0, 1), q)
    rec.add(Step("jpeg", {"quality": q, "bytes": n, "stage": stage}, "jpeg", "jpeg",
                 severity_from_strength("jpeg", 100 - q)))
    return out


def _blur(f, rng, rec, sigma_range, sinc_prob, kernel_range, stage):
    k, params = random_realesrgan_kernel(rng, sigma_range=sigma_range, sinc_prob=sinc_prob,
                                         kernel_range=kernel_range)
    params["stage"] = stage
    rec.add(kernel_step(k, params))
    return filter_float(f, k)


def realesrgan(img: np.ndarray, scale: int = 4, seed: int | np.random.Generator | None = 0,
               config: RealESRGANConfig | None = None) -> tuple[np.ndarray, DegradationRecord]:
    """Degrade with the Real-ESRGAN second-order pipeline to exactly H/scale x W/scale.

    ``scale`` is 1, 2 or 4 (any positive integer works); the input is mod-cropped to a multiple of
    it first. Returns the degraded image (input dtype) and the record of every step.
    """
    cfg = config or RealESRGANConfig()
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    scale = int(scale)
    rng = make_rng(seed)
    arr = modcrop(np.asarray(img), scale)
    f, meta = to_float(arr)
    h, w = f.shape[:2]
    if h < scale * 4 or w < scale * 4:
        raise ValueError(f"image {h}x{w} is too small for the Real-ESRGAN pipeline at scale {scale}")
    rec = DegradationRecord("realesrgan", seed=seed if isinstance(seed, int) else None, scale=scale,
                            input_size=(h, w))
    tr = _Tracker(rec, h, w)

    # ---- first degradation
    f = _blur(f, rng, rec, cfg.blur_sigma, cfg.sinc_prob, cfg.kernel_range, 1)
    f = _random_resize(f, rng, tr, cfg.resize_prob, cfg.resize_range, cfg.resize_range[1], None, 1, scale)
    f = _random_noise(f, rng, rec, cfg.gaussian_noise_prob, cfg.noise_range, cfg.poisson_scale_range,
                      cfg.gray_noise_prob, 1)
    f = _jpeg(f, rng, rec, cfg.jpeg_range, 1)

    # ---- second degradation
    if rng.uniform() < cfg.second_blur_prob:
        f = _blur(f, rng, rec, cfg.blur_sigma2, cfg.sinc_prob2, cfg.kernel_range, 2)
    f = _random_resize(f, rng, tr, cfg.resize_prob2, cfg.resize_range2, cfg.resize_range2[1], (h, w), 2, scale)
    f = _random_noise(f, rng, rec, cfg.gaussian_noise_prob2, cfg.noise_range2, cfg.poisson_scale_range2,
                      cfg.gray_noise_prob2, 2)

    # ---- final: resize + sinc and JPEG, in random order
    out_hw = (h // scale, w // scale)
    mode = str(rng.choice(RESIZE_MODES))
    size = int(rng.choice(np.arange(cfg.kernel_range[0], cfg.kernel_range[1] + 1, 2)))
    use_sinc = rng.uniform() < cfg.final_sinc_prob
    omega = float(rng.uniform(math.pi / 3, math.pi)) if use_sinc else math.pi
    resize_first = rng.uniform() < 0.5

    def resize_and_sinc(x):
        x = tr.resize(x, out_hw, mode, 3)
        if use_sinc:
            params = {"kernel": "sinc", "size": size, "omega_c": omega, "stage": 3}
            rec.add(kernel_step(None, params, op="final_sinc"))
            x = filter_float(x, sinc_kernel(size, omega, pad_to=21))
        return x

    if resize_first:
        f = resize_and_sinc(f)
        f = _jpeg(f, rng, rec, cfg.jpeg_range2, 3)
    else:
        f = _jpeg(f, rng, rec, cfg.jpeg_range2, 3)
        f = resize_and_sinc(f)
    rec.notes.append("final order: " + ("resize+sinc -> jpeg" if resize_first else "jpeg -> resize+sinc"))

    f = np.rint(np.clip(f, 0, 1) * 255) / 255  # the reference rounds to the 8-bit grid
    rec.output_size = (f.shape[0], f.shape[1])
    return from_float(f.astype(np.float32), meta), rec
