"""The degradation-type table (uare/degrade/types.py) and salt-and-pepper noise, the type added through it.

Salt-and-pepper is an opt-in type of a new category, ``impulse``: these tests follow it end to end
(operator, calibrated levels, record, quality language, parser, restore plan, CLI, training data,
tokenizer corpus, colour flag) and check that the first release's pools did not move.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from uare import cli
from uare.degrade import Curriculum, add_salt_pepper, degrade, multi, severity_from_strength, single
from uare.degrade import types as T
from uare.degrade.record import CATEGORIES as RECORD_CATEGORIES
from uare.degrade.severity import STRENGTH_TABLE
from uare.degrade.single import PHYSICAL_ORDER
from uare.degrade.types import SINGLE_CATEGORY, SINGLE_LEVELS, SINGLE_TYPES, level_params
from uare.quality import (
    PLAN_ORDER,
    analysis_text,
    description_text,
    parse_analysis,
    parse_description,
    parse_plan,
    summarize,
    summary_from_severities,
)
from uare.quality import templates as QT
from uare.quality.words import NOUNS, SEVERITY_WORDS, SINGLE_KINDS, find_degradations, noun

LEVEL_AMOUNTS = (0.001, 0.005, 0.01, 0.03, 0.1)


def photo() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[::2, ::2])  # 256 x 256 x 3


# ------------------------------------------------------------------------------ the first release's views


def test_first_release_views_keep_their_contents_and_order():
    """Random draws index into these: their contents and order are the first release's, exactly."""
    assert SINGLE_TYPES == ("blur", "motion_blur", "defocus_blur", "noise", "poisson_noise", "jpeg", "lowres",
                            "lowlight", "haze", "rain")
    assert tuple(SINGLE_LEVELS) == SINGLE_TYPES and tuple(SINGLE_CATEGORY) == SINGLE_TYPES
    assert SINGLE_LEVELS["motion_blur"]["length"] == tuple(round(s * 24**0.5, 2) for s in (0.8, 1.4, 2.0, 2.8, 3.6))
    assert SINGLE_LEVELS["lowlight"] == {"exposure": (0.45, 0.3, 0.2, 0.12, 0.07), "gamma": (1.0, 1.1, 1.2, 1.3, 1.4)}
    assert PHYSICAL_ORDER == ("rain", "haze", "blur", "lowres", "lowlight", "noise", "jpeg")
    old = ("rain", "haze", "blur", "lowres", "lowlight", "noise", "ringing", "jpeg")
    assert tuple(c for c in RECORD_CATEGORIES if c in old) == old
    assert old == T.CORPUS_CATEGORIES
    assert tuple(c for c in PLAN_ORDER if c in old) == ("rain", "haze", "lowlight", "noise", "jpeg", "ringing",
                                                        "blur", "lowres")
    assert STRENGTH_TABLE["noise"] == (1.0, (5.0, 10.0, 15.0, 25.0, 50.0))
    assert STRENGTH_TABLE["ringing"] == (1.05, (1.3, 1.7, 2.3, 3.2, 4.5))
    assert {"lowlight", "haze"} == T.MEAN_CHANGING
    assert T.OPT_IN_TYPES == ("salt_pepper",)


def test_every_old_name_is_a_view_of_the_table():
    assert RECORD_CATEGORIES == T.CATEGORIES == tuple(c.name for c in T.CATEGORY_TABLE)
    assert set(STRENGTH_TABLE) == set(T.CATEGORIES)
    assert set(PLAN_ORDER) == set(T.CATEGORIES)
    assert set(QT.ACTIONS) == set(T.CATEGORIES)
    assert {c for c, _ in NOUNS} == set(T.CATEGORIES)
    for c in T.CATEGORY_TABLE:
        assert STRENGTH_TABLE[c.name] == (c.level0, c.levels)
        assert QT.ACTIONS[c.name] == c.actions
        assert (c.name in T.MEAN_CHANGING) == c.changes_mean
        assert (SINGLE_KINDS.get(c.name) is not None) == (len(c.kinds) == 1)
    for t in T.TYPE_TABLE:
        assert t.category in T.CATEGORIES
        for level in range(1, 6):
            assert level_params(t.name, level) == {k: v[level - 1] for k, v in t.levels.items()}


