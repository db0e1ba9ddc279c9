"""Training data: plans, condition dropout and positions, sources, MOS tables, the resumable pack stream."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from uare.data import (
    VAE,
    CurriculumConfig,
    DataConfig,
    DataError,
    Dropout,
    Geometry,
    PackDataset,
    Sample,
    Skip,
    SourceConfig,
    Text,
    ViT,
    apply_dropout,
    pack_loader,
    pack_samples,
    read_mos_table,
)
from uare.data.items import to_model_plan
from uare.model.image_transforms import vit_patchify
from uare.model.tokenizer import train_quality_tokenizer
from uare.quality import HEADERS, LEVELS


@pytest.fixture(scope="module")
def tok():
    return train_quality_tokenizer(vocab_size=600, n_samples=1500, seed=0)


@pytest.fixture(scope="module")
def geo():
    return Geometry(latent_stride=16, max_latent_side=16, vit_patch=14, vit_max_side=8)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    from skimage import data

    d = tmp_path_factory.mktemp("imgs")
    for i, im in enumerate([data.astronaut(), data.chelsea(), data.coffee()]):
        Image.fromarray(im[:160, :160]).save(d / f"{i}.png")
    Image.fromarray(data.camera()[:90, :120]).save(d / "gray.png")  # gray and smaller than a crop
    return d


def _cfg(images: Path, **kw) -> DataConfig:
    src = kw.pop("sources", None) or [SourceConfig(kind="restoration", folders=[str(images)], crop=[32, 64],
                                                   degradation="curriculum")]
    return DataConfig(sources=src, tokens_per_pack=kw.pop("tokens_per_pack", 700), vit_max_size=112,
                      vit_min_size=28, **kw)


# ------------------------------------------------------------------------------------ dropout + positions
def _plan_sample() -> Sample:
    g = torch.Generator().manual_seed(0)
    lq = torch.rand(3, 32, 48, generator=g) * 2 - 1
    patches, grid = vit_patchify(torch.rand(3, 28, 42, generator=g), 14)
    return Sample([VAE(lq, cfg=True), ViT(patches, grid, cfg=True), Text([5, 6, 7], cfg=True),
                   VAE(lq.clone(), noisy=True)], "restoration")


def _positions(tok, items):
    s = Sample(items, "x")
    lat = [torch.zeros(16, it.pixels.shape[1] // 8, it.pixels.shape[2] // 8) for it in items if isinstance(it, VAE)]
    b = pack_samples([to_model_plan(s, lat, lambda: 0.5)], tok.special, 8, 16)
    return b


def test_dropped_image_still_advances_the_position(tok):
    full = _plan_sample().items
    b_full = _positions(tok, full)
    # rows: VAE (2x3 tokens + 2), ViT (2x3 + 2), text (3 + 2), noisy VAE (6 + 2)
    assert b_full.positions.tolist() == [0] * 8 + [1] * 8 + [2, 3, 4, 5, 6] + [7] * 8
    dropped = apply_dropout(full, np.random.default_rng(0), Dropout(text=0.0, vit=1.0, vae=0.0))
    assert isinstance(dropped[1], Skip) and isinstance(dropped[2], Text)
    b = _positions(tok, dropped)
    # the ViT rows are gone, but the text still starts at 2 and the noisy image sits at 7, as in BAGEL
    assert b.positions.tolist() == [0] * 8 + [2, 3, 4, 5, 6] + [7] * 8
    both = apply_dropout(full, np.random.default_rng(0), Dropout(text=0.0, vit=1.0, vae=1.0))
    assert _positions(tok, both).positions.tolist() == [2, 3, 4, 5, 6] + [7] * 8


def test_dropped_text_does_not_advance_and_targets_are_never_dropped(tok):
    full = _plan_sample().items
    out = apply_dropout(full, np.random.default_rng(0), Dropout(text=1.0, vit=0.0, vae=0.0))
    assert [type(i).__name__ for i in out] == ["VAE", "ViT", "VAE"]
    assert _positions(tok, out).positions.tolist() == [0] * 8 + [1] * 8 + [2] * 8
    # everything droppable dropped: the noisy target and loss texts stay
    every = apply_dropout(full + [Text([9], loss=True)], np.random.default_rng(0), Dropout(1.0, 1.0, 1.0))
    assert [type(i).__name__ for i in every] == ["Skip", "Skip", "VAE", "Text"]
    assert every[2].noisy and every[3].loss


def test_dropout_rate_matches_probability():
    items = _plan_sample().items
    rng = np.random.default_rng(1)
    n = 2000
    kept = np.zeros(3)
    for _ in range(n):
        out = apply_dropout(items, rng, Dropout(0.1, 0.1, 0.1))
        kept += [any(isinstance(i, Text) for i in out), any(isinstance(i, ViT) for i in out),
                 sum(isinstance(i, VAE) for i in out) == 2]
    assert np.all(np.abs(kept / n - 0.9) < 0.03)


# ------------------------------------------------------------------------------------ sources
def test_restoration_sample_plan_and_sr_resize(images, tok, geo):
    cfg = _cfg(images)
    cfg.curriculum = CurriculumConfig(single_steps=0, multi_steps=0, highorder_steps=5)  # high-order: 4x SR
    cfg.dropout.text = cfg.dropout.vit = cfg.dropout.vae = 0.0
    ds = PackDataset(cfg, geo, tok, seed=3)
    s = ds.sample(0, 0)
    assert [type(i).__name__ for i in s.items] == ["VAE", "ViT", "Text", "VAE"]
    lq, vit, text, hq = s.items
    assert s.meta["stage"] == "realesrgan" and s.meta["scale"] == 4
    assert lq.cfg and vit.cfg and text.cfg and not lq.noisy and hq.noisy
    # the 4x smaller LQ image was resized to the output size (BAGEL's edit path)
    assert lq.pixels.shape == hq.pixels.shape and hq.pixels.shape[1] % 16 == 0
    assert 32 <= hq.pixels.shape[1] <= 64
    assert not torch.equal(lq.pixels, hq.pixels)
    assert float(hq.pixels.min()) >= -1 and float(hq.pixels.max()) <= 1
    assert tok.decode(text.ids) == s.meta["instruction"]


def test_curriculum_switches_substages_at_the_configured_steps(images, tok, geo):
    cfg = _cfg(images)
    cfg.curriculum = CurriculumConfig(single_steps=2, multi_steps=3, highorder_steps=1)
    ds = PackDataset(cfg, geo, tok, seed=0, grad_accum=2)
    stages = [ds.sample(p, 0).meta["stage"] for p in range(0, 14, 2)]  # packs 0,2,.. = steps 0,1,..
    assert stages == ["single", "single", "multi", "multi", "multi", "realesrgan", "realesrgan"]
    assert ds.sample(1, 0).meta["stage"] == "single" and ds.sample(5, 0).meta["stage"] == "multi"


def test_iqa_samples_score_description_compare(images, tok, geo):
    src = [SourceConfig(kind="iqa", folders=[str(images)], crop=[48, 64],
                        tasks={"score": 1.0, "description": 1.0, "compare": 1.0})]
    ds = PackDataset(_cfg(images, sources=src), geo, tok, seed=0)
    seen = {}
    for j in range(30):
        s = ds.sample(0, j)
        seen.setdefault(s.kind, s)
    assert set(seen) == {"iqa_score", "iqa_description", "iqa_compare"}
    score = seen["iqa_score"]
    assert [type(i).__name__ for i in score.items] == ["ViT", "Text", "Text"]
    answer = tok.decode(score.items[-1].ids)
    assert re.fullmatch(rf"The quality of the image is ({'|'.join(LEVELS)})\.", answer)
    assert score.items[-1].loss and not score.items[1].loss
    comp = seen["iqa_compare"]
    assert [type(i).__name__ for i in comp.items] == ["ViT", "ViT", "Text", "Text"]
    assert re.search(r"first|second|both|same|equal", tok.decode(comp.items[-1].ids), re.IGNORECASE)
    assert not any(getattr(i, "cfg", False) for s in seen.values() for i in s.items)  # IQA is never dropped


def test_interleaved_sample_has_the_four_part_analysis(images, tok, geo):
    src = [SourceConfig(kind="interleaved", folders=[str(images)], crop=[48, 64], clean_prob=0.0)]
    cfg = _cfg(images, sources=src, tokens_per_pack=2000)
    cfg.dropout.text = cfg.dropout.vit = cfg.dropout.vae = 0.0
    s = PackDataset(cfg, geo, tok, seed=0).sample(0, 0)
    assert [type(i).__name__ for i in s.items] == ["VAE", "ViT", "Text", "Text", "VAE"]
    analysis = tok.decode(s.items[3].ids)
    assert s.items[3].loss and s.items[2].cfg and s.items[4].noisy
    assert [h in analysis for h in HEADERS] == [True] * 4
    assert analysis.index(HEADERS[0]) < analysis.index(HEADERS[3])


def test_paired_source_matches_stems_and_scales(tmp_path, tok, geo):
    from skimage import data

    hq_dir, lq_dir = tmp_path / "hq", tmp_path / "lq"
    hq_dir.mkdir()
    lq_dir.mkdir()
    hq = data.astronaut()[:128, :128]
    Image.fromarray(hq).save(hq_dir / "a.png")
    Image.fromarray(hq[::2, ::2]).save(lq_dir / "a.png")
    Image.fromarray(hq).save(hq_dir / "unpaired.png")
    src = [SourceConfig(kind="paired", lq_folder=str(lq_dir), hq_folder=str(hq_dir), crop=[32, 64])]
    cfg = _cfg(tmp_path, sources=src)
    cfg.dropout.text = cfg.dropout.vit = cfg.dropout.vae = 0.0
    s = PackDataset(cfg, geo, tok, seed=0).sample(0, 0)
    assert s.meta["scale"] == 2 and s.meta["file"] == "a.png"
    assert s.items[0].pixels.shape == s.items[-1].pixels.shape


# ------------------------------------------------------------------------------------ MOS tables
def test_mos_tables_in_three_layouts(tmp_path):
    (tmp_path / "k.csv").write_text("image_name,c1,MOS,SD\na.jpg,1,1.2,0.3\nb.jpg,1,3.0,0.5\nc.jpg,1,4.8,0.2\n")
    rows = read_mos_table(tmp_path / "k.csv", layout="koniq")
    assert [r.level for r in rows] == ["bad", "fair", "excellent"]
    assert rows[0].score == pytest.approx(1.0) and rows[2].score == pytest.approx(5.0)
    assert rows[1].score == pytest.approx(3.0) and rows[1].std == pytest.approx(0.5)
    assert rows[0].path == tmp_path / "a.jpg"
    (tmp_path / "d.csv").write_text("dist_img,ref_img,dmos,var\nx.png,r.png,2.0,0.25\ny.png,r.png,4.0,0.04\n")
    rows = read_mos_table(tmp_path / "d.csv", image_root=tmp_path / "imgs", layout="kadid", mos_range=(1, 5))
    assert rows[0].std == pytest.approx(0.5) and rows[0].score == pytest.approx(2.0)
    assert rows[1].path == tmp_path / "imgs" / "y.png"
    (tmp_path / "g.csv").write_text("p.png,10\nq.png,55\nr.png,100\n")  # generic, no header, 0-100 scale
    assert [r.level for r in read_mos_table(tmp_path / "g.csv")] == ["bad", "fair", "excellent"]
    with pytest.raises(DataError, match="no column 'dist_img' for layout kadid"):
        read_mos_table(tmp_path / "k.csv", layout="kadid")
    (tmp_path / "bad.csv").write_text("image,mos\nz.png,high\n")
    with pytest.raises(DataError, match="not a number"):
        read_mos_table(tmp_path / "bad.csv")


def test_mos_source_gives_score_answers(tmp_path, images, tok, geo):
    (tmp_path / "m.csv").write_text("image,mos\n0.png,90\n1.png,10\n")
    src = [SourceConfig(kind="mos", table=str(tmp_path / "m.csv"), image_root=str(images))]
    ds = PackDataset(_cfg(images, sources=src), geo, tok, seed=0)
    answers = {ds.sample(0, j).meta["file"]: tok.decode(ds.sample(0, j).items[-1].ids) for j in range(8)}
    assert answers == {"0.png": "The quality of the image is excellent.",
                       "1.png": "The quality of the image is bad."}


# ------------------------------------------------------------------------------------ the stream
def _same_pack(a, b) -> bool:
    if a.tokens != b.tokens or len(a.samples) != len(b.samples):
        return False
    for sa, sb in zip(a.samples, b.samples, strict=True):
        for ia, ib in zip(sa.items, sb.items, strict=True):
            if type(ia) is not type(ib):
                return False
            for f in ("pixels", "patches"):
                if hasattr(ia, f) and not torch.equal(getattr(ia, f), getattr(ib, f)):
                    return False
            if isinstance(ia, Text) and ia.ids != ib.ids:
                return False
    return True


def test_stream_is_a_pure_function_of_seed_rank_and_index(images, tok, geo):
    cfg = _cfg(images, sources=[SourceConfig(kind="restoration", folders=[str(images)], crop=[32, 64]),
                                SourceConfig(kind="iqa", folders=[str(images)], crop=[32, 48])])
    a = PackDataset(cfg, geo, tok, seed=5, rank=0)
    b = PackDataset(cfg, geo, tok, seed=5, rank=0)
    late = b[3]  # out of order: no hidden state
    assert _same_pack(a[3], late) and _same_pack(a[0], b[0])
    assert not _same_pack(a[0], PackDataset(cfg, geo, tok, seed=5, rank=1)[0])
    assert not _same_pack(a[0], PackDataset(cfg, geo, tok, seed=6, rank=0)[0])
    for p in range(4):
        pk = a[p]
        assert 0 < pk.tokens <= cfg.tokens_per_pack
        assert pk.tokens == sum(s.num_tokens(16) for s in pk.samples)


def test_loader_workers_give_the_same_packs_in_order(images, tok, geo):
    cfg = _cfg(images, num_workers=2)
    ds = PackDataset(cfg, geo, tok, seed=0)
    packs = list(pack_loader(ds, 2, 6))
    assert [p.index for p in packs] == [2, 3, 4, 5]
    assert all(_same_pack(p, ds[p.index]) for p in packs)


def test_a_sample_over_the_budget_is_a_clear_error(images, tok, geo):
    ds = PackDataset(_cfg(images, tokens_per_pack=40), geo, tok, seed=0)
    with pytest.raises(DataError, match="more than data.tokens_per_pack"):
        ds[0]


def test_missing_folder_is_a_clear_error(tmp_path, tok, geo):
    with pytest.raises(DataError, match="image folder not found"):
        PackDataset(_cfg(tmp_path / "nope"), geo, tok, seed=0)
