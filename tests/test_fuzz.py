"""A seeded 200-case subset of the fuzz harness (benchmarks/fuzz.py): hostile image files through reading,
three degradation types each and assess (a random micro model) must be ok or a one-line refusal:
no crash, no hang. The full run (2,000+ cases, restore, the CLI under a memory limit) is a benchmark."""

from __future__ import annotations

import collections
import importlib.util
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("uare_fuzz_bench", REPO / "benchmarks" / "fuzz.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from uare.infer import UARE
    from uare.model.config import micro
    from uare.model.random_init import init_random
    from uare.model.tokenizer import train_quality_tokenizer

    tok = train_quality_tokenizer(vocab_size=512, seed=0)
    out = init_random(tmp_path_factory.mktemp("fz") / "m", micro(vocab_size=tok.vocab_size), seed=0, tokenizer=tok)
    (out / "inference.json").write_text('{"steps": 1, "assess_crop": 56, "assess_crops": 2}')
    return UARE.from_pretrained(out)


def test_generator_is_seeded_and_varied():
    from uare.io.fuzz import cases

    a, b = list(cases(40, seed=3)), list(cases(40, seed=3))
    assert a == b and a != list(cases(40, seed=4))
    kinds = {name.split("_")[1].split(".")[0] for name, _, _ in a}
    assert {"valid", "flip", "truncate"} <= kinds and len({fmt for _, fmt, _ in a}) >= 4


def test_200_hostile_files_give_no_crash_and_no_hang(harness, model, tmp_path):
    from uare.degrade import SINGLE_TYPES
    from uare.io.fuzz import cases

    rng = np.random.default_rng(0)
    counts, problems = collections.Counter(), []
    for name, fmt, data in cases(200, seed=11):
        p = tmp_path / name
        p.write_bytes(data)
        types = tuple(str(t) for t in rng.choice(SINGLE_TYPES, 3, replace=False))
        outcome, detail = harness.run_case(p, model, 10.0, types)
        counts[outcome] += 1
        if outcome not in ("ok", "refused"):
            problems.append((name, fmt, outcome, detail))
    assert not problems, problems[:5]
    assert counts["ok"] > 20 and counts["refused"] > 20  # both paths really ran


def test_damaged_png_filters_give_one_line_on_stderr(harness, tmp_path):
    """libpng prints "libpng error: bad adaptive filter value" from C; the user sees uare's line only, and
    the damaged rows are refused, not returned black (reading a PNG's EXIF used to half-load it first)."""
    import subprocess
    import sys

    import cv2

    from uare.io.fuzz import fixed_cases
    from uare.io.image import c_stderr_captured

    for name, _, data in fixed_cases():
        p = tmp_path / name
        p.write_bytes(data)
        assert harness.run_cli(p, 4096, 120.0)[0] == "refused", name
        r = subprocess.run([sys.executable, "-m", "uare", "assess", str(p), "--no-describe"], capture_output=True,
                           text=True, timeout=120)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"uare: error: {p}: corrupt"), r.stderr
    with c_stderr_captured() as said:  # what OpenCV's libpng prints goes to the capture, not the terminal
        assert cv2.imread(str(tmp_path / "fixed_png16_bad_filter.png"), cv2.IMREAD_UNCHANGED) is None
    assert "bad adaptive filter value" in said[0]