def test_the_table_refuses_malformed_rows():
    bad = T.Category("x", "", 1.0, (0.5, 2.0, 3.0, 4.0, 5.0), ("k",), {"k": "x"}, ("fix x",), "fix", 99)
    rows = T.CATEGORY_TABLE
    try:
        T.CATEGORY_TABLE = (*rows, bad)
        with pytest.raises(ValueError, match="nouns needs a None.*levels 0..5 must increase"):
            T._validate()
    finally:
        T.CATEGORY_TABLE = rows
    T._validate()


def test_random_draws_never_use_an_opt_in_type_unless_asked():
    img = photo()[:48, :48]
    drawn = {single(img, seed=s)[1].steps[0].params["type"] for s in range(60)}
    assert "salt_pepper" not in drawn and drawn <= set(SINGLE_TYPES)
    for s in range(30):
        assert "impulse" not in multi(img, seed=s)[1].severities()
    pool = T.pool_types(["salt_pepper"])
    assert pool == (*SINGLE_TYPES, "salt_pepper")
    drawn = {single(img, seed=s, pool=pool)[1].steps[0].params["type"] for s in range(60)}
    assert "salt_pepper" in drawn
    assert any("impulse" in multi(img, seed=s, pool=pool)[1].severities() for s in range(30))
    # an explicit pool of one type, through degrade() and the curriculum
    _, rec = degrade(img, "single", seed=0, pool=["salt_pepper"])
    assert rec.steps[0].op == "salt_pepper"
    cur = Curriculum(10, 10, 10, pool=("salt_pepper", "noise"))
    assert "impulse" in cur.sample(img, 15, seed=0)[1].severities()
    with pytest.raises(ValueError, match="unknown degradation type"):
        T.pool_types(["snow"])
    with pytest.raises(ValueError, match="realesrgan"):
        degrade(img, "realesrgan", pool=pool)


# ------------------------------------------------------------------------------ the salt-and-pepper operator


@pytest.mark.parametrize("amount", [0.005, 0.02, 0.1, 0.5])
def test_salt_pepper_hits_a_fraction_amount_of_pixels_with_black_or_white(amount):
    img = np.clip(photo(), 1, 254)  # no pixel is black or white already: every hit shows
    out, step = add_salt_pepper(img, amount, rng=np.random.default_rng(1))
    assert out.dtype == np.uint8 and out.shape == img.shape
    changed = np.any(out != img, axis=2)
    n = changed.size
    # binomial: 5 standard deviations (pixels that already were black or white may look unchanged)
    tol = 5 * math.sqrt(amount * (1 - amount) / n) + 0.002
    assert abs(changed.mean() - amount) < tol
    hit = out[changed]
    assert set(np.unique(hit)) <= {0, 255}
    assert np.all(hit.min(axis=1) == hit.max(axis=1))  # the whole pixel, every channel
    white = float((hit[:, 0] == 255).mean())
    assert abs(white - 0.5) < 0.1
    np.testing.assert_array_equal(out[~changed], img[~changed])
    assert step.op == "salt_pepper" and step.category == "impulse" and step.kind == "salt_pepper"
    assert step.params == {"amount": amount, "salt": 0.5}


