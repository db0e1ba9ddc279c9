"""The published uare-tiny tables are rendered from one JSON (benchmarks/model_card.py, benchmarks/uare_tiny.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", REPO / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ut = _load("uare_tiny")
card = _load("model_card")

FAKE = {"parts": {
    "speed": {"limit": 2, "iqa_limit": 2, "result": {"assess": 0.125, "restore": 2.5, "threads": 2}},
    "clean": {"limit": 2, "iqa_limit": 1, "result": {
        "n": 4, "unchanged": 3, "median_psnr": float("inf"), "min_psnr": 31.234, "forced_median_psnr": 40.0,
        "forced_min_psnr": 30.5, "mean_color_shift": 0.1, "forced_mean_color_shift": 0.25,
        "seam_edge_ratio": 1.0, "tile_disagreement": 0.5}},
    "iqa": {"limit": 2, "iqa_limit": 1, "result": {
        "summary": {"synthetic": {"uare": {"n": 8, "srcc": 0.5, "plcc": 0.25, "plcc_logistic": 0.75, "krcc": 0.125}}},
        "per_type_srcc": {"synthetic": {"noise": {"niqe": 0.9, "uare": 1.0}}},
        "tasks": {"pairwise": {"accuracy": 0.75, "n": 4, "per_group": {"1 level(s) apart": 0.5}}}}},
}}

EXPECTED = """\
### Do no harm: the clean test images themselves

_`python benchmarks/uare_tiny.py --parts clean --limit 2`_

| clean test images | default (blind) | forced (gate off) |
|---|---|---|
| returned unchanged | 3/4 | - |
| PSNR vs input, median / min | inf / 31.23 | 40.00 / 30.50 |
| colour shift vs input (mean) | 0.10 | 0.25 |
| seam edge-gradient ratio (1 = none) | - | 1.000 |
| tile disagreement (8-bit levels) | - | 0.50 |

### IQA

_`python benchmarks/uare_tiny.py --parts iqa --limit 2 --iqa-limit 1`_

#### synthetic

| scorer | n | SRCC | PLCC | PLCC (logistic) | KRCC |
|---|---|---|---|---|---|
| uare | 8 | 0.5000 | 0.2500 | 0.7500 | 0.1250 |

#### synthetic: SRCC within each degradation type

| type | -NIQE | uare |
|---|---|---|
| noise | 0.9000 | 1.0000 |

| check | accuracy | n |
|---|---|---|
| pairwise | 0.750 | 4 |

pairwise by group: 1 level(s) apart 0.50

### Speed

_`python benchmarks/uare_tiny.py --parts speed --limit 2`_

