"""Correlation between predicted scores and subjective scores (MOS), the IQA evaluation protocol.

``srcc`` (Spearman), ``krcc`` (Kendall tau-b) and ``plcc`` (Pearson). Many papers fit a monotonic
4-parameter logistic from predictions to MOS before PLCC (VQEG practice); pyiqa and DeQA/Q-Insight
tables report the raw PLCC -- say which one a table uses. ``plcc(..., fit="logistic4")`` fits
:func:`logistic4` with ``scipy.optimize.curve_fit`` and returns the PLCC of the fitted values.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from scipy import optimize, stats


def _pair(pred: object, mos: object) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64).ravel()
    m = np.asarray(mos, dtype=np.float64).ravel()
    if p.shape != m.shape:
        raise ValueError(f"pred and mos must have the same length, got {p.size} and {m.size}")
    if p.size < 3:
        raise ValueError(f"need at least 3 score pairs, got {p.size}")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(m))):
        raise ValueError("scores must be finite (no NaN or inf)")
    return p, m


def logistic4(x: np.ndarray, beta1: float, beta2: float, beta3: float, beta4: float) -> np.ndarray:
    """4-parameter logistic ``(beta1 - beta2) / (1 + exp(-(x - beta3) / |beta4|)) + beta2``.

    ``beta1``/``beta2`` are the upper/lower asymptotes, ``beta3`` the midpoint, ``|beta4|`` the
    slope scale (absolute value keeps the function increasing for beta1 > beta2).
    """
    z = np.clip(-(np.asarray(x, dtype=np.float64) - beta3) / max(abs(beta4), 1e-12), -500, 500)
    return (beta1 - beta2) / (1.0 + np.exp(z)) + beta2


def fit_logistic4(pred: object, mos: object) -> np.ndarray:
    """Least-squares fit of :func:`logistic4` mapping ``pred`` to ``mos``; returns the 4 betas.

    Initialisation (why: a poor start is the usual reason curve_fit fails): asymptotes at
    max/min MOS, swapped when the correlation is negative, midpoint at the mean prediction and
    slope scale at the prediction standard deviation.
    """
    p, m = _pair(pred, mos)
    sp = float(np.std(p)) or 1.0
    hi, lo = float(m.max()), float(m.min())
    if stats.spearmanr(p, m)[0] < 0:
        hi, lo = lo, hi
    p0 = [hi, lo, float(np.mean(p)), sp]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        try:
            beta, _ = optimize.curve_fit(logistic4, p, m, p0=p0, maxfev=20000)
        except RuntimeError:
            beta = np.asarray(p0)  # no convergence: fall back to the initial monotone mapping
    return np.asarray(beta, dtype=np.float64)


def srcc(pred: object, mos: object) -> float:
    """Spearman rank-order correlation coefficient."""
    p, m = _pair(pred, mos)
    return float(stats.spearmanr(p, m)[0])


def krcc(pred: object, mos: object) -> float:
    """Kendall rank correlation coefficient (tau-b, ties handled)."""
    p, m = _pair(pred, mos)
    return float(stats.kendalltau(p, m)[0])


def plcc(pred: object, mos: object, *, fit: Literal["none", "logistic4"] = "none") -> float:
    """Pearson linear correlation, raw (``fit="none"``) or after a 4-parameter logistic fit.

    With ``fit="logistic4"`` the predictions are first mapped onto the MOS scale, so the result
    is positive for a good fit even when higher predictions mean lower quality (as for NIQE);
    use :func:`srcc` for the direction.
    """
    p, m = _pair(pred, mos)
    if fit == "logistic4":
        p = logistic4(p, *fit_logistic4(p, m))
    elif fit != "none":
        raise ValueError(f"fit must be 'none' or 'logistic4', got {fit!r}")
    return float(stats.pearsonr(p, m)[0])
