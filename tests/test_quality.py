"""Tests of uare.quality: score, levels, words, SSIM fidelity, seeded texts and their parser."""

from __future__ import annotations

import math
import re

import cv2
import numpy as np
import pytest

from uare.degrade.record import CATEGORIES, DegradationRecord, Step
from uare.degrade.types import CATEGORY_TABLE
from uare.quality import (
    LEVELS,
    PLAN_ORDER,
    RESTORE_TASKS,
    SEVERITY_WORDS,
    TASKS,
    TIE_MARGIN,
    QualitySummary,
    aggregate_severity,
    analysis_text,
    comparison_text,
    description_text,
    encoded_kind,
    expected_score,
    expected_summary,
    fidelity,
    fidelity_score,
    find_degradations,
    instruction,
    level_from_score,
    luma,
    noun,
    noun_kind,
    parse_analysis,
    parse_comparison,
    parse_description,
    parse_instruction,
    parse_plan,
    parse_scale,
    plan_categories,
    quality_score,
    record_score,
    score_answer,
    severity_word,
    ssim,
    summarize,
    summary_from_severities,
)
from uare.quality import templates as T

# Every kind a step of each category may carry, from the degradation table.
KINDS: dict[str, tuple[str, ...]] = {c.name: c.kinds for c in CATEGORY_TABLE}
# Severities at and around every word boundary, besides uniform draws.
EDGES = (0.0, 0.49, 0.5, 1.0, 1.49, 1.5, 2.0, 2.5, 2.7, 3.0, 3.49, 3.5, 4.0, 4.49, 4.5, 5.0)
N_SAMPLES = 3000


def random_record(rng: np.random.Generator) -> DegradationRecord:
    """A record with 0-4 categories, random kinds, continuous severities and scale 1/2/4."""
    rec = DegradationRecord("test", scale=int(rng.choice([1, 2, 4])))
    cats = rng.choice(len(CATEGORIES), size=int(rng.integers(0, 5)), replace=False)
    for ci in cats:
        cat = CATEGORIES[ci]
        for _ in range(1 + int(rng.random() < 0.2)):  # sometimes two steps, e.g. two blurs
            sev = float(rng.choice(EDGES)) if rng.random() < 0.3 else float(rng.uniform(0, 5))
            rec.add(Step(f"{cat}_op", {}, cat, str(rng.choice(KINDS[cat])), sev))
    return rec


def random_summary(rng: np.random.Generator) -> QualitySummary:
    return summarize(random_record(rng))


def degr_dict(s: QualitySummary) -> dict[str, str]:
    return {c: w for c, _, w in s.degradations}


def kind_dict(s: QualitySummary) -> dict[str, str | None]:
    return {c: encoded_kind(c, k) for c, k, _ in s.degradations}


# ------------------------------------------------------------------------------------- score


def test_score_anchor_values() -> None:
    assert record_score({}) == 5.0
    for c in CATEGORIES:
        for lvl in range(6):
            assert record_score({c: float(lvl)}) == pytest.approx(5.0 - 0.8 * lvl)
    # S = 3 + 0.35 * 2 = 3.7 -> 5 - 2.96
    assert record_score({"blur": 3.0, "noise": 2.0}) == pytest.approx(2.04)
    assert aggregate_severity({"blur": 5.0, "noise": 5.0, "jpeg": 5.0}) == 5.0
    assert record_score({"blur": 5.0, "noise": 4.0}) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        record_score({"blur": 5.5})


def test_fidelity_term_formula() -> None:
    assert fidelity_score(1.0) == 5.0
    assert fidelity_score(0.2) == 1.0
    assert fidelity_score(-0.3) == 1.0
    assert fidelity_score(0.6) == pytest.approx(3.0)
    assert quality_score({"noise": 2.0}, 0.6) == pytest.approx(0.75 * 3.4 + 0.25 * 3.0)
    assert quality_score({"noise": 2.0}) == pytest.approx(3.4)


