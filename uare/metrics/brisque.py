"""BRISQUE -- Blind/Referenceless Image Spatial Quality Evaluator (Mittal, Moorthy & Bovik, IEEE TIP
2012). Lower is better (roughly 0-100 on natural images).

Features (36 = 18 per scale, two scales) follow the original LIVE release as pyiqa/piq compute
it: luminance rounded to [0, 255] (Y of YIQ by default), MSCN coefficients with a 7x7 Gaussian
(sigma 7/6, zero-padded 'same' filtering, ``(I - mu) / (sigma + 1)``); a GGD fit of the
coefficients (shape, variance) and AGGD fits of their products with the horizontal, vertical
and two diagonal neighbours (shape, mean, left and right variance); the second scale is MATLAB
``imresize(0.5, 'bicubic')`` with antialiasing. Features are min-max scaled to [-1, 1] with the
model's ranges and fed to an epsilon-SVR with an RBF kernel:
``score = sum_i coef_i exp(-gamma |f - sv_i|^2) - rho``.

Models: the paper's release ships a LIBSVM model ("allmodel") whose redistribution under
Apache-2.0 we have not cleared, so the default model is the LIBSVM model of the ``brisque`` 0.2.0
package (Apache-2.0, ``brisque/models/svm.txt`` + ``normalize.pickle``, 770 support vectors),
converted once to ``data/brisque_svm.npz`` (no pickle is read at run time; see ``data/NOTICE.md``).
That model was trained on brisque-py's own features, so it is run with that pipeline
(``pipeline="opencv"``: unrounded BT.709 gray, ``cv2.resize`` bicubic halving). Its scores rank
images like the original but are not numerically the original ones. :func:`load_libsvm_model` reads
any LIBSVM text model; with the original "allmodel" + "allrange" and ``pipeline="live"`` this code
reproduces the MATLAB values piq tests against (I01: 10.2593 vs 10.2594, goldhill: 8.4254 vs
8.4255).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from scipy.special import gammaln

from uare.metrics._input import finish, to_nhwc255
from uare.metrics._matlab import fspecial_gaussian, imresize
from uare.metrics.color import luminance_nhwc
from uare.metrics.niqe import aggd_fit, mscn

_GAM = np.arange(0.2, 10.001, 0.001)
# GGD ratio table Gamma(1/a) Gamma(3/a) / Gamma(2/a)^2, matched by nearest value.
_RHO_GAM = np.exp(gammaln(1 / _GAM) + gammaln(3 / _GAM) - 2 * gammaln(2 / _GAM))
# Neighbour offsets (rows, cols) for the pairwise products: H, V, main and secondary diagonal.
_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))
MIN_SIDE = 14
#: skimage.color.rgb2gray weights (BT.709), used by the brisque-py ("opencv") pipeline.
_BT709 = np.array([0.2125, 0.7154, 0.0721])


@dataclass(frozen=True)
class BrisqueModel:
    """An epsilon-SVR with RBF kernel plus the feature ranges used to scale its inputs."""

    support_vectors: np.ndarray  # (n_sv, 36), already in the scaled feature space
    coefs: np.ndarray  # (n_sv,)
    gamma: float
    rho: float
    feat_min: np.ndarray  # (36,)
    feat_max: np.ndarray  # (36,)
    #: feature pipeline the model was trained with: "live" (original release: rounded luminance,
    #: MATLAB antialiased bicubic halving) or "opencv" (brisque-py: unrounded BT.709 gray as
    #: skimage's rgb2gray, cv2.resize INTER_CUBIC halving without antialiasing).
    pipeline: Literal["live", "opencv"] = "live"

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Scores for raw features of shape ``(n, 36)``."""
        scaled = -1.0 + 2.0 * (features - self.feat_min) / (self.feat_max - self.feat_min)
        d2 = ((scaled[:, None, :] - self.support_vectors[None, :, :]) ** 2).sum(-1)
        return np.exp(-self.gamma * d2) @ self.coefs - self.rho


