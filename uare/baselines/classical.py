"""Classical restoration baselines (no learning), each a :class:`~uare.baselines.base.Restorer`.

Which are blind and which use the bench's known degradation ("non-blind oracle"):

============  =========================================================  ==================================
name          method                                                     what it is told
============  =========================================================  ==================================
identity      the input (bicubic up-sampling when ``scale`` > 1)          nothing; this is the "input" row
bicubic       OpenCV bicubic up-sampling by ``scale``                     nothing
ibp           iterative back-projection (Irani & Peleg) from bicubic      oracle: the MATLAB-bicubic down-sampler
nlm           OpenCV non-local means, h from the estimated noise sigma    blind (MAD noise estimate)
wiener        regularised Wiener (Laplacian prior) deconvolution          oracle: Gaussian PSF sigma
rl            Richardson-Lucy deconvolution, 30 iterations                oracle: Gaussian PSF sigma
deblock       re-application of JPEG at 16 shifts (Nosratinia 2001)      oracle: JPEG quality (default 50)
gamma         global gamma so that the mean luma becomes 0.45             blind
clahe         gamma as above, then CLAHE on the Lab lightness             blind
dcp           dark-channel-prior dehazing + guided filter (He et al.)    blind
classical     chains the above in inverse physical order of the tasks    as its parts
============  =========================================================  ==================================

Without ``known["blur_sigma"]`` the deconvolution baselines assume a Gaussian PSF of sigma
:data:`DEFAULT_BLUR_SIGMA` (a guess, not an estimate: blind deblurring is out of scope here).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import fft as sfft

from uare.baselines.base import Setting, check_rgb_u8
from uare.degrade.jpeg import jpeg_roundtrip_uint8
from uare.degrade.kernels import gaussian_kernel
from uare.infer.consistency import back_project
from uare.infer.dehaze import dark_channel, dcp_dehaze_float, guided_filter  # noqa: F401 - re-exported

#: PSF sigma assumed by the deconvolution baselines when the setting does not say (pixels).
DEFAULT_BLUR_SIGMA = 1.5
#: JPEG quality assumed by the deblocking baseline when the setting does not say.
DEFAULT_JPEG_QUALITY = 50
#: Mean sRGB luma the low-light baselines aim for (typical of well-exposed photos).
TARGET_LUMA = 0.45


def _f32(img: np.ndarray) -> np.ndarray:
    return check_rgb_u8(img).astype(np.float32) * np.float32(1 / 255.0)


def _u8(f: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(f * 255.0), 0, 255).astype(np.uint8)


def _luma(f: np.ndarray) -> np.ndarray:
    return (0.299 * f[:, :, 0] + 0.587 * f[:, :, 1] + 0.114 * f[:, :, 2]).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# noise level estimation


def estimate_noise_sigma(img: np.ndarray) -> float:
    """Robust estimate of white-noise sigma (0-255 units) of a uint8 image.

    Donoho & Johnstone's MAD estimator: the finest diagonal Haar sub-band HH = (a - b - c + d) / 2
    of each 2x2 block keeps the noise variance (orthonormal transform) and little image content,
    and ``median(|HH|) / 0.6745`` is sigma for Gaussian noise, insensitive to the sparse large
    coefficients at edges. The median over channels is returned.
    """
    f = check_rgb_u8(img).astype(np.float32)
    h, w = f.shape[0] // 2 * 2, f.shape[1] // 2 * 2
    if h < 2 or w < 2:
        raise ValueError(f"image {f.shape[0]}x{f.shape[1]} is too small to estimate noise")
    f = f[:h, :w]
    hh = (f[0::2, 0::2] - f[0::2, 1::2] - f[1::2, 0::2] + f[1::2, 1::2]) / 2.0
    per_channel = np.median(np.abs(hh.reshape(-1, hh.shape[2])), axis=0) / 0.6745
    return float(np.median(per_channel))


# ---------------------------------------------------------------------------------------------
# super-resolution


def bicubic_up(img: np.ndarray, scale: int) -> np.ndarray:
    """OpenCV bicubic up-sampling of a uint8 RGB image by an integer factor."""
    a = check_rgb_u8(img)
    if scale == 1:
        return a.copy()
    return cv2.resize(a, (a.shape[1] * scale, a.shape[0] * scale), interpolation=cv2.INTER_CUBIC)


def back_projection(img: np.ndarray, scale: int, iterations: int = 10) -> np.ndarray:
    """Iterative back-projection: refine a bicubic guess until its MATLAB-bicubic down-sample matches the input."""
    y = _f32(img)
    if scale == 1:
        return check_rgb_u8(img).copy()
    h, w = y.shape[0] * scale, y.shape[1] * scale
    return _u8(back_project(cv2.resize(y, (w, h), interpolation=cv2.INTER_CUBIC), y, iterations))


# ---------------------------------------------------------------------------------------------
# denoising


def nlm_denoise(img: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """OpenCV colour non-local means with the filter strength set from the noise sigma.

    ``h`` = 0.65 sigma on the lightness and 0.9 h on the colour channels (tuned on skimage photos
    at sigma 15-50; OpenCV works in Lab, where an RGB noise of sigma shows smaller in L).
    Images with sigma below 1 are returned unchanged.
    """
    a = check_rgb_u8(img)
    s = estimate_noise_sigma(a) if sigma is None else float(sigma)
    if s < 1.0:
        return a.copy()
    h = 0.65 * s
    # Larger search windows help little at these noise levels and cost quadratically.
    bgr = cv2.fastNlMeansDenoisingColored(a[:, :, ::-1].copy(), None, h, 0.9 * h, 7, 21)
    return np.ascontiguousarray(bgr[:, :, ::-1])


# ---------------------------------------------------------------------------------------------
# deblurring


def gaussian_psf(sigma: float) -> np.ndarray:
    """The bench's Gaussian PSF (the engine's kernel, size 2 ceil(3 sigma) + 1)."""
    return gaussian_kernel(2 * int(math.ceil(3 * sigma)) + 1, sigma)


def _otf(psf: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Real-FFT transfer function of ``psf`` centred at the origin of an array of ``shape``."""
    pad = np.zeros(shape, np.float64)
    kh, kw = psf.shape
    pad[:kh, :kw] = psf
    pad = np.roll(pad, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return sfft.rfft2(pad)


def _mirror(f: np.ndarray) -> np.ndarray:
    # A symmetric extension is periodic without jumps, so the FFT's circular convolution does not ring at borders.
    ext = np.concatenate([f, f[::-1]], axis=0)
    return np.concatenate([ext, ext[:, ::-1]], axis=1)


def wiener_deconv(img: np.ndarray, psf: np.ndarray, noise_sigma: float | None = None) -> np.ndarray:
    """Regularised Wiener (constrained least squares) deconvolution with a Laplacian prior.

    X = conj(H) Y / (|H|^2 + lam |L|^2) with lam = 1e-4 + 40 (sigma / 255)^2, tuned on skimage and
    Kodak photos at PSF sigma 2: quantisation noise alone wants lam ~ 1e-4, noise sigma 15 wants
    lam ~ 0.1 (smaller values amplify the noise into speckle).
    ``noise_sigma`` defaults to the MAD estimate.
    """
    f = _f32(img).astype(np.float64)
    s = estimate_noise_sigma(img) if noise_sigma is None else float(noise_sigma)
    lam = 1e-4 + 40.0 * (s / 255.0) ** 2
    h, w = f.shape[:2]
    ext = _mirror(f)
    shape = ext.shape[:2]
    hk = _otf(psf, shape)
    lk = _otf(np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], np.float64), shape)
    gain = np.conj(hk) / (np.abs(hk) ** 2 + lam * np.abs(lk) ** 2)
    spec = sfft.rfft2(ext, axes=(0, 1), workers=-1)
    out = sfft.irfft2(spec * gain[:, :, None], s=shape, axes=(0, 1), workers=-1)[:h, :w]
    return _u8(out)