@pytest.mark.parametrize("category", CATEGORIES)
def test_score_monotonic_in_every_category(category: str) -> None:
    rng = np.random.default_rng(CATEGORIES.index(category))
    grid = np.linspace(0.0, 5.0, 101)
    for _ in range(200):
        others = [c for c in CATEGORIES if c != category]
        base = {
            c: float(rng.uniform(0, 5))
            for c in rng.choice(others, size=int(rng.integers(0, 4)), replace=False)
        }
        fid = None if rng.random() < 0.5 else float(rng.uniform(0, 1))
        prev_rec, prev_q, prev_sum = math.inf, math.inf, math.inf
        for s in grid:
            sev = {**base, category: float(s)}
            rec, q = record_score(sev), quality_score(sev, fid)
            summ = summary_from_severities(sev, fid=fid).score
            assert rec <= prev_rec + 1e-12 and q <= prev_q + 1e-12 and summ <= prev_sum
            prev_rec, prev_q, prev_sum = rec, q, summ
        assert 1.0 <= prev_rec <= 5.0


# ------------------------------------------------------------------------------------ levels


def test_level_boundaries() -> None:
    cases = {
        5.0: "excellent",
        4.2: "excellent",
        4.19: "good",
        3.4: "good",
        3.39: "fair",
        2.6: "fair",
        2.59: "poor",
        1.8: "poor",
        1.79: "bad",
        1.0: "bad",
    }
    for score, level in cases.items():
        assert level_from_score(score) == level, score
    assert [level_from_score(5.0 - 0.8 * k) for k in range(6)] == [
        "excellent",
        "excellent",
        "good",
        "fair",
        "poor",
        "bad",
    ]
    with pytest.raises(ValueError):
        level_from_score(float("nan"))


def test_expected_score() -> None:
    for i, lvl in enumerate(LEVELS):
        onehot = [0.0] * 5
        onehot[i] = 1.0
        assert expected_score(onehot) == i + 1
        assert expected_score({lvl: 1.0}) == i + 1
    assert expected_score([0.2] * 5) == pytest.approx(3.0)
    assert expected_score({"good": 0.5, "excellent": 0.5}) == pytest.approx(4.5)
    assert expected_score([0, 0, 2, 2, 0]) == pytest.approx(3.5)  # renormalised
    for bad in ([0.5, 0.5], {"great": 1.0}, [0, 0, 0, 0, 0], [-1, 1, 1, 0, 0]):
        with pytest.raises(ValueError):
            expected_score(bad)


def test_score_answer() -> None:
    assert score_answer("good") == "The quality of the image is good."
    assert score_answer(1.2) == "The quality of the image is bad."
    with pytest.raises(ValueError):
        score_answer("great")


# ------------------------------------------------------------------------------------- words


def test_severity_words() -> None:
    cases = {
        0.0: "none",
        0.49: "none",
        0.5: "slight",
        1.49: "slight",
        1.5: "mild",
        2.49: "mild",
        2.5: "moderate",
        2.7: "moderate",
        3.49: "moderate",
        3.5: "strong",
        4.49: "strong",
        4.5: "severe",
        5.0: "severe",
    }
    for s, w in cases.items():
        assert severity_word(s) == w, s
    assert [severity_word(k) for k in range(1, 6)] == list(SEVERITY_WORDS)


def test_nouns_vary_with_kind_and_read_back() -> None:
    assert noun("blur", "motion") == "motion blur"
    assert noun("blur", "defocus") == "defocus blur"
    assert noun("blur", "plateau") == "blur"
    assert noun("noise", "sensor") == "sensor noise"
    assert noun("jpeg", "jpeg") == "JPEG compression artifacts"
    for cat, kinds in KINDS.items():
        for kind in kinds:
            c, k = noun_kind(noun(cat, kind))
            assert c == cat and k in (kind, None)
    # longest noun first: "motion blur" is not read as generic "blur"
    assert find_degradations("strong motion blur and slight blur") == [("blur", "motion", "strong")]
    assert find_degradations("mild rain streaks, severe Gaussian noise") == [
        ("rain", "streaks", "mild"),
        ("noise", "gaussian", "severe"),
    ]
    with pytest.raises(ValueError):
        noun("fog")


