"""No training label may be predictable from what an image is not: its size, token count or crop.

The first uare-tiny learnt that a view with few ViT tokens is "bad" (down-sampled views were fed at their
reduced size) and scored every real photo by its size. These tests draw a few thousand samples from the
IQA and interleaved sources and measure, per non-content property, how much of the quality label's
variance it explains (:mod:`uare.data.audit`); a negative control shows the measure catches that leak.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from uare.data import Geometry, SourceConfig
from uare.data.audit import draw, eta_squared, measure
from uare.data.images import ImageCache
from uare.data.sources import InterleavedSource, IQASource
from uare.model.tokenizer import train_quality_tokenizer
from uare.quality import LEVELS


@pytest.fixture(scope="module")
def tok():
    return train_quality_tokenizer(vocab_size=800, n_samples=2000, seed=0)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    from skimage import data

    d = tmp_path_factory.mktemp("clean")
    for i, im in enumerate([data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry()]):
        Image.fromarray(im[:256, :256]).save(d / f"{i}.png")
    return d


GEO = Geometry(latent_stride=8, max_latent_side=64, vit_patch=14, vit_max_side=13, vit_min_size=56)


def _iqa(folder, tok, **kw) -> IQASource:
    opts = {"sr_prob": 0.3, "sr_scales": [2, 4], **kw}
    cfg = SourceConfig(kind="iqa", folders=[str(folder)], crop=[96, 192], tasks={"score": 0.5, "description": 0.5},
                       **opts)
    return IQASource(cfg, GEO, tok, ImageCache())


def test_eta_squared_measures_explained_variance():
    rng = np.random.default_rng(0)
    g = rng.integers(0, 5, 4000)
    assert eta_squared(g + rng.normal(0, 0.1, g.size), g) > 0.95
    assert eta_squared(rng.normal(size=g.size), g) < 0.005


def test_iqa_labels_are_balanced_and_not_predictable_from_non_content_properties(folder, tok):
    samples = draw([_iqa(folder, tok, balance_levels=True)], 1600, seed=1)
    levels = np.array([LEVELS.index(s.meta["level"]) for s in samples])
    share = np.bincount(levels, minlength=5) / levels.size
    assert share.min() > 0.14 and share.max() < 0.26, share  # no level is a cheap prior
    leaks = measure(samples)
    assert {"vit_tokens", "vit_rows", "vit_cols", "crop", "prompt_tokens"} <= set(leaks)
    for lk in leaks.values():
        assert lk.excess < 0.01 and abs(lk.spearman) < 0.08, lk
    # every view is its crop's size, whatever was done to it (a x4 view was enlarged back)
    assert all(s.items[0].grid == GEO.vit(np.zeros((s.meta["crop"],) * 2 + (3,), np.uint8)).grid for s in samples)
    assert any(s.meta["scale"] > 1 for s in samples)


def test_interleaved_labels_are_not_predictable_from_non_content_properties(folder, tok):
    cfg = SourceConfig(kind="interleaved", folders=[str(folder)], crop=[64, 128], balance_levels=True, sr_prob=0.3,
                       sr_scales=[2, 4], target=False)
    samples = draw([InterleavedSource(cfg, GEO, tok, ImageCache())], 600, seed=2)
    for name, lk in measure(samples).items():
        if name != "prompt_tokens":  # the instruction names the task the user asks for: content, not a leak
            assert lk.excess < 0.015 and abs(lk.spearman) < 0.1, lk
    assert all(len(s.items) == 4 for s in samples)  # target: false drops the restored image


def test_the_measure_catches_the_old_leak(folder, tok, monkeypatch):
    """Negative control: feed down-sampled views at their reduced size (the first uare-tiny's data)."""
    import uare.data.sources as sources

    monkeypatch.setattr(sources, "_same_size", lambda out, like: out)
    leaks = measure(draw([_iqa(folder, tok, balance_levels=True, sr_prob=0.5)], 400, seed=3))
    assert leaks["vit_tokens"].excess > 0.05 and leaks["vit_tokens"].spearman > 0.2


def test_category_balance_shows_every_category_alone_at_every_level_it_reaches(folder, tok):
    """balance_by: category draws the category first: strong JPEG alone is no longer a rare event."""
    from uare.data.sources import _Views

    cfg = SourceConfig(kind="iqa", folders=[str(folder)], crop=[96, 192], balance_levels=True, sr_prob=0.0)
    old = SourceConfig(kind="iqa", folders=[str(folder)], crop=[96, 192], balance_levels=True, sr_prob=0.0,
                       balance_by="level")
    img = np.asarray(Image.open(folder / "2.png").convert("RGB"))[:160, :160]

    def alone(c, n=400):
        out = {}
        for i in range(n):
            _, s, _ = _Views(c, None)(img, np.random.default_rng(i))
            if s.categories() == ["jpeg"]:
                out[s.level] = out.get(s.level, 0) + 1
        return out

    new, first = alone(cfg), alone(old)
    low_new, low_old = (d.get("poor", 0) + d.get("bad", 0) for d in (new, first))
    assert low_new >= 8 and low_new >= low_old + 3  # strong JPEG alone, at the low levels


def test_vit_native_iqa_crops_reach_the_vit_unresized(folder, tok):
    src = _iqa(folder, tok, balance_levels=True, vit_native=True, sr_prob=0.0)
    for i in range(40):
        s = src(np.random.default_rng(i), 0)
        assert s.meta["crop"] % 14 == 0 and s.items[0].grid == (s.meta["crop"] // 14,) * 2