assess 0.12 | restore 2.50 | threads 2
"""


def test_render_a_small_fake_release() -> None:
    """Parts in the documents' order (not the JSON's), each: heading, the command that measured it, tables."""
    assert ut.render_docs(json.loads(json.dumps(FAKE))) == EXPECTED


def test_marker_replacement() -> None:
    text = "intro\n<!-- generated:k -->\nold\ntable\n<!-- /generated:k -->\noutro\n"
    new = ut.replace_generated(text, "k", "\nnew body\n\n")
    assert new == "intro\n<!-- generated:k -->\nnew body\n<!-- /generated:k -->\noutro\n"
    assert ut.replace_generated(new, "k", "new body") == new  # idempotent
    assert ut.replace_generated(text, "other", "x") is None  # no such block
    assert ut.replace_generated("<!-- /generated:k -->\n<!-- generated:k -->\n", "k", "x") is None  # misordered
    assert ut.replace_generated(text + text, "k", "x") is None  # two blocks: which one?


def test_update_and_check(tmp_path: Path) -> None:
    data = tmp_path / "release_x.json"
    data.write_text(json.dumps(FAKE))
    doc = tmp_path / "doc.md"
    doc.write_text("# Doc\n\n<!-- generated:release_x -->\nhand-typed numbers\n<!-- /generated:release_x -->\n\nmore\n")
    assert ut.update_docs(data, (doc,), check=True) == [doc]  # stale, and left alone
    assert "hand-typed numbers" in doc.read_text()
    assert ut.update_docs(data, (doc,)) == [doc]  # rewritten
    assert doc.read_text() == f"# Doc\n\n<!-- generated:release_x -->\n{EXPECTED}<!-- /generated:release_x -->\n\nmore\n"
    assert ut.update_docs(data, (doc,), check=True) == []
    doc.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="no <!-- generated:release_x -->"):
        ut.update_docs(data, (doc,), check=True)


def test_record_part_keeps_the_other_parts(tmp_path: Path) -> None:
    data = tmp_path / "r.json"
    ut.record_part(data, "speed", 6, 4, {"assess": 0.1})
    ut.record_part(data, "restore", 6, 4, {"rows": []})
    ut.record_part(data, "speed", 6, 4, {"assess": 0.2})
    parts = json.loads(data.read_text())["parts"]
    assert list(parts) == ["restore", "speed"] and parts["speed"]["result"] == {"assess": 0.2}


def test_the_documents_match_the_published_json(capsys: pytest.CaptureFixture[str]) -> None:
    """RESULTS.md and the model card hold exactly what benchmarks/results/uare_tiny_release2.json renders."""
    assert card.main(["--check"]) == 0, capsys.readouterr().err


def test_release5_table_is_the_scripts_output():
    """The model card's and RESULTS.md's release-5 comparison is what benchmarks/compare_releases.py prints
    from the JSON in benchmarks/results/release5 (no hand-typed number)."""
    cmp = _load("compare_releases")
    tab = cmp.table(REPO / "benchmarks" / "results" / "release5", "release4", "release5")
    rows = tab.splitlines()
    assert len(rows) == 2 + 20 + 1 and "| blur_s2 | CBSD68 |" in tab and rows[-1].startswith("| saturated colour")
    for doc in ("uare/weights/uare-tiny/MODEL_CARD.md", "benchmarks/RESULTS.md"):
        assert tab in (REPO / doc).read_text(), doc


def test_release6_tables_are_the_scripts_output():
    """Release 6's comparison (compare_releases), its headroom table (lowlight_headroom.py) and its control
    rows (control.py JSON) in the model card / RESULTS.md are the scripts' outputs."""
    cmp = _load("compare_releases")
    res = REPO / "benchmarks" / "results"
    tab = cmp.table(res / "release6", "release5", "release6")
    assert len(tab.splitlines()) == 2 + 20 + 1 and "| lowlight | CBSD68 |" in tab
    for doc in ("uare/weights/uare-tiny/MODEL_CARD.md", "benchmarks/RESULTS.md"):
        assert tab in (REPO / doc).read_text(), doc
    results = (REPO / "benchmarks" / "RESULTS.md").read_text()
    assert (res / "lowlight_headroom" / "headroom.md").read_text().rstrip() in results
    for name in ("blur_s2_setting_draws", "blur_s2_head_draws", "sr_x4_setting_draws", "sr_x4_head_draws"):
        d = json.loads((res / "release6" / "control_blind" / f"{name}.json").read_text())
        (setting, v), = d["settings"].items()
        assert f"| {v['steps']} | {v['input']:.2f} | {v['control']:.2f} | {v['gain_db']:+.2f} |" in results, name


def test_compare_releases_reads_the_bench_json(tmp_path):
    cmp = _load("compare_releases")

    def bench(name, x):
        s = {"CBSD68": {"noise_s25": {"input": {"psnr": 20.0}, "uare": {"psnr": x}}}}
        (tmp_path / f"other_settings_{name}.json").write_text(json.dumps({"summary": s}))

    bench("a", 25.0)
    bench("b", 25.5)
    assert cmp.table(tmp_path, "a", "b").splitlines()[-1] == "| noise_s25 | CBSD68 | 20.00 | 25.00 | 25.50 | +0.50 |"
    with pytest.raises(SystemExit, match=r"no \*_settings_c.json"):
        cmp.table(tmp_path, "c", "b")