# ----------------------------------------------------------------------------------- summary


def test_summary_fields() -> None:
    r = DegradationRecord("single", scale=2)
    r.add(Step("jpeg", {"q": 30}, "jpeg", "jpeg", 2.2))
    r.add(Step("noise_gaussian", {"sigma": 25}, "noise", "gaussian", 3.0))
    r.add(Step("blur_motion", {}, "blur", "motion", 0.4))  # invisible: not listed
    r.add(Step("resize", {}, None, None, 0.0))
    s = summarize(r)
    assert s.degradations == [("noise", "gaussian", "moderate"), ("jpeg", "jpeg", "mild")]
    assert s.scale == 2 and s.kinds["blur"] == "motion"
    assert s.score == round(5 - 0.8 * (3.0 + 0.35 * (2.2 + 0.4)), 2)
    assert s.level == level_from_score(s.score)
    assert summarize(DegradationRecord("clean")).score == 5.0
    with pytest.raises(ValueError):
        summarize(r, clean=np.zeros((16, 16), np.uint8))


# ---------------------------------------------------------------------------------- fidelity


def _test_image(rng: np.random.Generator, h: int = 72, w: int = 96) -> np.ndarray:
    base = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)), (0, 0), 2.0)
    return np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)


def test_ssim_matches_scikit_image() -> None:
    skm = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(7)
    for trial in range(6):
        img = _test_image(rng, 40 + 8 * trial, 90 - 5 * trial)
        deg = [
            np.clip(img + rng.normal(0, 5 + 10 * trial, img.shape), 0, 255).astype(np.uint8),
            cv2.GaussianBlur(img, (0, 0), 0.5 + trial),
            (img * 0.6).astype(np.uint8),
        ][trial % 3]
        a, b = luma(deg), luma(img)
        ref = skm.structural_similarity(
            a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
        )
        assert abs(ssim(a, b) - ref) < 1e-3, (trial, ssim(a, b), ref)
        assert ssim(a, b) < 0.999


def test_ssim_identity_and_errors() -> None:
    img = _test_image(np.random.default_rng(1))
    assert fidelity(img, img) == pytest.approx(1.0, abs=1e-9)
    assert ssim(luma(img), luma(img)) == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(ValueError):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)))
    with pytest.raises(ValueError):
        luma(img, "hsv")


def test_luma_bt601_and_dtypes() -> None:
    px = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    assert np.allclose(luma(px)[0], [0.299 * 255, 0.587 * 255, 0.114 * 255])
    assert np.allclose(luma(px, "bgr")[0], [0.114 * 255, 0.587 * 255, 0.299 * 255])
    assert np.allclose(luma(px.astype(np.float32) / 255), luma(px), atol=1e-4)
    assert np.allclose(luma(px.astype(np.uint16) * 257), luma(px))


def test_fidelity_resizes_smaller_input_and_enters_score() -> None:
    rng = np.random.default_rng(3)
    clean = _test_image(rng, 96, 128)
    small = cv2.resize(clean, (32, 24), interpolation=cv2.INTER_AREA)
    up = np.clip(cv2.resize(luma(small), (128, 96), interpolation=cv2.INTER_CUBIC), 0, 255)
    fid = fidelity(clean, small)
    assert fid == pytest.approx(ssim(up, luma(clean)))
    assert 0.0 < fid < 0.95
    rec = DegradationRecord("sr", scale=4)
    rec.add(Step("down", {}, "lowres", "downsample", 3.0))
    s = summarize(rec, clean, small)
    assert s.fidelity == pytest.approx(fid)
    assert s.score == round(0.75 * (5 - 0.8 * 3.0) + 0.25 * fidelity_score(fid), 2)


# ------------------------------------------------------------------------------- round trips


