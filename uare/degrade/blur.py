"""Blur operators: any kernel, Gaussian, motion, defocus, Real-ESRGAN's random kernels, sinc."""

from __future__ import annotations

import math

import cv2
import numpy as np

from uare.degrade._array import ensure_hwc, from_float, make_rng, to_float
from uare.degrade.kernels import (
    KERNEL_LIST,
    KERNEL_PROB,
    disk_kernel,
    draw_mixed_kernel,
    effective_sigma,
    gaussian_kernel,
    mixed_kernel,
    motion_kernel,
    sinc_kernel,
)
from uare.degrade.record import Step
from uare.degrade.severity import severity_from_strength


def filter_float(f: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve a float HxWxC image with ``kernel`` (reflect-101 borders, as Real-ESRGAN pads)."""
    # cv2.filter2D correlates; flipping the kernel makes it a true convolution.
    k = np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float32)
    return ensure_hwc(cv2.filter2D(f, -1, k, borderType=cv2.BORDER_REFLECT_101))


def _blur_step(op: str, kind: str, kernel: np.ndarray, params: dict) -> Step:
    sig = effective_sigma(kernel)
    params = {**params, "effective_sigma": round(sig, 4)}
    return Step(op, params, "blur", kind, severity_from_strength("blur", sig))


def apply_kernel(img: np.ndarray, kernel: np.ndarray, kind: str = "custom") -> tuple[np.ndarray, Step]:
    """Blur with an arbitrary normalised kernel."""
    f, meta = to_float(img)
    return from_float(filter_float(f, kernel), meta), _blur_step("kernel", kind, kernel, {"size": kernel.shape[0]})


def gaussian_blur(
    img: np.ndarray, sigma: float, sigma_y: float | None = None, theta: float = 0.0, size: int | None = None
) -> tuple[np.ndarray, Step]:
    """Isotropic (``sigma_y=None``) or anisotropic Gaussian blur; size defaults to 2*ceil(3 sigma)+1."""
    if sigma <= 0 or (sigma_y is not None and sigma_y <= 0):
        raise ValueError("Gaussian blur sigma must be positive")
    if size is None:
        size = 2 * int(math.ceil(3 * max(sigma, sigma_y or 0))) + 1
    k = gaussian_kernel(size, sigma, sigma_y, theta)
    f, meta = to_float(img)
    params = {"sigma_x": sigma, "sigma_y": sigma if sigma_y is None else sigma_y, "theta": theta, "size": size}
    return from_float(filter_float(f, k), meta), _blur_step("gaussian_blur", "gaussian", k, params)


def motion_blur(img: np.ndarray, length: float, angle: float | None = None, rng=None) -> tuple[np.ndarray, Step]:
    """Linear motion blur of ``length`` pixels; ``angle`` in degrees, drawn uniformly if None."""
    if angle is None:
        angle = float(make_rng(rng).uniform(0.0, 180.0))
    k = motion_kernel(length, angle)
    f, meta = to_float(img)
    params = {"length": float(length), "angle": float(angle), "size": k.shape[0]}
    return from_float(filter_float(f, k), meta), _blur_step("motion_blur", "motion", k, params)


def defocus_blur(img: np.ndarray, radius: float) -> tuple[np.ndarray, Step]:
    """Out-of-focus blur with a uniform disk of ``radius`` pixels."""
    k = disk_kernel(radius)
    f, meta = to_float(img)
    params = {"radius": float(radius), "size": k.shape[0]}
    return from_float(filter_float(f, k), meta), _blur_step("defocus_blur", "defocus", k, params)


def sinc_filter(img: np.ndarray, omega_c: float, size: int = 21) -> tuple[np.ndarray, Step]:
    """2-D sinc low-pass with cut-off ``omega_c`` (radians, (0, pi]): ringing and overshoot."""
    if not 0 < omega_c <= math.pi:
        raise ValueError(f"sinc cut-off must be in (0, pi], got {omega_c}")
    k = sinc_kernel(size, omega_c)
    f, meta = to_float(img)
    strength = math.pi / omega_c
    step = Step("sinc", {"omega_c": float(omega_c), "size": size}, "ringing", "sinc",
                severity_from_strength("ringing", strength))
    return from_float(filter_float(f, k), meta), step


def draw_realesrgan_kernel(
    rng: np.random.Generator,
    sigma_range: tuple[float, float] = (0.2, 3.0),
    sinc_prob: float = 0.1,
    kernel_range: tuple[int, int] = (7, 21),
    betag_range: tuple[float, float] = (0.5, 4.0),
    betap_range: tuple[float, float] = (1.0, 2.0),
    kernel_list: tuple[str, ...] = KERNEL_LIST,
    kernel_prob: tuple[float, ...] = KERNEL_PROB,
) -> dict:
    """Draw the parameters of a Real-ESRGAN blur kernel (:func:`realesrgan_kernel` builds it).

    Size is uniform over the odd numbers in ``kernel_range``; sinc with ``sinc_prob`` (cut-off
    U[pi/3, pi] for sizes below 13, U[pi/5, pi] otherwise), else the mixed Gaussian family.
    """
    size = int(rng.choice(np.arange(kernel_range[0], kernel_range[1] + 1, 2)))
    if rng.uniform() < sinc_prob:
        lo = math.pi / 3 if size < 13 else math.pi / 5
        return {"kernel": "sinc", "size": size, "omega_c": float(rng.uniform(lo, math.pi))}
    return draw_mixed_kernel(rng, size, sigma_range=sigma_range, betag_range=betag_range, betap_range=betap_range,
                             kernel_list=kernel_list, kernel_prob=kernel_prob)


def realesrgan_kernel(params: dict, pad_to: int = 21) -> np.ndarray:
    """The kernel :func:`draw_realesrgan_kernel`'s parameters describe, zero-padded to ``pad_to``."""
    size = int(params["size"])
    if params["kernel"] == "sinc":
        return sinc_kernel(size, params["omega_c"], pad_to=pad_to)
    p = (pad_to - size) // 2
    k = mixed_kernel(params)
    return np.pad(k, ((p, p), (p, p))) if p > 0 else k


def random_realesrgan_kernel(
    rng: np.random.Generator,
    sigma_range: tuple[float, float] = (0.2, 3.0),
    sinc_prob: float = 0.1,
    kernel_range: tuple[int, int] = (7, 21),
    pad_to: int = 21,
) -> tuple[np.ndarray, dict]:
    """A Real-ESRGAN blur kernel: sinc with ``sinc_prob``, else the mixed Gaussian family.

    Size is uniform over the odd numbers in ``kernel_range``; the sinc cut-off is U[pi/3, pi] for
    sizes below 13 and U[pi/5, pi] otherwise; every kernel is zero-padded to ``pad_to``.
    """
    params = draw_realesrgan_kernel(rng, sigma_range, sinc_prob, kernel_range)
    return realesrgan_kernel(params, pad_to), params


def kernel_step(kernel: np.ndarray, params: dict, op: str = "blur") -> Step:
    """The record of a Real-ESRGAN kernel: ringing for sinc, blur otherwise."""
    if params["kernel"] == "sinc":
        return Step(op, params, "ringing", "sinc", severity_from_strength("ringing", math.pi / params["omega_c"]))
    kind = "gaussian" if params["kernel"] in ("iso", "aniso") else params["kernel"].split("_")[0]
    return _blur_step(op, kind, kernel, params)