def test_salt_pepper_dtypes_gray_superset_and_bad_arguments():
    gray = data.camera()[:64, :80]
    out, _ = add_salt_pepper(gray, 0.1, rng=0)
    assert out.shape == gray.shape and set(np.unique(out[out != gray])) <= {0, 255}
    f = photo().astype(np.float32) / 255
    out, _ = add_salt_pepper(f, 0.1, rng=0)
    assert out.dtype == np.float32 and set(np.unique(out[np.any(out != f, axis=2)])) <= {0.0, 1.0}
    u16 = (photo().astype(np.uint16) * 257)
    out, _ = add_salt_pepper(u16, 0.1, rng=0)
    assert set(np.unique(out[np.any(out != u16, axis=2)])) <= {0, 65535}
    img = photo()
    low = np.any(add_salt_pepper(img, 0.01, rng=3)[0] != img, axis=2)
    high = np.any(add_salt_pepper(img, 0.05, rng=3)[0] != img, axis=2)
    assert np.all(high[low])  # one seed: a stronger level hits a superset of the pixels
    all_white, _ = add_salt_pepper(img, 1.0, salt=1.0, rng=0)
    assert np.all(all_white == 255)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="amount"):
            add_salt_pepper(img, bad)
    with pytest.raises(ValueError, match="salt"):
        add_salt_pepper(img, 0.1, salt=2.0)


def test_salt_pepper_levels_round_trip_through_the_strength_table():
    assert T.TYPE_LEVELS["salt_pepper"] == {"amount": LEVEL_AMOUNTS}
    assert T.TYPE_CATEGORY["salt_pepper"] == "impulse"
    img = photo()
    psnrs = []
    for level, amount in enumerate(LEVEL_AMOUNTS, 1):
        assert severity_from_strength("impulse", amount) == pytest.approx(level)
        out, rec = degrade(img, "single", ["salt_pepper"], severity=level, seed=5)
        (step,) = rec.steps
        assert step.params["amount"] == amount and step.params["type"] == "salt_pepper"
        assert step.params["level"] == level and step.severity == pytest.approx(level)
        assert rec.severities() == {"impulse": pytest.approx(level)} and rec.kinds() == {"impulse": "salt_pepper"}
        assert rec.types() == ["impulse"]
        changed = np.any(out != img, axis=2).mean()
        assert abs(changed - amount) < 5 * math.sqrt(amount / changed.size) + 0.002
        mse = np.mean((out.astype(np.float64) - img) ** 2)
        psnrs.append(10 * np.log10(255.0**2 / mse))
    assert all(a > b for a, b in zip(psnrs, psnrs[1:], strict=False))
    assert severity_from_strength("impulse", 0.0001) == 0.0
    assert severity_from_strength("impulse", 0.5) == 5.0


def test_multi_places_impulses_in_physical_order():
    img = photo()[:64, :64]
    _, rec = multi(img, ["jpeg", "salt_pepper", "noise"], severity=2, seed=0)
    assert [s.params["type"] for s in rec.steps] == ["noise", "salt_pepper", "jpeg"]
    assert list(rec.severities()) == ["noise", "impulse", "jpeg"]


# ------------------------------------------------------------------------------ quality language


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_description_and_analysis_name_it_and_parse_back(level):
    img = photo()[:96, :96]
    out, rec = degrade(img, "single", ["salt_pepper"], severity=level, seed=level)
    s = summarize(rec, clean=img, degraded=out)
    word = SEVERITY_WORDS[level - 1]
    assert s.degradations == [("impulse", "salt_pepper", word)]
    for seed in range(5):
        rng = np.random.default_rng(seed)
        text = description_text(s, rng)
        assert f"{word} salt-and-pepper noise" in text
        parsed = parse_description(text)
        assert parsed.degradations == {"impulse": word} and parsed.kinds == {"impulse": "salt_pepper"}
        assert parsed.level == s.level and parsed.score == pytest.approx(s.score)
        analysis = analysis_text(s, rng)
        assert f"{word} salt-and-pepper noise" in analysis
        pa = parse_analysis(analysis)
        assert pa.degradations == {"impulse": word} and pa.plan == ["impulse"]


