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
