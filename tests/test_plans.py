"""Say what you do: a restoration's written plan follows the named task and the scale, and its quality
analysis states the same assessment ``assess`` reports (issue 21, items 1-2)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from uare import prompts
from uare.quality.parse import parse_analysis, parse_description
from uare.tasks import RESTORE_TASKS, TASK_CATEGORY

ROOT = Path(__file__).resolve().parents[1]
FOUND = [{"type": "noise", "severity": "strong", "kind": "gaussian"}, {"type": "blur", "severity": "mild"}]


def _expected(task: str, scale: int) -> list[str]:
    cats = {TASK_CATEGORY[task]} if task != "auto" else {"noise", "blur"}
    if scale > 1:
        cats.add("lowres")
    order = ("noise", "blur", "lowres")
    return [c for c in order if c in cats] + sorted(cats - set(order))


@pytest.mark.parametrize("scale", [1, 2, 4])
@pytest.mark.parametrize("task", RESTORE_TASKS)
def test_the_plan_is_the_named_tasks_step_and_upscales_only_when_scaling(task, scale):
    text = prompts.analysis_from_assessment(task, "poor", 2.0, FOUND, scale)
    parsed = parse_analysis(text + " The output should be good quality, around 4.00/5.")
    assert parsed.level == "poor" and parsed.score == 2.0
    assert parsed.degradations == {"noise": "strong", "blur": "mild"}  # stated whatever the task
    plan = text.split("Enhancement plan:")[1]
    if task == "sr" and scale == 1:  # super-resolution at the same size: a same-size step
        assert parsed.plan == ["lowres"] and "upscale" not in plan
    else:
        assert set(parsed.plan) == set(_expected(task, scale)), (task, scale, plan)
    assert parsed.scale == scale
    assert ("upscale" in plan) == (scale > 1)


def test_doubted_diagnoses_are_stated_but_not_planned():
    degr = [{"type": "lowlight", "severity": "moderate"}, {"type": "noise", "severity": "slight"}]
    text = prompts.analysis_from_assessment("auto", "fair", 2.9, degr, 1, untreated={"lowlight"})
    parsed = parse_analysis(text + " The output should be good quality, around 4.00/5.")
    assert set(parsed.degradations) == {"lowlight", "noise"} and parsed.plan == ["noise"]
    clean = prompts.analysis_from_assessment("auto", "fair", 2.9, [], 1)
    assert "no visible degradation" in clean and "1. keep the image unchanged." in clean


@pytest.fixture(scope="module")
def tiny():
    from uare.infer import UARE

    return UARE.from_pretrained()


def _crop(rng_seed: int = 0) -> np.ndarray:
    from uare.data.images import load_rgb

    img = load_rgb(ROOT / "examples" / "coffee.png")
    return np.ascontiguousarray(img[100:228, 200:328])


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_the_shipped_model_writes_the_named_tasks_plan(tiny, scale):
    img = _crop()
    small = img[::scale, ::scale].copy() if scale > 1 else img
    for task in RESTORE_TASKS:
        job = tiny.plan_restoration(small, task=task, scale=scale, seed=0, force=True)
        parsed = parse_analysis(job.plan_text)
        plan = job.plan_text.split("Enhancement plan:")[1].split("Expected result:")[0]
        if task == "sr" and scale == 1:
            assert parsed.plan == ["lowres"], plan
        elif task == "auto":
            found = {d["type"] for d in job.assessment.degradations} - job.doubted
            assert set(parsed.plan) == found | ({"lowres"} if scale > 1 else set()), plan
        else:
            assert set(parsed.plan) == {TASK_CATEGORY[task]} | ({"lowres"} if scale > 1 else set()), (task, plan)
        assert ("upscale" in plan) == (scale > 1), (task, scale, plan)


def _synthetic() -> dict[str, np.ndarray]:
    from uare.degrade import degrade

    img = _crop()
    out = {}
    for t in ("noise", "blur", "jpeg", "lowlight", "haze", "motion_blur", "poisson_noise"):
        out[t], _ = degrade(img, "single", types=[t], severity=4, seed=1)
    return out


def test_a_blind_restoration_states_the_assessment_it_restores_from(tiny):
    from uare.data.images import load_rgb

    images = {"coffee_noisy": load_rgb(ROOT / "examples" / "coffee_noisy.png")[::2, ::2].copy(), **_synthetic()}
    for name, img in images.items():
        a = tiny.assess(img)
        job = tiny.plan_restoration(img, seed=0)
        if job.kept:
            continue
        stated = parse_analysis(job.plan_text)
        assert (stated.level, stated.score) == (a.level, round(a.score, 2)), name
        said = parse_description(a.text)
        assert stated.degradations == said.degradations, (name, job.plan_text, a.text)
        assert job.assessment.degradations == a.degradations


def test_measured_jpeg_joins_the_assessment_and_the_gate_lets_it_through(tiny):
    import cv2

    img = _crop()
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 15])
    jpg = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
    a = tiny.assess(jpg)
    entry = [d for d in a.degradations if d["type"] == "jpeg"]  # the model says "mild"; quality 15 is strong
    assert entry == [{"type": "jpeg", "severity": "strong", "kind": "jpeg", "source": "measured"}]
    assert a.text.startswith(f"The quality of this image is {a.level} ({a.score:.2f}/5). It shows ")
    assert "strong JPEG compression artifacts" in a.text and "mild JPEG" not in a.text
    assert parse_description(a.text).degradations["jpeg"] == "strong"
    job = tiny.plan_restoration(jpg, seed=0)
    assert not job.kept and "jpeg" in parse_analysis(job.plan_text).plan
    assert not any(d.get("source") for d in tiny.assess(img).degradations)  # the clean crop: nothing measured
    off = dataclasses.replace(tiny.defaults, jpeg_blockiness=0.0)
    saved, tiny.defaults = tiny.defaults, off
    try:
        assert not any(d.get("source") == "measured" for d in tiny.assess(jpg).degradations)
    finally:
        tiny.defaults = saved


def test_measured_underexposure_is_restored_where_the_model_rates_a_dark_image_good(tiny):
    """A crop of coffee.png darkened at low-light level 3: the shipped assessment rates it good and names only
    JPEG; its brightest pixels sit below half scale, so the measured underexposure joins the findings and the
    blind restoration brightens it (without the measurement it came back unchanged)."""
    from uare.data.images import load_rgb
    from uare.degrade import degrade
    from uare.metrics import psnr

    clean = np.ascontiguousarray(load_rgb(ROOT / "examples" / "coffee.png")[0:128, 300:428])
    dark, _ = degrade(clean, "single", types=["lowlight"], severity=3, seed=0)
    r = tiny.restore(dark, seed=0)
    assert {"type": "lowlight", "severity": "moderate", "kind": "exposure", "source": "measured"} \
        in r.assessment_before.degradations
    assert r.unchanged is None and "lowlight" in parse_analysis(r.analysis).plan
    assert psnr(r.image, clean) > psnr(dark, clean) + 5.0
    saved, tiny.defaults = tiny.defaults, dataclasses.replace(tiny.defaults, lowlight_headroom=0.0)
    try:
        off = tiny.restore(dark, seed=0)
    finally:
        tiny.defaults = saved
    assert off.assessment_before.level == "good" and off.unchanged and np.array_equal(off.image, dark)


def test_a_four_part_analysis_is_read_for_its_findings_not_refused_for_naming_two_levels():
    from uare.infer.pipeline import _analysis_degradations

    text = prompts.analysis_from_assessment("lowlight", "good", 3.46, [
        {"type": "lowlight", "severity": "moderate", "kind": "exposure"}, {"type": "noise", "severity": "slight"}], 1)
    text += " After restoration the image should reach excellent (5.00/5)."
    assert parse_analysis(text).level == "good" and parse_analysis(text).expected_level == "excellent"
    assert [x["type"] for x in _analysis_degradations(text)] == ["lowlight", "noise"]
    assert _analysis_degradations("The quality of this image is fair (2.93/5). It shows moderate haze.") == [
        {"type": "haze", "severity": "moderate", "kind": "atmospheric"}]
    assert _analysis_degradations("no analysis here") == []


def test_a_named_task_the_analysis_finds_is_generated_from_the_analysis(tiny):
    """--task lowlight on an image whose analysis finds the underexposure: the generation attends to the
    analysis (release 5 read every named analysis as finding nothing and generated from the instruction
    alone); a named task the analysis does not find still falls back to the instruction, with a note."""
    from uare.data.images import load_rgb
    from uare.degrade import degrade

    clean = np.ascontiguousarray(load_rgb(ROOT / "examples" / "coffee.png")[0:128, 300:428])
    dark, _ = degrade(clean, "single", types=["lowlight"], severity=3, seed=0)
    job = tiny.plan_restoration(dark, task="lowlight", seed=0)
    assert "lowlight" in parse_analysis(job.plan_text).degradations and job.condition, job.notes
    assert not any("does not find" in n for n in job.notes)
    hazeless = tiny.plan_restoration(clean, task="dehaze", seed=0)
    assert "haze" not in parse_analysis(hazeless.plan_text).degradations
    assert not hazeless.condition and any("does not find what --task dehaze treats" in n for n in hazeless.notes)


def test_sub_type_words_are_written_only_where_the_model_can_back_them(tiny, tmp_path):
    """The shipped kind_words come from benchmarks/kind_words.py's recorded measurement (Gaussian vs
    Poisson noise: 50 % right, chance; sensor noise: 100 %), and the texts follow them."""
    import importlib.util
    import json

    from uare.errors import UareError
    from uare.infer.pipeline import InferenceDefaults

    spec = importlib.util.spec_from_file_location("kind_words", ROOT / "benchmarks" / "kind_words.py")
    kw = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kw)
    recorded = json.loads((ROOT / "benchmarks" / "results" / "kind_words" / "kind_words.json").read_text())
    assert kw.reliable_kinds(recorded["counts"]) == tiny.defaults.kind_words == {"noise": ["sensor"], "blur": []}
    assert kw.reliable_kinds({"noise:poisson": {"poisson": 8, "gaussian": 1}}) == {"noise": [], "blur": []}  # n < 10
    assert kw.reliable_kinds({"noise:poisson": {"poisson": 17, "gaussian": 3}}) == {"noise": ["poisson"], "blur": []}
    from uare.data.images import load_rgb

    a = tiny.assess(load_rgb(ROOT / "examples" / "coffee_noisy.png"))
    assert "severe noise" in a.text and "Poisson" not in a.text and "Gaussian" not in a.text
    assert a.degradations == [{"type": "noise", "severity": "severe"}]
    job = tiny.plan_restoration(load_rgb(ROOT / "examples" / "coffee_noisy.png")[::2, ::2].copy(), seed=0)
    assert "Poisson" not in job.plan_text and "Gaussian" not in job.plan_text
    with pytest.raises(UareError, match="kind_words must map categories to lists of their kinds"):
        InferenceDefaults.from_dict({"kind_words": {"noise": ["shot"]}})
    with pytest.raises(UareError, match="kind_words must map"):
        InferenceDefaults.from_dict({"kind_words": {"noise": "sensor"}})


def test_an_enlargement_of_a_good_image_is_carried_out_and_only_it(tiny):
    """The do-no-harm gate keeps a good image as it is, but an asked-for x4 is still done (release 3
    returned bicubic: "unchanged")."""
    from uare.data.images import load_rgb

    small = load_rgb(ROOT / "examples" / "coffee_small.png")
    a = tiny.assess(small)
    assert a.level in ("good", "excellent")  # the premise: rated good, so blind scale 1 keeps it
    assert tiny.restore(small, seed=0).unchanged.startswith(f"rated {a.level}")
    r = tiny.restore(small, scale=4, seed=0)
    assert r.unchanged is None and r.image.shape[:2] == (small.shape[0] * 4, small.shape[1] * 4)
    assert parse_analysis(r.analysis).plan == ["lowres"] and "1. upscale ×4." in r.analysis
    assert "LQ-guided heads: lowres (fidelity 1)" in r.notes
    assert any("only the x4 upscale is carried out" in n for n in r.notes)