def test_mixed_texts_keep_impulse_and_noise_apart():
    s = summary_from_severities({"noise": 2.0, "impulse": 4.0, "haze": 1.0}, {"noise": "gaussian"}, 2)
    assert [c for c, _, _ in s.degradations] == ["haze", "noise", "impulse"]  # physical order
    for seed in range(10):
        rng = np.random.default_rng(seed)
        p = parse_analysis(analysis_text(s, rng))
        assert p.degradations == {"haze": "slight", "noise": "mild", "impulse": "strong"}
        assert p.kinds["noise"] == "gaussian" and p.kinds["impulse"] == "salt_pepper"
        assert p.plan == ["impulse", "haze", "noise", "lowres"]  # impulses first, upscaling last
        assert parse_description(description_text(s, rng)).degradations == p.degradations
    assert find_degradations("strong impulse noise and slight salt and pepper noise") == [
        ("impulse", "salt_pepper", "strong")]
    assert find_degradations("mild Gaussian noise, severe salt-and-pepper noise") == [
        ("noise", "gaussian", "mild"), ("impulse", "salt_pepper", "severe")]
    assert noun("impulse") == noun("impulse", "salt_pepper") == "salt-and-pepper noise"


def test_every_impulse_plan_step_parses_to_impulse_only():
    for phr in QT.ACTIONS["impulse"]:
        assert parse_plan(f"1. {phr}.") == (["impulse"], 1), phr
        assert "nois" not in phr  # the noise keyword would claim it too
    for cat, pool in QT.ACTIONS.items():  # and no other category's phrasing reads as impulse
        if cat != "impulse":
            for phr in pool:
                assert "impulse" not in parse_plan(f"1. {phr.format(noun=noun(cat), scale=2)}.")[0]


def test_mean_changing_answers_from_the_table():
    from uare.infer.pipeline import MEAN_CHANGING

    assert MEAN_CHANGING is T.MEAN_CHANGING
    assert "impulse" not in MEAN_CHANGING and {"lowlight", "haze"} <= MEAN_CHANGING
    assert not T.CATEGORY["impulse"].changes_mean


# ------------------------------------------------------------------------------ CLI


def test_cli_degrades_with_salt_pepper_and_records_it(tmp_path: Path, capsys):
    img = photo()[:64, :80]
    Image.fromarray(img).save(tmp_path / "in.png")
    code = cli.main(["degrade", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--types", "salt_pepper",
                     "--severity", "3", "--seed", "2", "--record", str(tmp_path / "rec.json"), "-q"])
    assert code == 0, capsys.readouterr().err
    out = np.asarray(Image.open(tmp_path / "out.png"))
    changed = np.any(out != img, axis=2)
    assert 0 < changed.mean() < 0.03 and set(np.unique(out[changed])) <= {0, 255}
    rec = json.loads((tmp_path / "rec.json").read_text())
    assert [(s["op"], s["category"], s["kind"]) for s in rec["steps"]] == [("salt_pepper", "impulse", "salt_pepper")]
    assert rec["steps"][0]["params"]["amount"] == 0.01 and rec["severities"] == {"impulse": 3.0}
    assert "moderate salt-and-pepper noise" in rec["analysis"]
    assert parse_analysis(rec["analysis"]).plan == ["impulse"]
    capsys.readouterr()
    assert cli.main(["degrade", "--help"]) == 0
    assert "only when named: salt_pepper" in " ".join(capsys.readouterr().out.split())


# ------------------------------------------------------------------------------ training data, tokenizer


def _yaml_cfg(source: dict):
    from uare.train.config import config_from_dict

    return config_from_dict({"init": {"preset": "micro"},
                             "data": {"sources": [{"kind": "iqa", "folders": ["x"], **source}]}})


def test_training_config_opts_in_and_is_validated():
    from uare.train.config import TrainConfigError

    cfg = _yaml_cfg({"extra_types": ["salt_pepper"], "category_weights": {"impulse": 2.0}})
    assert cfg.data.sources[0].extra_types == ["salt_pepper"]
    with pytest.raises(TrainConfigError, match="extra_types"):
        _yaml_cfg({"extra_types": ["snow"]})
    with pytest.raises(TrainConfigError, match="category_weights.*impulse.*extra_types adds more"):
        _yaml_cfg({"category_weights": {"impulse": 2.0}})