def test_release7_tables_are_the_scripts_output():
    """Release 7's comparisons (compare_releases: release 6 -> 7, and the noise head held back), the haze-contrast
    and JPEG-size tables and the colour / clean parts in the model card / RESULTS.md are the scripts' outputs."""
    cmp = _load("compare_releases")
    res = REPO / "benchmarks" / "results"
    tab = cmp.table(res / "release7", "release6", "release7")
    rows = tab.splitlines()
    assert len(rows) == 2 + 20 + 1 and "| realesrgan_x4 | CBSD68 |" in tab and rows[-1].startswith("| saturated colour")
    held = cmp.table(res / "release7", "release7", "noisehead")
    results = (REPO / "benchmarks" / "RESULTS.md").read_text()
    for doc in ("uare/weights/uare-tiny/MODEL_CARD.md", "benchmarks/RESULTS.md"):
        text = (REPO / doc).read_text()
        assert tab in text and held in text, doc
    for table in ("haze_contrast/contrast.md", "jpeg_blockiness_size/size.md", "release7/colour_release7.md",
                  "release7/clean_release7.md"):
        assert (res / table).read_text().strip() in results, table


def test_release8_tables_are_the_scripts_output():
    """Release 8's comparison (compare_releases: release 7 -> 8) and its colour / clean parts are the scripts'
    outputs, in the model card and RESULTS.md; the shipped noise head is the one release 8 measured."""
    cmp = _load("compare_releases")
    res = REPO / "benchmarks" / "results" / "release8"
    tab = cmp.table(res, "release7", "release8")
    rows = tab.splitlines()
    assert len(rows) == 2 + 20 + 1 and "| noise_s25 | CBSD68 | 20.64 | 28.81 | 29.69 | +0.88 |" in tab
    for doc in ("uare/weights/uare-tiny/MODEL_CARD.md", "benchmarks/RESULTS.md"):
        assert tab in (REPO / doc).read_text(), doc
    results = (REPO / "benchmarks" / "RESULTS.md").read_text()
    for table in ("colour_release8.md", "clean_release8.md"):
        assert (res / table).read_text().strip() in results, table
    assert json.loads((res / "clean_release8.json").read_text())["clean"]["unchanged"] == 12


def test_release9_tables_are_the_scripts_output():
    """Release 9's comparison (release 8 -> 9), the haze-prior table behind ``HAZE_PRIOR_RULE`` and the colour /
    clean parts are the scripts' outputs, in the model card and RESULTS.md; the shipped rule is the one measured."""
    cmp = _load("compare_releases")
    res = REPO / "benchmarks" / "results"
    tab = cmp.table(res / "release9", "release8", "release9")
    assert "| haze | Kodak24 | 12.92 | 19.41 | 23.23 | +3.82 |" in tab
    prior = (res / "haze_prior" / "prior.md").read_text().strip()
    for doc in ("uare/weights/uare-tiny/MODEL_CARD.md", "benchmarks/RESULTS.md"):
        text = (REPO / doc).read_text()
        assert tab in text and prior in text, doc
    results = (REPO / "benchmarks" / "RESULTS.md").read_text()
    for table in ("release9/colour_release9.md", "release9/clean_release9.md"):
        assert (res / table).read_text().strip() in results, table
    measured = json.loads((res / "haze_prior" / "prior.json").read_text())
    assert measured["max_weight"] == json.loads((REPO / "uare/weights/uare-tiny/inference.json").read_text())["haze_prior"]


