"""Look for shortcuts in training data before training on it.

A model learns whatever predicts its labels most cheaply. If a label can be read off a property that
says nothing about the image's content -- its size, its ViT token count, the crop it was cut from, the
length of the prompt before the answer -- the model learns that property instead of the image. The
first uare-tiny did exactly that (down-sampled IQA views were fed at their reduced size, so the token
count predicted "bad").

:func:`measure` takes samples drawn from a data config's sources (:func:`draw`) and measures, for each
such property, how much of the label's variance it explains: the correlation ratio eta^2 (between-group
over total variance, label grouped by the property's value; it catches any dependence, not only
monotone ones) and the Spearman correlation. With no dependence eta^2 is about (groups - 1) / samples. The command
that audits a training config's sources is :mod:`uare.train.audit`:

    python -m uare.train.audit configs/tiny/stage0_und.yaml --n 3000
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from uare.data.items import Sample, Text, ViT
from uare.quality import LEVELS

#: non-content properties of a sample (what the model could read without looking at the image)
PROPERTIES = ("vit_tokens", "vit_rows", "vit_cols", "crop", "prompt_tokens")


def properties(sample: Sample) -> dict[str, float]:
    """The non-content properties of one sample (its first ViT image, the tokens before its answer)."""
    vit = next((it for it in sample.items if isinstance(it, ViT)), None)
    prompt = 0
    for it in sample.items:
        if isinstance(it, Text) and it.loss:
            break
        prompt += len(it.ids) if isinstance(it, Text) else 0
    out = {"prompt_tokens": float(prompt)}
    if vit is not None:
        out.update(vit_tokens=float(vit.grid[0] * vit.grid[1]), vit_rows=float(vit.grid[0]),
                   vit_cols=float(vit.grid[1]))
    if "crop" in sample.meta:
        out["crop"] = float(sample.meta["crop"])
    return out


def label(sample: Sample) -> float | None:
    """The sample's quality label: its (first) image's level, 0 = bad .. 4 = excellent; None without one."""
    lv = sample.meta.get("level")
    return float(LEVELS.index(lv)) if lv in LEVELS else None


def eta_squared(y: np.ndarray, groups: np.ndarray) -> float:
    """Correlation ratio: the share of ``y``'s variance explained by the mean of ``y`` per group."""
    y = np.asarray(y, dtype=np.float64)
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0:
        return 0.0
    between = 0.0
    for g in np.unique(groups):
        sel = y[groups == g]
        between += sel.size * (sel.mean() - y.mean()) ** 2
    return between / total


@dataclass
class Leak:
    """How much one property explains the labels."""

    prop: str
    eta2: float
    spearman: float
    groups: int
    chance: float  # eta^2 expected with no dependence, (groups - 1) / (n - 1)

    @property
    def excess(self) -> float:
        return self.eta2 - self.chance


def measure(samples: list[Sample]) -> dict[str, Leak]:
    """:class:`Leak` per property over the samples that have a label and that property."""
    out = {}
    rows = [(label(s), properties(s)) for s in samples]
    rows = [(y, p) for y, p in rows if y is not None]
    for prop in PROPERTIES:
        pairs = [(y, p[prop]) for y, p in rows if prop in p]
        if len(pairs) < 10:
            continue
        y = np.array([a for a, _ in pairs])
        x = np.array([b for _, b in pairs])
        groups = len(np.unique(x))
        rho = float(spearmanr(y, x).statistic) if groups > 1 and len(np.unique(y)) > 1 else 0.0
        out[prop] = Leak(prop, eta_squared(y, x), rho, groups, (groups - 1) / max(len(y) - 1, 1))
    return out


def draw(sources: list, n: int, seed: int = 0) -> list[Sample]:
    """``n`` samples per source (each from ``default_rng([seed, source, i])``)."""
    out = []
    for k, src in enumerate(sources):
        for i in range(n):
            out.append(src(np.random.default_rng([seed, k, i]), 0))
    return out


if __name__ == "__main__":
    raise SystemExit("uare.data.audit holds the measures; the command moved: python -m uare.train.audit CONFIG")