def test_training_sources_draw_salt_pepper_only_when_opted_in(tmp_path: Path):
    from uare.data import Geometry, SourceConfig
    from uare.data.sources import RestorationSource, _Views
    from uare.data.stream import ImageCache

    img = photo()[:96, :96]
    Image.fromarray(img).save(tmp_path / "0.png")
    geo = Geometry(latent_stride=16, max_latent_side=16, vit_patch=14, vit_max_side=8)

    def restoration_types(**kw) -> set[str]:
        cfg = SourceConfig(kind="restoration", folders=[str(tmp_path)], crop=[32, 64], sr_prob=0.0,
                           pipelines={"single": 1.0, "multi": 1.0}, **kw)
        src = RestorationSource(cfg, geo, None, ImageCache())
        return {s.params.get("type") for i in range(80) for s in src.degrade(img, np.random.default_rng(i), 0)[1].steps}

    assert "salt_pepper" not in restoration_types()
    assert "salt_pepper" in restoration_types(extra_types=["salt_pepper"])

    # iqa / interleaved views, balance_by category: the opted-in category is drawn (here almost always)
    cfg = SourceConfig(kind="iqa", folders=[str(tmp_path)], crop=[48, 64], balance_levels=True, sr_prob=0.0,
                       extra_types=["salt_pepper"], category_weights={"impulse": 1000.0})
    views = _Views(cfg, None)
    assert views.categories[-1] == "impulse"
    texts = [description_text(views(img, np.random.default_rng(i))[1], np.random.default_rng(i)) for i in range(30)]
    assert sum("salt-and-pepper noise" in t for t in texts) >= 10
    plain = _Views(SourceConfig(kind="iqa", folders=[str(tmp_path)], balance_levels=True), None)
    assert "impulse" not in plain.categories


def test_training_samples_contain_it(tmp_path: Path):
    """A whole interleaved sample (the four-part analysis the model is trained on) names salt-and-pepper."""
    from uare.data import DataConfig, Geometry, PackDataset, SourceConfig
    from uare.model.tokenizer import Tokenizer

    Image.fromarray(photo()[:128, :128]).save(tmp_path / "0.png")
    tok = Tokenizer.from_folder(Path(__file__).resolve().parents[1] / "uare" / "weights" / "uare-tiny")
    src = SourceConfig(kind="interleaved", folders=[str(tmp_path)], crop=[48, 64], clean_prob=0.0,
                       pipelines={"single": 1.0}, sr_prob=0.0, extra_types=["salt_pepper"])
    cfg = DataConfig(sources=[src], tokens_per_pack=4000, vit_max_size=112, vit_min_size=28)
    cfg.dropout.text = cfg.dropout.vit = cfg.dropout.vae = 0.0
    ds = PackDataset(cfg, Geometry(16, 16, 14, 8), tok, seed=0)
    analyses = [tok.decode(ds.sample(0, j).items[3].ids) for j in range(40)]
    hits = [a for a in analyses if "salt-and-pepper noise" in a]
    assert hits, analyses[:3]
    assert "impulse" in parse_analysis(hits[0]).plan


def test_tokenizer_corpus_leaves_new_categories_out_by_default():
    from uare.model.tokenizer import Tokenizer, quality_corpus

    default = list(quality_corpus(600, seed=0))
    assert not any("salt-and-pepper" in t for t in default)
    extra = list(quality_corpus(600, seed=0, extra_categories=["impulse"]))
    assert any("salt-and-pepper" in t for t in extra)
    with pytest.raises(ValueError, match="unknown categories"):
        list(quality_corpus(10, seed=0, extra_categories=["snow"]))
    # the shipped tokenizer splits the new words into pieces it knows, losslessly
    tok = Tokenizer.from_folder(Path(__file__).resolve().parents[1] / "uare" / "weights" / "uare-tiny")
    text = "Quality: poor, 2.31/5. Main distortions: moderate salt-and-pepper noise."
    assert tok.decode(tok.encode(text)) == text