def test_the_statistics_scripts_share_one_group_table():
    """benchmarks/_statistics.group_table (haze_contrast.py, lowlight_headroom.py): counts at or above / below each
    line, with their share, and the headroom table the model card quotes is in that format."""
    st = _load("_statistics")
    res, md = st.group_table({"a": [0.1, 0.2, 0.3, 0.4]}, [0.2, 0.35], above=True)
    assert res["a"]["at_or_above"] == {"0.2": 3, "0.35": 1} and res["a"]["median"] == 0.25
    assert md.splitlines()[0] == "| group | n | min | median | max | ≥ 0.2 | ≥ 0.35 |"
    assert md.splitlines()[2] == "| a | 4 | 0.100 | 0.250 | 0.400 | 3 (75.0 %) | 1 (25.0 %) |"
    res, md = st.group_table({"a": [0.1, 0.2, 0.3, 0.4]}, [0.2], above=False)
    assert res["a"]["below"] == {"0.2": 1} and "| below 0.2 |" in md and "1 (25.0 %)" in md
    headroom = (REPO / "benchmarks" / "results" / "lowlight_headroom" / "headroom.md").read_text()
    assert headroom.startswith("| group | n | min | median | max | below 0.5 | below 0.52 | below 0.55 |")


def test_release10_table_is_the_scripts_output():
    """Release 10's comparison (release 9 -> 10 on the settings with a scale) is compare_releases' output, in the
    model card and RESULTS.md, and the shipped inference.json back-projects as measured."""
    cmp = _load("compare_releases")
    tab = cmp.table(REPO / "benchmarks" / "results" / "release10", "release9", "release10")
    assert "| sr_x4 | CBSD68 | 26.98 | 27.69 | 27.76 | +0.08 |" in tab and "| realesrgan_x4 | Kodak24 |" in tab
    for doc in ("uare/weights/uare-tiny/MODEL_CARD.md", "benchmarks/RESULTS.md"):
        assert tab in (REPO / doc).read_text(), doc
    assert json.loads((REPO / "uare/weights/uare-tiny/inference.json").read_text())["back_projection"] == 5


def test_release11_tables_are_the_scripts_output():
    """Release 11's comparison (release 10 -> 11 on the settings the JPEG head reaches) and its colour part are the
    scripts' outputs, in the model card and RESULTS.md."""
    cmp = _load("compare_releases")
    res = REPO / "benchmarks" / "results" / "release11"
    tab = cmp.table(res, "release10", "release11")
    assert "| jpeg_q20 | Kodak24 | 28.87 | 29.82 | 29.86 | +0.05 |" in tab and tab.splitlines()[-1].startswith(
        "| saturated colour")
    for doc in ("uare/weights/uare-tiny/MODEL_CARD.md", "benchmarks/RESULTS.md"):
        assert tab in (REPO / doc).read_text(), doc
    assert (res / "colour_release11.md").read_text().strip() in (REPO / "benchmarks" / "RESULTS.md").read_text()


def test_release12_tables_are_the_scripts_output():
    """Release 12's comparison (release 11 -> 12 on all ten settings), its colour and clean parts are the scripts'
    outputs, in the model card and RESULTS.md, and the shipped folder runs the self-ensemble it was measured with."""
    cmp = _load("compare_releases")
    res = REPO / "benchmarks" / "results" / "release12"
    tab = cmp.table(res, "release11", "release12")
    assert "| noise_s25 | CBSD68 | 20.64 | 29.69 | 29.86 | +0.17 |" in tab
    assert "| sr_x4 | Kodak24 | 27.58 | 28.31 | 28.41 | +0.10 |" in tab
    assert len(tab.splitlines()) == 2 + 20 + 1  # header, every setting in both folders, the colour line
    assert all(not line.split("|")[6].strip().startswith("-") for line in tab.splitlines()[2:22])  # none worse
    for doc in ("uare/weights/uare-tiny/MODEL_CARD.md", "benchmarks/RESULTS.md"):
        assert tab in (REPO / doc).read_text(), doc
    results = (REPO / "benchmarks" / "RESULTS.md").read_text()
    for part in ("colour_release12.md", "clean_release12.md"):
        assert (res / part).read_text().strip() in results, part
    shipped = json.loads((REPO / "uare" / "weights" / "uare-tiny" / "inference.json").read_text())
    assert shipped["self_ensemble"] == 2


