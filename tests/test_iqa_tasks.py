"""Tests of uare.eval.iqa_tasks: the accuracy bookkeeping of type identification, pairwise comparison
and TID2013 pair ranking, with scripted models whose right answers are known."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from uare.eval.bench_iqa import IQAItem
from uare.eval.iqa_tasks import dominant_category, pairwise_accuracy, tid2013_pairs, type_identification


def items() -> list[IQAItem]:
    """Two clean images x three types x levels 1..5; truth falls with the level; pixels encode the truth."""
    out = []
    for img in ("set/a", "set/b"):
        for t in ("noise", "motion_blur", "haze"):
            for lv in range(1, 6):
                truth = 5.0 - 0.8 * lv + (0.05 if t == "haze" else 0.0)
                out.append(IQAItem("synthetic", f"{img}/{t}/L{lv}", np.full((4, 4, 3), truth, np.float32), truth, t))
    return out


def test_dominant_category_takes_the_most_severe_and_the_first_on_ties() -> None:
    assert dominant_category([{"type": "noise", "severity": "slight"}, {"type": "blur", "severity": "strong"}]) == "blur"
    assert dominant_category([{"type": "haze", "severity": "mild"}, {"type": "jpeg", "severity": "mild"}]) == "haze"
    assert dominant_category([]) is None


def test_type_identification_counts_categories_and_skips_level_one() -> None:
    # a model that always says "strong noise, slight blur": right on noise only
    model = SimpleNamespace(assess=lambda im, describe: SimpleNamespace(
        degradations=[{"type": "noise", "severity": "strong"}, {"type": "blur", "severity": "slight"}], text=""))
    r = type_identification(model, items())
    assert r.n == 2 * 3 * 4  # levels 2..5 only
    assert r.per_group == {"blur": 0.0, "haze": 0.0, "noise": 1.0}  # motion_blur is scored as its category
    assert r.accuracy == pytest.approx(1 / 3)


def test_pairwise_oracle_is_perfect_and_a_constant_answer_is_not() -> None:
    oracle = SimpleNamespace(compare=lambda a, b: SimpleNamespace(
        preferred="first" if a.flat[0] > b.flat[0] else "second", probability=1.0))
    always_first = SimpleNamespace(compare=lambda a, b: SimpleNamespace(preferred="first", probability=0.6))
    its = items()
    good = pairwise_accuracy(oracle, its, pairs_per_image=20, seed=0)
    bad = pairwise_accuracy(always_first, its, pairs_per_image=20, seed=0)
    assert good.n == bad.n == 40 and good.accuracy == 1.0
    assert 0.2 < bad.accuracy < 0.8  # the order of each pair is randomised
    assert all(r["group"].endswith("apart") and not r["group"].startswith("0") for r in good.rows)


def test_tid2013_pairs_reads_reference_and_distorted(tmp_path) -> None:
    (tmp_path / "ref_dir").mkdir()
    (tmp_path / "dist_dir").mkdir()
    (tmp_path / "tid2013_identity.csv").write_text(
        "calib_file,tid2013_ref,tid2013_dist,distortion_type_id,distortion_name,level,mos_0_9\n"
        "I01.bmp,I01.BMP,i01_01_1.bmp,1,noise,1,4.0\nI02.bmp,I02.BMP,i02_01_1.bmp,1,noise,1,4.0\n")
    for name, ref, dist in (("I01.bmp", 200, 100), ("I02.bmp", 50, 90)):
        Image.fromarray(np.full((8, 8, 3), ref, np.uint8)).save(tmp_path / "ref_dir" / name)
        Image.fromarray(np.full((8, 8, 3), dist, np.uint8)).save(tmp_path / "dist_dir" / name)
    r = tid2013_pairs(lambda im: float(np.mean(im)), tmp_path)  # brighter = "better"
    assert r.n == 2 and r.accuracy == 0.5
    assert [row["correct"] for row in r.rows] == [True, False]


def _scripted(score_of):
    """A model whose assess() returns ``score_of(image)`` and whose compare() follows those scores."""
    from uare.infer.outputs import Assessment, Comparison
    from uare.quality import level_from_score

    def assess(im, describe=True):
        s = float(score_of(im))
        lv = level_from_score(round(s, 2))
        return Assessment(s, lv, {}, [], f"The quality of this image is {lv} ({s:.2f}/5). It shows no visible distortion.")

    def compare(a, b):
        sa, sb = score_of(a), score_of(b)
        return Comparison("first" if sa >= sb else "second", 0.7, "")

    return SimpleNamespace(assess=assess, compare=compare)


def test_monotonicity_is_one_for_a_falling_score_and_minus_one_for_a_rising_one() -> None:
    from uare.eval.iqa_tasks import monotonicity

    its = [it for it in items() if it.group != "haze"] + [
        IQAItem("synthetic", f"set/a/blur/L{lv}", np.full((4, 4, 3), 5.0 - lv, np.float32), 5.0 - lv, "blur")
        for lv in range(1, 6)]
    good = monotonicity(_scripted(lambda im: im.flat[0]), its, types=("noise", "blur"))
    bad = monotonicity(_scripted(lambda im: -im.flat[0]), its, types=("noise", "blur"))
    assert good.accuracy == pytest.approx(1.0) and bad.accuracy == pytest.approx(-1.0)
    assert good.n == 3 and set(good.per_group) == {"noise", "blur"}


def test_size_invariance_catches_a_score_that_follows_the_size() -> None:
    from uare.eval.iqa_tasks import size_invariance

    rng = np.random.default_rng(0)
    imgs = [(f"i{k}", rng.integers(0, 256, (200, 220, 3), dtype=np.uint8)) for k in range(3)]
    by_size = size_invariance(_scripted(lambda im: im.shape[0] / 50), imgs)
    by_content = size_invariance(_scripted(lambda im: float(np.round(im.mean() / 64, 1))), imgs)
    assert by_size.per_group["mean_srcc"] == pytest.approx(1.0) and by_size.accuracy == pytest.approx(0.0)
    assert abs(by_content.per_group["mean_srcc"]) < 0.5


def test_compare_symmetry_and_text_consistency_of_a_consistent_model() -> None:
    from uare.eval.iqa_tasks import compare_symmetry, text_consistency

    m = _scripted(lambda im: im.flat[0])
    distinct = [it for it in items() if it.name.startswith("set/a/") and it.group != "motion_blur"]
    assert compare_symmetry(m, distinct, pairs=6).accuracy == 1.0
    assert text_consistency(m, items(), n=6).accuracy == 1.0
    liar = SimpleNamespace(assess=lambda im, describe=True: SimpleNamespace(
        score=2.0, level="poor", text="The quality of this image is good (4.00/5). It shows no visible distortion."))
    assert text_consistency(liar, items(), n=4).accuracy == 0.0