def test_analysis_round_trip() -> None:
    rng = np.random.default_rng(2024)
    for i in range(N_SAMPLES):
        s = random_summary(rng)
        task = RESTORE_TASKS[i % len(RESTORE_TASKS)]
        exp = random_summary(rng) if rng.random() < 0.3 else None
        text = analysis_text(s, np.random.default_rng(i), task=task, expected=exp)
        assert text.count("\n") == 3, text
        p = parse_analysis(text)
        ctx = (i, text)
        assert p.task == task, ctx
        assert p.level == s.level and abs(p.score - s.score) < 0.005, ctx
        assert p.degradations == degr_dict(s), ctx
        assert p.kinds == kind_dict(s), ctx
        assert p.plan == plan_categories(s, task), ctx
        assert p.plan == [c for c in PLAN_ORDER if c in p.plan], ctx
        want = exp if exp is not None else expected_summary(s, task)
        assert p.expected_level == want.level and abs(p.expected_score - want.score) < 0.005, ctx
        assert p.scale == (s.scale if "lowres" in p.plan else 1), ctx


def test_auto_plan_covers_every_degradation_and_upscale() -> None:
    rng = np.random.default_rng(5)
    for _ in range(500):
        s = random_summary(rng)
        plan = plan_categories(s)
        assert set(plan) - {"lowres"} == set(s.categories()) - {"lowres"}
        assert ("lowres" in plan) == (s.scale > 1 or "lowres" in s.categories())
        if "lowres" in plan:
            assert plan[-1] == "lowres"
    clean = summarize(DegradationRecord("clean"))
    p = parse_analysis(analysis_text(clean, np.random.default_rng(0)))
    assert p.plan == [] and p.degradations == {} and p.level == "excellent"


def test_description_round_trip() -> None:
    rng = np.random.default_rng(11)
    for i in range(N_SAMPLES):
        s = random_summary(rng)
        text = description_text(s, np.random.default_rng(i))
        p = parse_description(text)
        assert (p.level, p.degradations, p.kinds) == (s.level, degr_dict(s), kind_dict(s)), text
        assert abs(p.score - s.score) < 0.005, text


def test_comparison_round_trip() -> None:
    rng = np.random.default_rng(12)
    ties = 0
    for i in range(N_SAMPLES):
        a = random_summary(rng)
        b = a if rng.random() < 0.1 else random_summary(rng)
        text = comparison_text(a, b, np.random.default_rng(i))
        p = parse_comparison(text)
        d = a.score - b.score
        want = "tie" if abs(d) < TIE_MARGIN else ("first" if d > 0 else "second")
        ties += want == "tie"
        assert p.preferred == want, text
        assert abs(p.first_score - a.score) < 0.005 and abs(p.second_score - b.score) < 0.005, text
        assert p.first == degr_dict(a) and p.second == degr_dict(b), text
        assert p.first_kinds == kind_dict(a) and p.second_kinds == kind_dict(b), text
    assert ties > 0


def test_every_instruction_phrasing_parses() -> None:
    for task in TASKS:
        for scale in (1, 2, 3, 4):
            pool = T.SR_SAME_SIZE_INSTRUCTIONS if (task == "sr" and scale == 1) else T.INSTRUCTIONS[task]
            assert len(pool) >= 5
            for phr in pool:
                text = phr.format(scale=scale)
                assert parse_instruction(text) == task, text
                if task == "sr" and scale > 1:
                    assert parse_scale(text) == scale, text
    for task in RESTORE_TASKS:
        for phr in T.INTENTS[task] + (T.SR_SAME_SIZE_INTENTS if task == "sr" else ()):
            assert parse_instruction(phr.format(scale=4)) == task, phr
    seen = {instruction(t, np.random.default_rng(s), scale=2) for t in TASKS for s in range(20)}
    assert all(parse_instruction(x) in TASKS for x in seen)


def test_every_plan_action_phrasing_parses() -> None:
    for cat, pool in T.ACTIONS.items():
        for kind in KINDS[cat]:
            for phr in pool:
                act = phr.format(noun=noun(cat, kind), scale=3)
                plan, scale = parse_plan(f"1. {act}.")
                assert plan == [cat], act
                assert scale == (3 if cat == "lowres" else 1), act
    for phr in T.LOWRES_SAME_SIZE_ACTIONS:
        assert parse_plan(f"1. {phr}.") == (["lowres"], 1), phr
    for phr in T.NO_ACTIONS:
        assert parse_plan(f"1. {phr}.") == ([], 1), phr