def test_release13_tables_are_the_scripts_output():
    """Release 13's comparison (release 12 -> 13 on the settings the JPEG head reaches) and its colour and clean parts
    are the scripts' outputs, in the model card and RESULTS.md."""
    cmp = _load("compare_releases")
    res = REPO / "benchmarks" / "results" / "release13"
    tab = cmp.table(res, "release12", "release13")
    assert "| jpeg_q20 | Kodak24 | 28.87 | 29.92 | 29.94 | +0.01 |" in tab
    assert all(not line.split("|")[6].strip().startswith("-") for line in tab.splitlines()[2:-1])  # none worse
    for doc in ("uare/weights/uare-tiny/MODEL_CARD.md", "benchmarks/RESULTS.md"):
        assert tab in (REPO / doc).read_text(), doc
    results = (REPO / "benchmarks" / "RESULTS.md").read_text()
    for part in ("colour_release13.md", "clean_release13.md"):
        assert (res / part).read_text().strip() in results, part


def _release_rows(n: int, parts: tuple[str, ...], colour_rows: int) -> tuple[str, list[str]]:
    """Release ``n``'s comparison with release ``n - 1`` (compare_releases.py), checked to stand in the model card
    and RESULTS.md with its ``parts`` (Markdown files of its results folder) in RESULTS.md: (the table, its
    setting rows, without the ``colour_rows`` colour-set rows at its end)."""
    cmp = _load("compare_releases")
    res = REPO / "benchmarks" / "results" / f"release{n}"
    tab = cmp.table(res, f"release{n - 1}", f"release{n}")
    for doc in ("uare/weights/uare-tiny/MODEL_CARD.md", "benchmarks/RESULTS.md"):
        assert tab in (REPO / doc).read_text(), doc
    results = (REPO / "benchmarks" / "RESULTS.md").read_text()
    for part in parts:
        assert (res / part).read_text().strip() in results, part
    return tab, tab.splitlines()[2:len(tab.splitlines()) - colour_rows]


def _none_worse(rows: list[str]) -> bool:
    return all(not line.split("|")[6].strip().startswith("-") for line in rows)


def test_release14_tables_are_the_scripts_output():
    """Release 14's comparison (release 13 -> 14 on all ten settings) and its colour and clean parts are the scripts'
    outputs, in the model card and RESULTS.md; no setting is worse."""
    tab, rows = _release_rows(14, ("colour_release14.md", "clean_release14.md"), 1)
    assert "| blur+jpeg | CBSD68 | 24.97 | 25.61 | 25.84 | +0.22 |" in tab
    assert len(rows) == 20 and _none_worse(rows)


def test_release15_tables_are_the_scripts_output():
    """Release 15's comparison (release 14 -> 15 on the x4 settings, the blind and the named colour sets) and its
    named-colour and clean parts are the scripts' outputs, in the model card and RESULTS.md; nothing is worse, and the
    shipped bank holds the named x4 head."""
    from uare.model.refiner import RefinerBank, load_refiner

    tab, rows = _release_rows(15, ("colour_named_release15.md", "clean_release15.md"), 2)
    assert "| sr_x4 | Kodak24 | 27.58 | 28.41 | 28.48 | +0.07 |" in tab
    assert "| saturated colour, tasks named (32 crops x 10 settings)" in tab
    assert len(rows) == 4 and _none_worse(rows)
    bank = load_refiner(REPO / "uare" / "weights" / "uare-tiny")
    assert isinstance(bank, RefinerBank) and list(bank.heads) == ["jpeg", "noise", "blur", "lowres", "bicubic_x4"]


def test_release16_tables_are_the_scripts_output():
    """Release 16's comparison (release 15 -> 16 on the x4 settings and the named colour set) and its named-colour
    and clean parts are the scripts' outputs, in the model card and RESULTS.md; nothing is worse."""
    tab, rows = _release_rows(16, ("colour_named_release16.md", "clean_release16.md"), 1)
    assert "| sr_x4 | Kodak24 | 27.58 | 28.48 | 28.51 | +0.03 |" in tab
    assert len(rows) == 4 and _none_worse(rows)
