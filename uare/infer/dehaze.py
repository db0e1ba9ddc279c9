"""The dark-channel prior (He, Sun & Tang, CVPR 2009): the classical ``dcp`` baseline and the haze prior that
uare-tiny's dehazing blends in (``haze_prior`` in ``inference.json``).

Haze mixes every pixel with the atmospheric light, ``I = J t + A (1 - t)``, so it lifts the *dark channel* (the
minimum over the colour channels and a small window), which stays near 0 in most haze-free outdoor patches.
Inverting that model with the measured dark channel is DCP's dehazing. It errs the other way from uare-tiny's
generation expert: the generation removes about the same amount of haze from every image (too little on most
hazed training images), while DCP removes what the dark channel says, too much where bright content lifts the
dark channel. A blend beats either alone on most hazed training images, but by how much depends on the image:
the prior's weight (:func:`haze_prior_weight`) grows as the input looks washed out -- its median dark channel close
to its mean brightness, little contrast left -- and is capped by ``haze_prior`` (``benchmarks/haze_prior.py``).

Float RGB in [0, 1] in and out (HxWx3).
"""

from __future__ import annotations

import cv2
import numpy as np

from uare.metrics.color import rgb_to_y

#: the haze prior's weight before its cap, ``a + b * (median dark channel - mean luma) - c * luma std`` clipped
#: to [0, 1]: (a, b, c) fitted on 85 hazed BSD200 training images at the engine's levels 1-5 (mean PSNR gain
#: over the model alone, less 0.1 dB per image left more than 0.5 dB below it; ``benchmarks/haze_prior.py``)
HAZE_PRIOR_RULE = (1.2, 2.5, 4.0)


def dcp_patch(side: int) -> int:
    """DCP's window for an image whose short side is ``side`` px: 15, smaller (odd, at least 3) for small images."""
    return max(3, min(15, side // 20) | 1)


def dark_channel(f: np.ndarray, patch: int) -> np.ndarray:
    """Minimum over the colour channels and a ``patch`` x ``patch`` window (grey erosion)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))
    return cv2.erode(f.min(axis=2), kernel, borderType=cv2.BORDER_REFLECT_101)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s gray guided filter: edge-preserving smoothing of ``src`` following ``guide`` (HxW float)."""
    ksize = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, ksize, normalize=True, borderType=cv2.BORDER_REFLECT_101)

    mi, mp = box(guide), box(src)
    cov = box(guide * src) - mi * mp
    var = box(guide * guide) - mi * mi
    a = cov / (var + eps)
    b = mp - a * mi
    return box(a) * guide + box(b)


def dcp_dehaze_float(f: np.ndarray, omega: float = 0.95, t_min: float = 0.1, patch: int | None = None,
                     top_fraction: float = 0.001) -> np.ndarray:
    """Dark-channel-prior dehazing with guided-filter refinement of float32 RGB ``f`` in [0, 1] (unclipped).

    1. dark channel with a 15x15 patch (smaller for small images, :func:`dcp_patch`);
    2. atmospheric light A = mean colour of the 0.1 % pixels with the brightest dark channel;
    3. transmission t = 1 - omega * dark(I / A), omega 0.95 keeps a trace of haze for depth cue;
    4. t refined by a guided filter on the gray image (radius 8 % of the short side, eps 1e-3);
    5. J = (I - A) / max(t, t_min) + A.
    """
    f = np.asarray(f, dtype=np.float32)
    h, w = f.shape[:2]
    side = min(h, w)
    if patch is None:
        patch = dcp_patch(side)
    dark = dark_channel(f, patch)
    n = max(1, int(round(top_fraction * h * w)))
    idx = np.argpartition(dark.ravel(), -n)[-n:]
    airlight = np.maximum(f.reshape(-1, 3)[idx].mean(axis=0), 0.05).astype(np.float32)
    t = 1.0 - omega * dark_channel(f / airlight, patch)
    luma = (0.299 * f[:, :, 0] + 0.587 * f[:, :, 1] + 0.114 * f[:, :, 2]).astype(np.float32)
    t = guided_filter(luma, t.astype(np.float32), max(4, int(round(0.08 * side))), 1e-3)
    t = np.clip(t, t_min, 1.0)[:, :, None]
    return (f - airlight) / t + airlight


def median_dark_channel(f: np.ndarray) -> float:
    """The median of the dark channel of float RGB ``f`` (DCP's window): how much haze lifts the whole image."""
    f = np.asarray(f, dtype=np.float32)
    return float(np.median(dark_channel(f, dcp_patch(min(f.shape[:2])))))


def haze_prior_weight(f: np.ndarray, max_weight: float) -> tuple[float, float]:
    """(weight, median dark channel): the share of the DCP inversion blended into a dehazing of float RGB ``f``,
    :data:`HAZE_PRIOR_RULE` on its median dark channel, mean BT.601 luma and luma standard deviation, at most
    ``max_weight``. Haze lifts the dark channel towards the brightness and flattens contrast."""
    f = np.asarray(f, dtype=np.float32)
    m = median_dark_channel(f)
    y = rgb_to_y(f * 255.0, "yiq") / 255.0  # BT.601 luma, as luma_contrast reads it
    a, b, c = HAZE_PRIOR_RULE
    w = float(np.clip(a + b * (m - float(y.mean())) - c * float(y.std()), 0.0, 1.0))
    return min(w, max_weight), m


def with_haze_prior(out: np.ndarray, lq: np.ndarray, max_weight: float) -> tuple[np.ndarray, float, float]:
    """(``out`` with the DCP inversion of ``lq`` blended in by :func:`haze_prior_weight`, weight, median dark
    channel); ``out`` itself when the weight is 0. Float RGB in [0, 1], same size."""
    w, m = haze_prior_weight(lq, max_weight)
    if w <= 0.0:
        return out, 0.0, m
    prior = np.clip(dcp_dehaze_float(lq), 0.0, 1.0)
    return np.clip(out + w * (prior - out), 0.0, 1.0).astype(out.dtype, copy=False), w, m
