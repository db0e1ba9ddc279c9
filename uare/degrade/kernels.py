"""Blur kernels: Real-ESRGAN's Gaussian family and sinc filter, plus motion and defocus kernels.

The Gaussian family follows the formulas of Real-ESRGAN (Wang et al., ICCV-W 2021): with the
covariance Sigma = R diag(sx^2, sy^2) R^T and q(x) = x^T Sigma^-1 x over a centred integer grid,

- Gaussian:             k = exp(-q / 2)
- generalized Gaussian: k = exp(-(q^beta) / 2)
- plateau:              k = 1 / (1 + q^beta)

each normalised to sum 1. Every kernel here is odd-sized and centred.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import special

#: Real-ESRGAN's kernel family and its sampling probabilities.
KERNEL_LIST: tuple[str, ...] = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
KERNEL_PROB: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    if size % 2 != 1 or size < 1:
        raise ValueError(f"kernel size must be odd and positive, got {size}")
    ax = np.arange(size, dtype=np.float64) - size // 2
    return np.meshgrid(ax, ax)  # xx varies along columns, yy along rows


def _quadratic_form(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    cov = rot @ np.diag([sigma_x**2, sigma_y**2]) @ rot.T
    inv = np.linalg.inv(cov)
    xx, yy = _grid(size)
    return inv[0, 0] * xx * xx + (inv[0, 1] + inv[1, 0]) * xx * yy + inv[1, 1] * yy * yy


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0) -> np.ndarray:
    """Bivariate (an)isotropic Gaussian kernel, normalised to sum 1."""
    q = _quadratic_form(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    k = np.exp(-0.5 * q)
    return (k / k.sum()).astype(np.float32)


def generalized_gaussian_kernel(
    size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, beta: float = 1.0
) -> np.ndarray:
    """Generalized Gaussian kernel exp(-(q^beta)/2); beta < 1 has heavier tails, beta > 1 is flatter."""
    q = _quadratic_form(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    k = np.exp(-0.5 * np.power(q, beta))
    return (k / k.sum()).astype(np.float32)


def plateau_kernel(
    size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, beta: float = 1.0
) -> np.ndarray:
    """Plateau-shaped kernel 1 / (1 + q^beta)."""
    q = _quadratic_form(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    k = 1.0 / (np.power(q, beta) + 1.0)
    return (k / k.sum()).astype(np.float32)


def sinc_kernel(size: int, omega_c: float, pad_to: int = 0) -> np.ndarray:
    """2-D circular low-pass (sinc) filter with cut-off ``omega_c`` in (0, pi]: ringing and overshoot.

    k(r) = omega_c J1(omega_c r) / (2 pi r), with the limit omega_c^2 / (4 pi) at r = 0.
    """
    xx, yy = _grid(size)
    r = np.hypot(xx, yy)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = omega_c * special.j1(omega_c * r) / (2 * np.pi * r)
    k[size // 2, size // 2] = omega_c**2 / (4 * np.pi)
    k = k / k.sum()
    if pad_to > size:
        p = (pad_to - size) // 2
        k = np.pad(k, ((p, p), (p, p)))
    return k.astype(np.float32)


def motion_kernel(length: float, angle_deg: float, size: int | None = None) -> np.ndarray:
    """Linear motion blur: a segment of ``length`` pixels at ``angle_deg`` (0 = horizontal).

    Drawn anti-aliased on an 8x finer grid and area-averaged, so non-integer lengths and any
    angle give a smooth, centred, normalised kernel.
    """
    if length <= 0:
        raise ValueError(f"motion blur length must be positive, got {length}")
    if size is None:
        size = int(math.ceil(length)) | 1
        size = max(size, 3)
    ss = 8
    big = np.zeros((size * ss, size * ss), dtype=np.float32)
    c = (size * ss - 1) / 2.0
    # A thick line gets round caps of half its width at each end: shorten so the total is ``length``.
    half = max(0.0, (length - 1.0) * ss / 2.0)
    dx, dy = math.cos(math.radians(angle_deg)) * half, -math.sin(math.radians(angle_deg)) * half
    shift = 4  # cv2.line sub-pixel bits
    p1 = (int(round((c - dx) * (1 << shift))), int(round((c - dy) * (1 << shift))))
    p2 = (int(round((c + dx) * (1 << shift))), int(round((c + dy) * (1 << shift))))
    cv2.line(big, p1, p2, 1.0, thickness=ss, lineType=cv2.LINE_AA, shift=shift)
    k = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA).astype(np.float64)
    k = (k + k[::-1, ::-1]) / 2  # exact central symmetry despite rasterisation
    return (k / k.sum()).astype(np.float32)


def disk_kernel(radius: float) -> np.ndarray:
    """Defocus blur: a uniform disk of ``radius`` pixels, anti-aliased by 8x supersampling."""
    if radius <= 0:
        raise ValueError(f"defocus radius must be positive, got {radius}")
    size = 2 * int(math.ceil(radius)) + 1
    ss = 8
    ax = (np.arange(size * ss, dtype=np.float64) + 0.5) / ss - size / 2.0
    xx, yy = np.meshgrid(ax, ax)
    inside = (xx * xx + yy * yy <= radius * radius).astype(np.float64)
    k = inside.reshape(size, ss, size, ss).mean(axis=(1, 3))
    return (k / k.sum()).astype(np.float32)


def effective_sigma(kernel: np.ndarray) -> float:
    """sqrt((var_x + var_y) / 2) of the kernel's normalised second moments: the blur strength."""
    k = np.asarray(kernel, dtype=np.float64)
    k = k / k.sum()
    h, w = k.shape
    yy, xx = np.mgrid[0:h, 0:w]
    my, mx = (k * yy).sum(), (k * xx).sum()
    var_y = (k * (yy - my) ** 2).sum()
    var_x = (k * (xx - mx) ** 2).sum()
    return float(math.sqrt(max(var_x + var_y, 0.0) / 2.0))