# -------------------------------------------------------------------------------- determinism


def test_same_seed_same_text_and_seeds_vary() -> None:
    s = summary_from_severities(
        {"rain": 1.2, "blur": 3.3, "noise": 4.6}, {"blur": "motion", "noise": "sensor"}, 4
    )
    other = summary_from_severities({"jpeg": 2.0})
    makers = {
        "analysis": lambda g: analysis_text(s, g),
        "description": lambda g: description_text(s, g),
        "comparison": lambda g: comparison_text(s, other, g),
        **{f"instruction-{t}": (lambda g, t=t: instruction(t, g)) for t in TASKS},
    }
    for name, make in makers.items():
        assert make(np.random.default_rng(123)) == make(np.random.default_rng(123)), name
        distinct = {make(np.random.default_rng(seed)) for seed in range(40)}
        assert len(distinct) >= 5, (name, len(distinct))


def test_analysis_format() -> None:
    s = summary_from_severities({"haze": 2.0, "noise": 3.0}, {"noise": "gaussian"}, 2)
    text = analysis_text(s, np.random.default_rng(0))
    lines = text.split("\n")
    assert [ln.split(":")[0] + ":" for ln in lines] == list(T.HEADERS)
    assert f"{s.score:.2f}/5" in lines[1] and s.level in lines[1]
    assert "mild haze" in lines[1] and "moderate Gaussian noise" in lines[1]
    assert re.search(r"1\. .*haz.*; 2\. .*nois.*; 3\. .*2", lines[2], re.IGNORECASE), lines[2]
    assert "excellent" in lines[3] and "5.00/5" in lines[3]


# ----------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "text",
    [
        "Quality analysis: good (3.50/5).\nEnhancement plan: 1. denoise.\nExpected result: excellent 5.00/5.",
        "User intent: Denoise.\nQuality analysis: 3.50/5.\nEnhancement plan: 1. denoise.\n"
        "Expected result: excellent 5.00/5.",
        "User intent: Denoise.\nQuality analysis: good.\nEnhancement plan: 1. denoise.\nExpected result: excellent 5.00/5.",
        "User intent: Denoise.\nQuality analysis: good or fair, 3.50/5.\nEnhancement plan: 1. denoise.\n"
        "Expected result: excellent 5.00/5.",
        "User intent: Denoise.\nQuality analysis: good, 3.50/5.\nEnhancement plan: denoise.\nExpected result: excellent 5.00/5.",
        "User intent: Denoise.\nQuality analysis: good, 3.50/5.\nEnhancement plan: 1. paint it blue.\n"
        "Expected result: excellent 5.00/5.",
        "User intent: Hello there.\nQuality analysis: good, 3.50/5.\nEnhancement plan: 1. denoise.\n"
        "Expected result: excellent 5.00/5.",
        "User intent: Denoise.\nQuality analysis: good, 7.50/5.\nEnhancement plan: 1. denoise.\n"
        "Expected result: excellent 5.00/5.",
    ],
)
def test_parse_analysis_errors(text: str) -> None:
    with pytest.raises(ValueError):
        parse_analysis(text)


def test_other_parse_errors() -> None:
    with pytest.raises(ValueError):
        parse_description("A nice picture.")
    with pytest.raises(ValueError):
        parse_comparison("The first image is better, it shows slight noise.")
    with pytest.raises(ValueError):
        parse_comparison("Hmm (3.00/5 vs 2.00/5): it shows slight noise, while the second is clean.")
    with pytest.raises(ValueError):
        parse_comparison("The first image is better (3.00/5 vs 2.00/5): it shows slight noise.")
    with pytest.raises(ValueError):
        parse_instruction("Hello there.")
    with pytest.raises(ValueError):
        analysis_text(summary_from_severities({}), np.random.default_rng(0), task="assess")
    with pytest.raises(ValueError):
        instruction("paint", np.random.default_rng(0))
