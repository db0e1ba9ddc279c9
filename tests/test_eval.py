"""The evaluation harness: folder metrics, IQA correlations, the fixed bench sets and the CLI."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from uare.cli import main
from uare.errors import UareError
from uare.eval.bench_iqa import IQAItem, run_iqa_bench, synthetic_items, tid2013_items
from uare.eval.bench_restore import build_set, default_image_dirs, run_bench, select_restorers
from uare.eval.iqa import correlations, match, read_mos, read_scores
from uare.eval.metricset import build_metrics, parse_metric_names
from uare.eval.settings import SETTINGS, get_settings

pytest.importorskip("uare.metrics")


def _save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _pairs(tmp: Path, n: int = 3, offset: int = 5, size: tuple[int, int] = (40, 48)) -> tuple[Path, Path]:
    """n GT images in [10, 240] and predictions = GT + offset (no clipping): PSNR = 20 log10(255 / offset)."""
    rng = np.random.default_rng(0)
    for i in range(n):
        gt = rng.integers(10, 241, (*size, 3), dtype=np.uint8)
        _save(tmp / "gt" / f"im{i}.png", gt)
        _save(tmp / "pred" / f"im{i}.png", (gt.astype(np.int16) + offset).astype(np.uint8))
    return tmp / "pred", tmp / "gt"


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


# ------------------------------------------------------------------ eval restore


def test_eval_restore_matches_hand_computed_psnr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred, gt = _pairs(tmp_path, offset=5)
    expected = 20 * math.log10(255 / 5)  # MSE = 25 exactly
    out = tmp_path / "report"
    code, stdout, err = _run(["eval", "restore", "--pred", str(pred), "--gt", str(gt), "--protocol", "rgb",
                              "--metrics", "psnr,ssim", "--out", str(out)], capsys)
    assert code == 0, err
    rows = _csv(out / "per_image.csv")
    assert [r["image"] for r in rows] == ["im0", "im1", "im2"]
    assert all(float(r["psnr"]) == pytest.approx(expected, abs=1e-4) for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 3 and summary["protocol"] == "rgb"
    assert summary["mean"]["psnr"] == pytest.approx(expected, abs=1e-4)
    assert 0.5 < summary["mean"]["ssim"] < 1.0
    assert "34.15" in (out / "summary.md").read_text() and "34.15" in stdout


def test_eval_restore_crop_border(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred, gt = _pairs(tmp_path, n=1, offset=5)
    p = np.asarray(Image.open(pred / "im0.png")).copy()
    p[:4] = 0  # damage only the top border: cropping 4 pixels restores the exact +5 offset
    _save(pred / "im0.png", p)
    code, stdout, _ = _run(["eval", "restore", "--pred", str(pred), "--gt", str(gt), "--protocol", "rgb",
                            "--crop-border", "4", "--metrics", "psnr"], capsys)
    assert code == 0
    assert json.loads(stdout[stdout.index("{"):])["mean"]["psnr"] == pytest.approx(20 * math.log10(51), abs=1e-4)


def test_eval_restore_missing_gt_lists_stems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred, gt = _pairs(tmp_path)
    (gt / "im1.png").unlink()
    _save(gt / "extra.png", np.zeros((40, 48, 3), np.uint8))
    code, _, err = _run(["eval", "restore", "--pred", str(pred), "--gt", str(gt)], capsys)
    assert code == 2
    assert "im1" in err and "extra" in err and "without a ground truth" in err and "without a prediction" in err


def test_eval_restore_size_mismatch_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred, gt = _pairs(tmp_path)
    _save(pred / "im2.png", np.zeros((30, 48, 3), np.uint8))
    code, _, err = _run(["eval", "restore", "--pred", str(pred), "--gt", str(gt)], capsys)
    assert code == 2 and "size mismatch" in err and "im2 (pred 30x48, gt 40x48)" in err


def test_eval_restore_modcrop_tolerance_only_with_scale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred, gt = _pairs(tmp_path, n=1, size=(42, 50))
    p = np.asarray(Image.open(pred / "im0.png"))[:40, :48]
    _save(pred / "im0.png", np.ascontiguousarray(p))
    code, _, err = _run(["eval", "restore", "--pred", str(pred), "--gt", str(gt), "--protocol", "rgb"], capsys)
    assert code == 2 and "size mismatch" in err
    code, stdout, err = _run(["eval", "restore", "--pred", str(pred), "--gt", str(gt), "--protocol", "rgb",
                              "--scale", "4", "--crop-border", "0", "--metrics", "psnr"], capsys)
    assert code == 0 and "cropped to 40x48" in err
    assert json.loads(stdout[stdout.index("{"):])["mean"]["psnr"] == pytest.approx(20 * math.log10(51), abs=1e-4)


@pytest.mark.parametrize("bad", [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_eval_restore_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: bytes) -> None:
    pred, gt = _pairs(tmp_path)
    (pred / "im0.png").write_bytes(bad)
    code, _, err = _run(["eval", "restore", "--pred", str(pred), "--gt", str(gt)], capsys)
    assert code == 2 and "unreadable" in err and "im0" in err


def test_eval_restore_duplicate_stems_and_bad_metric(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred, gt = _pairs(tmp_path)
    _save(pred / "im0.bmp", np.zeros((40, 48, 3), np.uint8))
    code, _, err = _run(["eval", "restore", "--pred", str(pred), "--gt", str(gt)], capsys)
    assert code == 2 and "share a stem" in err
    code, _, err = _run(["eval", "restore", "--pred", str(gt), "--gt", str(gt), "--metrics", "psnr,fid"], capsys)
    assert code == 2 and "unknown metric(s) fid" in err


def test_pyiqa_metrics_need_the_extra() -> None:
    try:
        import pyiqa  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pyiqa is installed")
    with pytest.raises(UareError, match=r"pip install 'uare\[pyiqa\]'.*non-commercial"):
        build_metrics(parse_metric_names("psnr,lpips,musiq"))


# ------------------------------------------------------------------ eval iqa


def test_correlations_logistic_and_ranks() -> None:
    x = np.linspace(0, 1, 30)
    mos = 1 + 4 / (1 + np.exp(-12 * (x - 0.5)))  # monotone but strongly non-linear
    c = correlations(x, mos)
    assert c["n"] == 30
    assert c["srcc"] == pytest.approx(1.0) and c["krcc"] == pytest.approx(1.0)
    assert c["plcc"] < 0.97 < c["plcc_logistic"]
    c_neg = correlations(-x, mos)  # a lower-is-better metric: negative ranks
    assert c_neg["srcc"] == pytest.approx(-1.0)
    assert math.isnan(correlations([1, 1, 1], [1, 2, 3])["srcc"])


def test_eval_iqa_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    mos = rng.uniform(1, 5, 20)
    pred = {f"img{i}.png": float(m + rng.normal(0, 0.3)) for i, m in enumerate(mos)}
    (tmp_path / "scores.json").write_text(json.dumps({"scores": pred}))
    with open(tmp_path / "koniq.csv", "w", newline="") as fh:  # KonIQ layout, JPEG names: matched by stem
        w = csv.writer(fh)
        w.writerow(["image_name", "c1", "MOS", "SD", "MOS_zscore"])
        for i, m in enumerate(mos):
            w.writerow([f"img{i}.jpg", 1, m, 0.5, 0.0])
    out = tmp_path / "r"
    code, stdout, err = _run(["eval", "iqa", "--pred", str(tmp_path / "scores.json"), "--mos",
                              str(tmp_path / "koniq.csv"), "--out", str(out)], capsys)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    from scipy import stats

    vals = np.array([pred[f"img{i}.png"] for i in range(20)])
    assert s["n"] == 20 and s["srcc"] == pytest.approx(stats.spearmanr(vals, mos)[0])
    assert s["plcc"] == pytest.approx(stats.pearsonr(vals, mos)[0])
    assert len(_csv(out / "per_image.csv")) == 20


def test_mos_layouts_and_errors(tmp_path: Path) -> None:
    (tmp_path / "kadid.csv").write_text("dist_img,ref_img,dmos,var\nI01_01_01.png,I01.png,4.57,0.496\n")
    assert read_mos(tmp_path / "kadid.csv") == {"I01_01_01.png": 4.57}
    (tmp_path / "spaq.csv").write_text("Image name,MOS,Brightness\n00001.jpg,42.5,50\n")
    assert read_mos(tmp_path / "spaq.csv") == {"00001.jpg": 42.5}
    (tmp_path / "bad.csv").write_text("who,what\na,1\n")
    with pytest.raises(UareError, match="cannot find the image name column"):
        read_mos(tmp_path / "bad.csv")
    with pytest.raises(UareError, match="1 MOS entry has no predicted score: b.png"):
        match({"a.png": 1.0}, {"a.png": 2.0, "b.png": 3.0})
    (tmp_path / "s.json").write_text(json.dumps([{"image": "a", "score": 2}, {"image": "b", "score": 3}]))
    assert read_scores(tmp_path / "s.json") == {"a": 2.0, "b": 3.0}
    (tmp_path / "t.json").write_text("[1, 2]")
    with pytest.raises(UareError, match="expected"):
        read_scores(tmp_path / "t.json")


def test_eval_iqa_missing_prediction_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "s.json").write_text(json.dumps({"a.png": 1.0}))
    (tmp_path / "m.csv").write_text("image,mos\na.png,1\nb.png,2\n")
    code, _, err = _run(["eval", "iqa", "--pred", str(tmp_path / "s.json"), "--mos", str(tmp_path / "m.csv")],
                        capsys)
    assert code == 2 and "b.png" in err


# ------------------------------------------------------------------ bench restore


@pytest.fixture
def tiny_images(tmp_path: Path) -> Path:
    """Two small clean photos (crops of skimage images), sizes not multiples of 4."""
    data = pytest.importorskip("skimage.data")
    d = tmp_path / "tiny"
    _save(d / "a.png", np.ascontiguousarray(data.astronaut()[100:198, 150:253]))
    _save(d / "b.png", np.ascontiguousarray(data.chelsea()[50:150, 100:210]))
    return d


def _hashes(cache: Path) -> dict[str, str]:
    return {str(p.relative_to(cache)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(cache.rglob("*.png"))}


def test_bench_sets_are_deterministic(tiny_images: Path, tmp_path: Path) -> None:
    for run in ("one", "two"):
        for bs in SETTINGS:
            build_set(tiny_images, bs, tmp_path / run, seed=0)
    h1, h2 = _hashes(tmp_path / "one"), _hashes(tmp_path / "two")
    assert len(h1) == 2 * len(SETTINGS) and h1 == h2
    man = json.loads((tmp_path / "one" / "tiny" / "sr_x4" / "manifest.json").read_text())
    assert man["images"]["a"]["sha256"] == h1[str(Path("tiny/sr_x4/a.png"))]
    # another base seed changes the random settings, not the deterministic ones
    for bs in get_settings("noise_s25,blur_s2"):
        build_set(tiny_images, bs, tmp_path / "seed1", seed=1)
    h3 = _hashes(tmp_path / "seed1")
    assert h3["tiny/noise_s25/a.png"] != h1["tiny/noise_s25/a.png"]
    assert h3["tiny/blur_s2/a.png"] == h1["tiny/blur_s2/a.png"]


def test_bench_cache_is_reused_and_repaired(tiny_images: Path, tmp_path: Path) -> None:
    bs = get_settings("noise_s25")[0]
    first = build_set(tiny_images, bs, tmp_path, seed=0)
    f = tmp_path / "tiny" / "noise_s25" / "a.png"
    mtime = f.stat().st_mtime_ns
    again = build_set(tiny_images, bs, tmp_path, seed=0)
    assert f.stat().st_mtime_ns == mtime  # read from the cache, not rebuilt
    assert all(np.array_equal(x.lq, y.lq) for x, y in zip(first, again, strict=True))
    _save(f, np.zeros_like(first[0].lq))  # a tampered cache file fails its hash and is rebuilt
    repaired = build_set(tiny_images, bs, tmp_path, seed=0)
    assert np.array_equal(repaired[0].lq, first[0].lq)
    assert first[0].gt.shape == first[0].lq.shape == (98, 103, 3)
    sr = build_set(tiny_images, get_settings("sr_x4")[0], None, seed=0)
    assert sr[0].lq.shape == (24, 25, 3) and sr[0].gt.shape == (96, 100, 3)


def test_bench_restore_cli(tiny_images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "res"
    code, stdout, err = _run(["bench", "restore", "--images", str(tiny_images), "--settings", "noise_s25,sr_x4",
                              "--baselines", "nlm,ibp", "--metrics", "psnr,ssim", "--out", str(out)], capsys)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())["summary"]["tiny"]
    assert set(s["noise_s25"]) == {"input", "nlm"} and set(s["sr_x4"]) == {"input", "ibp"}
    assert s["noise_s25"]["nlm"]["psnr"] > s["noise_s25"]["input"]["psnr"] + 2
    assert s["sr_x4"]["input"]["protocol"] == "basicsr" and s["noise_s25"]["input"]["protocol"] == "rgb"
    rows = _csv(out / "per_image.csv")
    assert len(rows) == 2 * 2 * 2
    assert "| noise_s25 | nlm |" in stdout and (out / "summary.md").is_file()


def test_bench_restore_unknown_names(tiny_images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["bench", "restore", "--images", str(tiny_images), "--settings", "fog"], capsys)
    assert code == 2 and "unknown setting(s) fog" in err
    code, _, err = _run(["bench", "restore", "--images", str(tiny_images), "--baselines", "bm3d"], capsys)
    assert code == 2 and "unknown baseline 'bm3d'" in err


def test_bench_runs_a_model_adapter(tiny_images: Path) -> None:
    """Any Restorer plugs in; a model that returns the ground truth scores infinite PSNR."""

    class Cheat:
        name, tasks = "uare", frozenset({"any"})

        def __call__(self, img: np.ndarray, setting) -> np.ndarray:  # noqa: ANN001
            from uare.baselines import bicubic_up

            return bicubic_up(img, setting.scale)

    chosen, _ = select_restorers(["none"], Cheat())
    res = run_bench([tiny_images], get_settings("jpeg_q20"), chosen, ["psnr"], None, limit=1, log=lambda s: None)
    v = res.summary["tiny"]["jpeg_q20"]
    assert v["uare"]["psnr"] == pytest.approx(v["input"]["psnr"]) and v["uare"]["n"] == 1


# ------------------------------------------------------------------ bench iqa


def test_synthetic_iqa_truth_falls_with_level(tiny_images: Path) -> None:
    items = list(synthetic_items([tiny_images], limit=1))
    assert len(items) == 10 * 5
    for t in {i.group for i in items}:
        truth = [i.truth for i in items if i.group == t]
        assert len(truth) == 5 and all(1.0 <= v <= 5.0 for v in truth)
        assert truth[4] < truth[0], t


def test_iqa_bench_plumbing(tmp_path: Path) -> None:
    items = [IQAItem("s", f"i{k}", np.full((4, 4, 3), 10 * k, np.uint8), float(k), "g") for k in range(8)]
    scorers = {"bright": lambda img: float(img.mean()), "dark": lambda img: -float(img.mean())}
    res = run_iqa_bench({"s": items}, scorers, log=lambda s: None)
    assert res.summary["s"]["bright"]["srcc"] == pytest.approx(1.0)
    assert res.summary["s"]["dark"]["srcc"] == pytest.approx(-1.0)
    assert len(res.rows) == 8


def test_tid2013_items() -> None:
    from uare.eval.bench_iqa import default_tid2013

    root = default_tid2013()
    if root is None:
        pytest.skip("shared TID2013 calibration files not present")
    items = tid2013_items(root)
    assert len(items) == 5 and {i.name for i in items} >= {"i03_11_5.bmp", "i19_10_5.bmp"}
    assert min(i.truth for i in items) == pytest.approx(0.7)


def test_default_images_are_found_or_clear_error() -> None:
    try:
        dirs = default_image_dirs()
    except UareError as e:
        assert "--images" in str(e)
    else:
        assert [d.name for d in dirs] == ["CBSD68", "Kodak24"]


def test_color_shift_matches_skimage_lab_and_sees_a_cast() -> None:
    from skimage.color import rgb2lab

    from uare.eval.metricset import build_metrics, color_shift

    rng = np.random.default_rng(0)
    gt = (rng.random((32, 48, 3)) * 255).astype(np.uint8)
    tinted = np.clip(gt.astype(int) + [12, 0, -12], 0, 255).astype(np.uint8)
    ref = np.linalg.norm(rgb2lab(tinted / 255.0)[..., 1:].reshape(-1, 2).mean(0)
                         - rgb2lab(gt / 255.0)[..., 1:].reshape(-1, 2).mean(0))
    assert color_shift(gt, gt) == 0.0
    assert color_shift(tinted, gt) == pytest.approx(ref, rel=0.02)
    assert ref > 3  # a visible cast
    m = build_metrics(["psnr", "color_shift"])["color_shift"]
    assert m.full_reference and m.lower_is_better


def test_bench_iqa_with_the_model_adds_its_own_checks(tiny_images: Path, tmp_path: Path) -> None:
    """``--scorers uare``: type identification on levels 2-5, pairwise comparisons, files written."""
    from uare.eval.bench import run_bench_iqa
    from uare.model.config import micro
    from uare.model.random_init import init_random
    from uare.model.tokenizer import train_quality_tokenizer

    tok = train_quality_tokenizer(vocab_size=512, seed=0)
    init_random(tmp_path / "m", micro(vocab_size=tok.vocab_size), fmt="uare", seed=0, tokenizer=tok)
    (tmp_path / "m" / "inference.json").write_text('{"max_description_tokens": 6, "max_compare_tokens": 4}')
    r = run_bench_iqa(["uare"], str(tmp_path / "m"), [str(tiny_images)], limit=1, tid2013=False,
                      out=tmp_path / "out")
    assert r["tasks"]["type_id"]["n"] == 10 * 4
    assert r["tasks"]["pairwise"]["n"] == 4
    assert 0.0 <= r["tasks"]["type_id"]["accuracy"] <= 1.0
    assert (tmp_path / "out" / "iqa_tasks.json").is_file() and "type_id" in r["markdown"]