def load_libsvm_model(
    path: str | Path, feat_min: np.ndarray, feat_max: np.ndarray, pipeline: Literal["live", "opencv"] = "live"
) -> BrisqueModel:
    """Read a LIBSVM text model (epsilon-SVR, RBF) and pair it with its feature ranges.

    For the original release's "allmodel" pass the 36 ``(min, max)`` pairs of its "allrange" file
    and ``pipeline="live"``.
    """
    header: dict[str, str] = {}
    coefs: list[float] = []
    rows: list[np.ndarray] = []
    lines = Path(path).read_text().splitlines()
    i = 0
    while i < len(lines) and lines[i].strip() != "SV":
        key, _, value = lines[i].partition(" ")
        header[key] = value.strip()
        i += 1
    if header.get("kernel_type") != "rbf" or i == len(lines):
        raise ValueError(f"{path}: not a LIBSVM RBF model")
    n_feat = len(feat_min)
    for line in lines[i + 1 :]:
        parts = line.split()
        if not parts:
            continue
        coefs.append(float(parts[0]))
        row = np.zeros(n_feat)
        for item in parts[1:]:
            k, v = item.split(":")
            row[int(k) - 1] = float(v)
        rows.append(row)
    return BrisqueModel(
        np.array(rows),
        np.array(coefs),
        float(header["gamma"]),
        float(header["rho"].split()[0]),
        np.asarray(feat_min, dtype=np.float64),
        np.asarray(feat_max, dtype=np.float64),
        pipeline,
    )


@functools.cache
def default_model() -> BrisqueModel:
    """The shipped model (brisque 0.2.0's LIBSVM model, Apache-2.0)."""
    with resources.files("uare.metrics").joinpath("data/brisque_svm.npz").open("rb") as f:
        z = np.load(f)
        return BrisqueModel(
            z["support_vectors"].copy(),
            z["coefs"].copy(),
            float(z["gamma"]),
            float(z["rho"]),
            z["feat_min"].copy(),
            z["feat_max"].copy(),
            str(z["pipeline"]),  # type: ignore[arg-type]
        )


def _ggd_fit(x: np.ndarray) -> tuple[float, float]:
    """Moment-matching GGD fit: ``(shape, variance)``."""
    var = float(np.mean(x * x))
    e = float(np.mean(np.abs(x)))
    alpha = float(_GAM[np.argmin(np.abs(var / e**2 - _RHO_GAM))])
    return alpha, var


def _scale_features(luma: np.ndarray, window: np.ndarray) -> list[float]:
    coef = mscn(luma, window, border=cv2.BORDER_CONSTANT)
    alpha, var = _ggd_fit(coef)
    feats = [alpha, var]
    for sh in _SHIFTS:
        prod = coef * np.roll(coef, sh, axis=(0, 1))
        a, left, right = (float(v[0]) for v in aggd_fit(prod[None]))
        eta = (right - left) * np.exp(gammaln(2 / a) - (gammaln(1 / a) + gammaln(3 / a)) / 2)
        feats += [a, eta, left**2, right**2]
    return feats


def brisque_features(luma: np.ndarray, pipeline: Literal["live", "opencv"] = "live") -> np.ndarray:
    """The 36 BRISQUE features of a 2-D luminance plane in [0, 255]."""
    if min(luma.shape) < MIN_SIDE:
        raise ValueError(f"BRISQUE needs images of at least {MIN_SIDE}x{MIN_SIDE}, got {luma.shape}")
    window = fspecial_gaussian(7, 7.0 / 6.0)
    img = np.ascontiguousarray(luma, dtype=np.float64)
    feats = _scale_features(img, window)
    if pipeline == "live":
        img = np.ascontiguousarray(imresize(img, 0.5))
    else:
        img = cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_CUBIC)
    feats += _scale_features(img, window)
    return np.asarray(feats)


def brisque(
    img: Any, *, color_space: Literal["yiq", "ycbcr"] = "yiq", model: BrisqueModel | None = None
) -> float | np.ndarray:
    """BRISQUE score (lower is better) of one image or a batch.

    Args:
        img: image(s) in any format :func:`uare.metrics.psnr` accepts.
        color_space: luminance of RGB input for "live" models (pyiqa uses Y of YIQ, rounded);
            "opencv" models always use BT.709 gray as they were trained.
        model: SVR model; the shipped default when ``None``.

    Returns:
        A float (one image) or an ``(N,)`` array (batch).
    """
    model = model or default_model()
    x, batched = to_nhwc255(img)
    if model.pipeline == "live":
        y = luminance_nhwc(x, color_space, round_=True)[..., 0]
    else:
        y = x[..., 0] if x.shape[-1] == 1 else x @ _BT709
    feats = np.stack([brisque_features(y[i], model.pipeline) for i in range(y.shape[0])])
    return finish(model.predict(feats), batched)