def richardson_lucy(img: np.ndarray, psf: np.ndarray, iterations: int = 30) -> np.ndarray:
    """Richardson-Lucy deconvolution (multiplicative EM updates for Poisson data), reflect borders."""
    f = np.maximum(_f32(img), 1e-3)
    k = np.ascontiguousarray(psf, dtype=np.float32)
    k_flip = np.ascontiguousarray(k[::-1, ::-1])
    u = f.copy()
    for _ in range(iterations):
        est = cv2.filter2D(u, -1, k_flip, borderType=cv2.BORDER_REFLECT_101)  # correlation with flip = convolution
        ratio = f / np.maximum(est, 1e-4)
        u = u * cv2.filter2D(ratio, -1, k, borderType=cv2.BORDER_REFLECT_101)
    return _u8(u)


# ---------------------------------------------------------------------------------------------
# JPEG artefacts


def jpeg_deblock(img: np.ndarray, quality: int = DEFAULT_JPEG_QUALITY, step: int = 2) -> np.ndarray:
    """Deblocking by re-application of JPEG (Nosratinia 2001).

    The image is shifted by (dy, dx) in {0, step, ..} x {0, step, ..} (16 shifts for step 2),
    compressed at the same quality, shifted back and the results are averaged: each shifted grid
    quantises the DCT of different blocks, so block edges and ringing average out while content
    consistent with every grid survives.
    """
    a = check_rgb_u8(img)
    h, w = a.shape[:2]
    acc = np.zeros(a.shape, np.float64)
    n = 0
    for dy in range(0, 8, step):
        for dx in range(0, 8, step):
            padded = np.pad(a, ((dy, 8), (dx, 8), (0, 0)), mode="reflect") if min(h, w) > 8 else \
                np.pad(a, ((dy, 8), (dx, 8), (0, 0)), mode="edge")
            dec, _ = jpeg_roundtrip_uint8(padded, int(quality))
            acc += dec[dy:dy + h, dx:dx + w]
            n += 1
    return np.clip(np.rint(acc / n), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# low light


def auto_gamma(img: np.ndarray, target: float = TARGET_LUMA) -> np.ndarray:
    """Global gamma x -> x ** g per channel, with g chosen so the mean luma becomes ``target``."""
    f = _f32(img)
    m = float(np.clip(_luma(f).mean(), 1e-3, 0.999))
    g = math.log(target) / math.log(m)
    g = min(max(g, 0.2), 5.0)  # guard against black or white frames
    lut = _u8((np.arange(256, dtype=np.float32) / 255.0) ** g)
    return lut[check_rgb_u8(img)]


def clahe_enhance(img: np.ndarray, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    """Auto-gamma, then CLAHE on the Lab lightness only (colours keep their chroma).

    CLAHE alone redistributes local contrast but cannot fix a global exposure error: on a photo
    several stops too dark it leaves the mean far too low, hence the gamma first.
    """
    a = auto_gamma(img)
    lab = cv2.cvtColor(a, cv2.COLOR_RGB2LAB)
    cl = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles))
    lab[:, :, 0] = cl.apply(np.ascontiguousarray(lab[:, :, 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


# ---------------------------------------------------------------------------------------------
# dehazing


def dcp_dehaze(img: np.ndarray, omega: float = 0.95, t_min: float = 0.1, patch: int | None = None,
               top_fraction: float = 0.001) -> np.ndarray:
    """Dark-channel-prior dehazing (He, Sun & Tang, CVPR 2009) with guided-filter refinement, uint8 RGB in and
    out: :func:`uare.infer.dehaze.dcp_dehaze_float` (the prior uare-tiny's dehazing blends in)."""
    return _u8(dcp_dehaze_float(_f32(img), omega, t_min, patch, top_fraction))


# ---------------------------------------------------------------------------------------------
# the Restorer objects


class _Fn:
    """A :class:`Restorer` made of a function of (image, setting)."""

    def __init__(self, name: str, tasks: set[str], fn, doc: str) -> None:  # noqa: ANN001 - any callable
        self.name = name
        self.tasks = frozenset(tasks)
        self._fn = fn
        self.__doc__ = doc

    def __call__(self, img: np.ndarray, setting: Setting) -> np.ndarray:
        return self._fn(check_rgb_u8(img), setting)

    def __repr__(self) -> str:
        return f"<restorer {self.name}>"


def _blur_sigma(setting: Setting) -> float:
    return float(setting.known.get("blur_sigma", DEFAULT_BLUR_SIGMA))


def _quality(setting: Setting) -> int:
    return int(setting.known.get("jpeg_quality", DEFAULT_JPEG_QUALITY))


def _final_scale(out: np.ndarray, setting: Setting) -> np.ndarray:
    # Restorers that do not super-resolve still must return the setting's output size.
    return bicubic_up(out, setting.scale) if setting.scale > 1 else out


def _identity(img: np.ndarray, s: Setting) -> np.ndarray:
    return bicubic_up(img, s.scale)


def _nlm(img: np.ndarray, s: Setting) -> np.ndarray:
    return _final_scale(nlm_denoise(img), s)


def _deconv_sigma(img: np.ndarray, s: Setting) -> float:
    """Noise sigma the Wiener filter should assume on this input.

    The MAD estimate (or the known sigma) covers white noise; JPEG error lives at low and mid
    frequencies where the MAD estimator does not see it, so it is added as an equivalent sigma of
    0.085 (100 - quality) (tuned: about 6 at quality 30 for PSF sigma 2).
    """
    sigma = float(s.known["noise_sigma"]) if "noise_sigma" in s.known else estimate_noise_sigma(img)
    if "jpeg" in s.tasks:
        sigma = math.hypot(sigma, 0.085 * (100 - _quality(s)))
    return sigma


def _wiener(img: np.ndarray, s: Setting) -> np.ndarray:
    return _final_scale(wiener_deconv(img, gaussian_psf(_blur_sigma(s)), _deconv_sigma(img, s)), s)


def _rl(img: np.ndarray, s: Setting) -> np.ndarray:
    return _final_scale(richardson_lucy(img, gaussian_psf(_blur_sigma(s))), s)


def _deblock(img: np.ndarray, s: Setting) -> np.ndarray:
    return _final_scale(jpeg_deblock(img, _quality(s)), s)


def _gamma(img: np.ndarray, s: Setting) -> np.ndarray:
    return _final_scale(auto_gamma(img), s)


def _clahe(img: np.ndarray, s: Setting) -> np.ndarray:
    return _final_scale(clahe_enhance(img), s)


def _dcp(img: np.ndarray, s: Setting) -> np.ndarray:
    return _final_scale(dcp_dehaze(img), s)


def classical_chain(img: np.ndarray, s: Setting) -> np.ndarray:
    """The best classical tool per task, applied in the inverse of the physical order.

    Degradations happen scene -> lens -> sensor -> codec (haze, blur, low light, noise, JPEG,
    then the SR down-sampling), so they are undone codec first: deblock, denoise (on the
    low-resolution image), up-sample (back-projection), brighten, deblur (Wiener, told the residual
    noise of the earlier steps), dehaze.
    """
    out = check_rgb_u8(img)
    tasks = set(s.tasks)
    if "jpeg" in tasks:
        out = jpeg_deblock(out, _quality(s))
    if "denoise" in tasks:
        out = nlm_denoise(out)
    if s.scale > 1:
        out = back_projection(out, s.scale) if "sr" in tasks else bicubic_up(out, s.scale)
    if "lowlight" in tasks:
        out = auto_gamma(out)
    if "deblur" in tasks:
        # NLM and deblocking leave correlated residuals the MAD estimator misses; these equivalent
        # sigmas (7 after NLM, 4 after deblocking) were tuned on skimage and Kodak photos.
        if "denoise" in tasks:
            sigma: float | None = 7.0
        elif "jpeg" in tasks:
            sigma = 4.0
        else:
            sigma = None
        out = wiener_deconv(out, gaussian_psf(_blur_sigma(s)), noise_sigma=sigma)
    if "dehaze" in tasks:
        out = dcp_dehaze(out)
    return out


def classical_restorers() -> dict[str, _Fn]:
    """All classical restorers by name (a fresh dict)."""
    items = [
        _Fn("identity", {"any"}, _identity, "the input; bicubic up-sampling when scale > 1"),
        _Fn("bicubic", {"sr"}, lambda img, s: bicubic_up(img, s.scale), "OpenCV bicubic up-sampling"),
        _Fn("ibp", {"sr"}, lambda img, s: back_projection(img, s.scale), "iterative back-projection (oracle)"),
        _Fn("nlm", {"denoise"}, _nlm, "OpenCV non-local means, h from the MAD noise estimate"),
        _Fn("wiener", {"deblur"}, _wiener, "regularised Wiener deconvolution with the known PSF (oracle)"),
        _Fn("rl", {"deblur"}, _rl, "Richardson-Lucy deconvolution with the known PSF (oracle)"),
        _Fn("deblock", {"jpeg"}, _deblock, "re-application of JPEG at 16 shifts (known quality)"),
        _Fn("gamma", {"lowlight"}, _gamma, "global gamma to mean luma 0.45"),
        _Fn("clahe", {"lowlight"}, _clahe, "gamma, then CLAHE on Lab lightness"),
        _Fn("dcp", {"dehaze"}, _dcp, "dark channel prior + guided filter"),
        _Fn("classical", {"any"}, classical_chain, "best classical tool per task, chained"),
    ]
    return {r.name: r for r in items}