def pad_kernel(kernel: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad an odd kernel to ``size`` x ``size`` (Real-ESRGAN pads every kernel to 21)."""
    p = (size - kernel.shape[0]) // 2
    return np.pad(kernel, ((p, p), (p, p))) if p > 0 else kernel


def _sample_beta(rng: np.random.Generator, beta_range: tuple[float, float]) -> float:
    # Real-ESRGAN draws beta below or above 1 with equal probability.
    if rng.uniform() < 0.5:
        return float(rng.uniform(beta_range[0], 1.0))
    return float(rng.uniform(1.0, beta_range[1]))


def draw_mixed_kernel(
    rng: np.random.Generator,
    size: int,
    sigma_range: tuple[float, float] = (0.2, 3.0),
    betag_range: tuple[float, float] = (0.5, 4.0),
    betap_range: tuple[float, float] = (1.0, 2.0),
    rotation_range: tuple[float, float] = (-math.pi, math.pi),
    kernel_list: tuple[str, ...] = KERNEL_LIST,
    kernel_prob: tuple[float, ...] = KERNEL_PROB,
) -> dict:
    """Draw the parameters of one kernel of Real-ESRGAN's mixed family (:func:`mixed_kernel` builds it)."""
    name = str(rng.choice(kernel_list, p=np.asarray(kernel_prob) / np.sum(kernel_prob)))
    iso = name.endswith("iso") and not name.endswith("aniso")
    sx = float(rng.uniform(*sigma_range))
    if iso:
        sy, theta = sx, 0.0
    else:
        sy = float(rng.uniform(*sigma_range))
        theta = float(rng.uniform(*rotation_range))
    params: dict = {"kernel": name, "size": size, "sigma_x": sx, "sigma_y": sy, "theta": theta}
    if name.startswith("generalized"):
        params["beta"] = _sample_beta(rng, betag_range)
    elif name.startswith("plateau"):
        params["beta"] = _sample_beta(rng, betap_range)
    return params


def mixed_kernel(params: dict) -> np.ndarray:
    """The kernel that :func:`draw_mixed_kernel`'s parameters describe (unpadded, ``size`` x ``size``)."""
    name, size = params["kernel"], int(params["size"])
    sx, sy, theta = params["sigma_x"], params["sigma_y"], params["theta"]
    if name.startswith("generalized"):
        return generalized_gaussian_kernel(size, sx, sy, theta, params["beta"])
    if name.startswith("plateau"):
        return plateau_kernel(size, sx, sy, theta, params["beta"])
    return gaussian_kernel(size, sx, sy, theta)


def random_mixed_kernel(
    rng: np.random.Generator,
    size: int,
    sigma_range: tuple[float, float] = (0.2, 3.0),
    betag_range: tuple[float, float] = (0.5, 4.0),
    betap_range: tuple[float, float] = (1.0, 2.0),
    rotation_range: tuple[float, float] = (-math.pi, math.pi),
    kernel_list: tuple[str, ...] = KERNEL_LIST,
    kernel_prob: tuple[float, ...] = KERNEL_PROB,
) -> tuple[np.ndarray, dict]:
    """One kernel of Real-ESRGAN's mixed family; returns the kernel and its parameters."""
    params = draw_mixed_kernel(rng, size, sigma_range, betag_range, betap_range, rotation_range, kernel_list,
                               kernel_prob)
    return mixed_kernel(params), params
