"""The paper's named evaluation sets: paired x4 SR layouts, IQA MOS layouts, unavailable metrics.

Every fixture is written by the test into tmp_path in the public layout it stands for (tiny
images: 32x32 HR / 8x8 LR); nothing here reads ../shared or the network.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from uare.cli import main
from uare.data.images import DataError
from uare.data.mos import read_mos_table
from uare.errors import UareError
from uare.eval import sets as es
from uare.eval.bench_iqa import run_iqa_bench

pytest.importorskip("uare.metrics")

ALL_RESTORE = "realsr, realsr-canon, realsr-nikon, drealsr, div2k-val"


def _save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _hr(rng: np.random.Generator, h: int = 32, w: int = 32) -> np.ndarray:
    """A smooth-ish random image (noise on a gradient) so bicubic and SSIM are not degenerate."""
    base = np.linspace(40, 200, w)[None, :, None] + np.linspace(0, 30, h)[:, None, None]
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def _lr(hr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(hr[::4, ::4])


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------ paired layouts


def realsr_v3(root: Path, n: dict[str, int] | None = None) -> Path:
    """RealSR V3: <cam>/Test/4/<cam>_NNN_HR.png + _LR4.png, LR the HR size (as released)."""
    rng = np.random.default_rng(1)
    for cam, k in (n or {"Canon": 2, "Nikon": 1}).items():
        for i in range(1, k + 1):
            hr = _hr(rng)
            _save(root / cam / "Test" / "4" / f"{cam}_{i:03d}_HR.png", hr)
            _save(root / cam / "Test" / "4" / f"{cam}_{i:03d}_LR4.png", np.clip(hr.astype(int) - 3, 0, 255).astype(np.uint8))
    return root


def drealsr(root: Path, n: int = 2, hr_size: tuple[int, int] = (32, 32)) -> Path:
    """DRealSR: Test_x4/test_HR/<name>_x1.png + test_LR/<name>_x4.png, LR a quarter of the HR."""
    rng = np.random.default_rng(2)
    for i in range(n):
        hr = _hr(rng, *hr_size)
        _save(root / "Test_x4" / "test_HR" / f"DSC_{i:04d}_x1.png", hr)
        _save(root / "Test_x4" / "test_LR" / f"DSC_{i:04d}_x4.png", _lr(hr[: hr_size[0] // 4 * 4, : hr_size[1] // 4 * 4]))
    return root


def div2k_val(root: Path, n: int = 3) -> Path:
    """StableSR DIV2K-Val: DIV2K_V2_val/gt/0000000.png + lq/0000000.png (GT 4x the LQ)."""
    rng = np.random.default_rng(3)
    for i in range(n):
        hr = _hr(rng)
        _save(root / "DIV2K_V2_val" / "gt" / f"{i:07d}.png", hr)
        _save(root / "DIV2K_V2_val" / "lq" / f"{i:07d}.png", _lr(hr))
    return root


def stablesr_crops(root: Path) -> Path:
    """StableSR's RealSR crops: test_HR/<cam>_NNN_HR.png + test_LR/<cam>_NNN_LR4.png."""
    rng = np.random.default_rng(4)
    for cam, k in (("Canon", 2), ("Nikon", 2)):
        for i in range(1, k + 1):
            hr = _hr(rng)
            _save(root / "test_HR" / f"{cam}_{i:03d}_HR.png", hr)
            _save(root / "test_LR" / f"{cam}_{i:03d}_LR4.png", _lr(hr))
    return root


@pytest.mark.parametrize(("name", "build", "keys", "layout"), [
    ("realsr", realsr_v3, ["Canon_001", "Canon_002", "Nikon_001"], "RealSR V3"),
    ("realsr-canon", realsr_v3, ["Canon_001", "Canon_002"], "RealSR V3"),
    ("realsr-nikon", realsr_v3, ["Nikon_001"], "RealSR V3"),
    ("drealsr", drealsr, ["DSC_0000", "DSC_0001"], "DRealSR"),
    ("div2k-val", div2k_val, ["0000000", "0000001", "0000002"], "StableSR DIV2K_V2_val"),
    ("realsr-nikon", stablesr_crops, ["Nikon_001", "Nikon_002"], "StableSR crops"),
    ("realsr", stablesr_crops, ["Canon_001", "Canon_002", "Nikon_001", "Nikon_002"], "StableSR crops"),
])
def test_pairs_found_in_each_layout(tmp_path: Path, name: str, build, keys: list[str], layout: str) -> None:  # noqa: ANN001
    root = build(tmp_path / "root")
    spec = es.paired_sets(name)[0]
    pairs, found = es.find_pairs(spec, root)
    assert [p.key for p in pairs] == keys and found.title == layout
    assert es.check_pair_sizes(spec, pairs) == (len(keys) if build is realsr_v3 else 0)


def test_div2k_root_may_be_the_set_folder_itself(tmp_path: Path) -> None:
    root = div2k_val(tmp_path) / "DIV2K_V2_val"
    pairs, layout = es.find_pairs(es.PAIRED_SETS["div2k-val"], root)
    assert len(pairs) == 3 and layout.parts[0].hr == "gt/*"


def test_same_size_lr_is_reduced_and_quarter_lr_used_as_is(tmp_path: Path) -> None:
    from uare.degrade import sr_downsample

    v3 = realsr_v3(tmp_path / "v3", {"Canon": 1})
    spec = es.PAIRED_SETS["realsr-canon"]
    pairs, _ = es.find_pairs(spec, v3)
    assert es.check_pair_sizes(spec, pairs) == 1  # the one LR is HR-sized
    lq, gt = es.load_pair(pairs[0], 4)
    lr = np.asarray(Image.open(pairs[0].lr))
    assert lq.shape == (8, 8, 3) and gt.shape == (32, 32, 3)
    assert np.array_equal(lq, sr_downsample(lr, 4)[0])
    d = drealsr(tmp_path / "d", n=1, hr_size=(34, 33))  # HR not a multiple of 4: mod-cropped to the LR x4
    dspec = es.PAIRED_SETS["drealsr"]
    dpairs, _ = es.find_pairs(dspec, d)
    assert es.check_pair_sizes(dspec, dpairs) == 0
    lq, gt = es.load_pair(dpairs[0], 4)
    assert lq.shape == (8, 8, 3) and gt.shape == (32, 32, 3)
    assert np.array_equal(gt, np.asarray(Image.open(dpairs[0].hr))[:32, :32])


def test_layout_errors_name_what_is_expected(tmp_path: Path) -> None:
    spec = es.PAIRED_SETS["drealsr"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(UareError, match=r"drealsr: no image pairs under .*empty; expected Test_x4/test_HR/\* \+ "
                                        r"Test_x4/test_LR/\* \(DRealSR\) or test_HR/\* \+ test_LR/\* \(StableSR crops\)"):
        es.find_pairs(spec, tmp_path / "empty")
    root = drealsr(tmp_path / "d", n=3)
    (root / "Test_x4" / "test_LR" / "DSC_0001_x4.png").unlink()
    with pytest.raises(UareError, match=r"unpaired files; 1 HR without LR .*: DSC_0001"):
        es.find_pairs(spec, root)
    v3 = realsr_v3(tmp_path / "v3", {"Canon": 1})  # "realsr" needs both cameras
    with pytest.raises(UareError, match=r"realsr: no images match .*Nikon/Test/4/\*_HR\.\*"):
        es.find_pairs(es.PAIRED_SETS["realsr"], v3)
    bad = div2k_val(tmp_path / "bad", n=1)
    _save(bad / "DIV2K_V2_val" / "lq" / "0000000.png", np.zeros((10, 9, 3), np.uint8))
    dv = es.PAIRED_SETS["div2k-val"]
    with pytest.raises(UareError, match=r"neither the same size nor x4: 0000000 \(HR 32x32, LR 9x10\)"):
        es.check_pair_sizes(dv, es.find_pairs(dv, bad)[0])


def test_roots_from_flag_env_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = es.PAIRED_SETS["drealsr"]
    monkeypatch.setattr(es, "shared_datasets", lambda: tmp_path / "shared")
    monkeypatch.delenv(spec.env, raising=False)
    with pytest.raises(UareError, match=r"drealsr: no dataset folder: pass --root DIR or set UARE_DREALSR_ROOT "
                                        r"\(default .*shared/test/DRealSR not found\); download: .*github"):
        es.set_root(spec)
    (tmp_path / "shared" / "test" / "DRealSR").mkdir(parents=True)
    assert es.set_root(spec) == tmp_path / "shared" / "test" / "DRealSR"
    monkeypatch.setenv(spec.env, str(tmp_path / "elsewhere"))
    with pytest.raises(UareError, match=r"UARE_DREALSR_ROOT .*elsewhere is not a folder"):
        es.set_root(spec)
    assert es.set_root(spec, tmp_path) == tmp_path  # --root wins
    with pytest.raises(UareError, match="--root names the folder of one set"):
        es.root_for(es.paired_sets("realsr,drealsr"), tmp_path)


# ------------------------------------------------------------------ bench restore --set


def _y(img: np.ndarray) -> np.ndarray:
    """Y of BT.601 YCbCr on [0, 1] (MATLAB rgb2ycbcr / 255), not rounded: the pyiqa Real-ISR PSNR input."""
    from skimage.color import rgb2ycbcr

    return rgb2ycbcr(img)[..., 0] / 255.0


def test_bench_restore_set_metrics_match_independent_computations(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from uare.baselines import bicubic_up

    root = drealsr(tmp_path / "d", n=2)
    out = tmp_path / "out"
    code, stdout, err = _run(["bench", "restore", "--set", "drealsr", "--root", str(root), "--baselines", "none",
                              "--metrics", "psnr,ssim", "--out", str(out)], capsys)
    assert code == 0, err
    rows = _csv(out / "per_image.csv")
    assert [(r["dataset"], r["setting"], r["method"], r["image"]) for r in rows] == [
        ("drealsr", "x4", "input", "DSC_0000"), ("drealsr", "x4", "input", "DSC_0001")]
    psnr_y, psnr_rgb, ssim_rgb = [], [], []
    for r in rows:
        gt = np.asarray(Image.open(root / "Test_x4" / "test_HR" / f"{r['image']}_x1.png"))
        pred = bicubic_up(np.asarray(Image.open(root / "Test_x4" / "test_LR" / f"{r['image']}_x4.png")), 4)
        mse = float(np.mean((_y(pred) - _y(gt)) ** 2))
        psnr_y.append(10 * math.log10(1.0 / (mse + 1e-8)))  # realisr: pyiqa's eps, no border crop
        assert float(r["psnr"]) == pytest.approx(psnr_y[-1], abs=1e-3)
        psnr_rgb.append(peak_signal_noise_ratio(gt, pred, data_range=255))
        ssim_rgb.append(structural_similarity(gt, pred, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                              use_sample_covariance=False, data_range=255))
    s = json.loads((out / "summary.json").read_text())
    assert s["sets"] == ["drealsr"] and s["protocol"] == "realisr" and s["unavailable"] == {}
    v = s["summary"]["drealsr"]["x4"]["input"]
    assert v["n"] == 2 and v["protocol"] == "realisr" and v["psnr"] == pytest.approx(np.mean(psnr_y), abs=1e-3)
    assert "#### drealsr (2 images)" in stdout and "| x4 | input |" in stdout
    assert "note: drealsr: 2 of 2 pairs, DRealSR layout under" in stdout
    # the same pairs under the rgb protocol equal skimage's PSNR and Gaussian SSIM
    code, _, err = _run(["bench", "restore", "--set", "drealsr", "--root", str(root), "--baselines", "none",
                         "--metrics", "psnr,ssim", "--protocol", "rgb", "--out", str(tmp_path / "rgb")], capsys)
    assert code == 0, err
    v = json.loads((tmp_path / "rgb" / "summary.json").read_text())["summary"]["drealsr"]["x4"]["input"]
    assert v["psnr"] == pytest.approx(np.mean(psnr_rgb), abs=1e-4)
    assert v["ssim"] == pytest.approx(np.mean(ssim_rgb), abs=1e-4)


def test_bench_restore_set_runs_sr_baselines_and_reduces_v3_lr(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    root = realsr_v3(tmp_path / "r", {"Canon": 1, "Nikon": 1})
    out = tmp_path / "out"
    code, stdout, err = _run(["bench", "restore", "--set", "realsr", "--root", str(root), "--baselines",
                              "bicubic,ibp,nlm", "--metrics", "psnr", "--limit", "1", "--out", str(out)], capsys)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert set(s["summary"]["realsr"]["x4"]) == {"input", "bicubic", "ibp"}  # nlm denoises: not an SR baseline
    assert s["summary"]["realsr"]["x4"]["bicubic"]["n"] == 1
    assert "1 of 2 pairs, RealSR V3 layout" in stdout and "1 LR image(s) of HR size reduced x1/4" in stdout


def test_set_name_unknown_or_misused_is_one_line_and_writes_nothing(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, stdout, err = _run(["bench", "restore", "--set", "realsr-sony", "--out", str(out)], capsys)
    assert code == 2 and stdout == "" and not out.exists()
    assert err.count("\n") == 1
    assert f"unknown restore set(s) realsr-sony; choose from {ALL_RESTORE}" in err
    code, stdout, err = _run(["bench", "iqa", "--set", "koniq", "--out", str(out)], capsys)
    assert code == 2 and stdout == "" and not out.exists() and err.count("\n") == 1
    assert "unknown IQA set(s) koniq; choose from kadid10k, spaq, csiq" in err
    code, _, err = _run(["bench", "restore", "--set", "drealsr", "--root", str(tmp_path / "nope"), "--out", str(out)],
                        capsys)
    assert code == 2 and not out.exists() and err.count("\n") == 1
    assert "drealsr: --root" in err and "nope is not a folder; download:" in err
    code, _, err = _run(["bench", "restore", "--set", "drealsr", "--images", str(tmp_path), "--out", str(out)],
                        capsys)
    assert code == 2 and "leave out --images and --settings" in err and not out.exists()


# ------------------------------------------------------------------ unavailable metrics


def test_pyiqa_missing_one_line_per_metric_rest_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyiqa", None)  # import pyiqa -> ImportError
    root = div2k_val(tmp_path / "d", n=2)
    out = tmp_path / "out"
    code, stdout, err = _run(["bench", "restore", "--set", "div2k-val", "--root", str(root), "--baselines", "none",
                              "--metrics", "psnr,lpips,ssim,musiq", "--out", str(out)], capsys)
    assert code == 0, err
    lines = [ln for ln in stdout.splitlines() if "unavailable" in ln]
    assert lines == [f"note: metric {m} unavailable: pyiqa is not installed: pip install 'uare[pyiqa]' (pyiqa and "
                     "its weights are licensed for non-commercial use only)" for m in ("lpips", "musiq")]
    s = json.loads((out / "summary.json").read_text())
    v = s["summary"]["div2k-val"]["x4"]["input"]
    assert v["lpips"] is None and v["musiq"] is None and v["psnr"] > 10 and 0 < v["ssim"] < 1
    assert set(s["unavailable"]) == {"lpips", "musiq"}
    md = (out / "summary.md").read_text()
    header, _, row = md.splitlines()[2:5]
    assert header == "| setting | method | PSNR↑ | LPIPS↓ | SSIM↑ | MUSIQ↑ | s/img |"
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == "–" and cells[5] == "–" and cells[2] != "–" and cells[4] != "–"
    assert "lpips" not in _csv(out / "per_image.csv")[0]
    # the same lines for `uare eval restore`; every metric unavailable is an error and writes nothing
    gt = root / "DIV2K_V2_val" / "gt"
    code, stdout, err = _run(["eval", "restore", "--pred", str(gt), "--gt", str(gt), "--metrics", "psnr,dists"], capsys)
    assert code == 0 and "note: metric dists unavailable: pyiqa is not installed" in err
    assert json.loads(stdout[stdout.index("{"):])["mean"]["dists"] is None
    code, stdout, err = _run(["bench", "restore", "--set", "div2k-val", "--root", str(root), "--metrics",
                              "lpips,dists", "--out", str(tmp_path / "none")], capsys)
    assert code == 2 and err.count("\n") == 1 and not (tmp_path / "none").exists()
    assert "no metric can be computed: metric lpips unavailable: pyiqa is not installed" in err
    assert "; metric dists unavailable:" in err


def test_missing_weights_say_where_to_put_them(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in pyiqa: weights present for musiq (computed), absent for lpips, dists fails to load."""
    created: list[str] = []

    def create_metric(name: str, device: str = "cpu", as_loss: bool = False):  # noqa: ANN202
        created.append(name)
        if name == "dists":
            raise OSError("offline: cannot reach huggingface.co")
        return lambda x, y=None: x.mean() * 100  # a "MUSIQ" of the mean brightness

    monkeypatch.setitem(sys.modules, "pyiqa", types.SimpleNamespace(create_metric=create_metric))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("UARE_PYIQA_DOWNLOAD", raising=False)
    cache = tmp_path / "torch" / "hub" / "pyiqa"
    cache.mkdir(parents=True)
    for f in ("musiq_koniq_ckpt-e95806b9.pth", "DISTS_weights-f5e65c96.pth"):
        (cache / f).write_bytes(b"stand-in")
    root = div2k_val(tmp_path / "d", n=1)
    out = tmp_path / "out"
    code, stdout, err = _run(["bench", "restore", "--set", "div2k-val", "--root", str(root), "--baselines", "none",
                              "--metrics", "psnr,lpips,dists,musiq", "--out", str(out)], capsys)
    assert code == 0, err
    assert created == ["dists", "musiq"]  # lpips is not even tried: no download behind the user's back
    notes = [ln for ln in stdout.splitlines() if "unavailable" in ln]
    assert len(notes) == 2
    assert notes[0] == (f"note: metric lpips unavailable: weights not found at {cache}/LPIPS_v0.1_alex-df73285e.pth; "
                        "download https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/"
                        f"LPIPS_v0.1_alex-df73285e.pth into {cache} (or set UARE_PYIQA_DOWNLOAD=1 to let pyiqa "
                        "fetch it)")
    assert notes[1].startswith("note: metric dists unavailable: pyiqa could not create 'dists' (OSError: offline")
    v = json.loads((out / "summary.json").read_text())["summary"]["div2k-val"]["x4"]["input"]
    lq = np.asarray(Image.open(root / "DIV2K_V2_val" / "lq" / "0000000.png"))
    from uare.baselines import bicubic_up

    assert v["musiq"] == pytest.approx(bicubic_up(lq, 4).mean() / 255 * 100, rel=1e-5)
    assert v["lpips"] is None and v["dists"] is None
    monkeypatch.setenv("UARE_PYIQA_DOWNLOAD", "1")  # let pyiqa fetch: lpips is created now
    from uare.eval.metricset import resolve_metrics

    built, missing = resolve_metrics(["lpips"])
    assert list(built) == ["lpips"] and not missing and created[-1] == "lpips"


# ------------------------------------------------------------------ IQA MOS sets


def _gray(v: float, size: int = 16) -> np.ndarray:
    rng = np.random.default_rng(int(v * 1000) % 2**31)
    return np.clip(v + rng.normal(0, 3, (size, size, 3)), 0, 255).astype(np.uint8)


def kadid(root: Path, mos: list[float]) -> tuple[Path, list[str]]:
    """KADID-10k: dmos.csv (dist_img, ref_img, dmos, var) + images/ (references there too)."""
    names = [f"I01_{t:02d}_{lv:02d}.png" for t in (1, 2) for lv in range(1, 6)][: len(mos)]
    root.mkdir(parents=True)
    with open(root / "dmos.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["dist_img", "ref_img", "dmos", "var"])
        for n, m in zip(names, mos, strict=True):
            w.writerow([n, "I01.png", m, 0.25])
    _save(root / "images" / "I01.png", _gray(128))
    return root, names


def spaq(root: Path, mos: list[float]) -> tuple[Path, list[str]]:
    """SPAQ: Annotations/MOS and Image attribute scores.csv (a CSV export of the sheet) + TestImage/."""
    names = [f"{i:05d}.jpg" for i in range(1, len(mos) + 1)]
    (root / "Annotations").mkdir(parents=True)
    with open(root / "Annotations" / "MOS and Image attribute scores.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Image name", "MOS", "Brightness", "Colorfulness", "Contrast", "Noisiness", "Sharpness"])
        for n, m in zip(names, mos, strict=True):
            w.writerow([n, m, 50, 50, 50, 50, 50])
    return root, names


def csiq_official(root: Path, dmos: list[float]) -> tuple[Path, list[str]]:
    """CSIQ: csiq.DMOS.txt (the sheet as tab-separated text) + dst_imgs/<type>/<image>.<TAG>.<lev>.png."""
    kinds = [(1, "noise", "awgn", "AWGN"), (5, "blur", "blur", "BLUR"), (3, "jpeg 2000", "jpeg2000", "jpeg2000")]
    rows, names = [], []
    for k, d in enumerate(dmos):
        idx, typ, folder, tag = kinds[k % 3]
        lev = k // 3 + 1
        rows.append(f"1600\t{idx}\t{typ}\t{lev}\t0.05\t{d}")
        names.append(f"{folder}/1600.{tag}.{lev}.png")
    root.mkdir(parents=True)
    (root / "csiq.DMOS.txt").write_text("image\tdst_idx\tdst_type\tdst_lev\tdmos_std\tdmos\n" + "\n".join(rows) + "\n")
    _save(root / "src_imgs" / "1600.png", _gray(128))
    return root, [f"dst_imgs/{n}" for n in names]


def csiq_label(root: Path, dmos: list[float]) -> tuple[Path, list[str]]:
    """CSIQ as pyiqa has it: csiq_label.txt (``<name> <dmos>``) + a flat dst_imgs_all/."""
    names = [f"1600.AWGN.{k + 1}.png" for k in range(len(dmos))]
    root.mkdir(parents=True)
    (root / "csiq_label.txt").write_text("".join(f"{n} {d}\n" for n, d in zip(names, dmos, strict=True)))
    return root, [f"dst_imgs_all/{n}" for n in names]


@pytest.mark.parametrize(("name", "build", "image_dir", "lower_better"), [
    ("kadid10k", kadid, "images", False),
    ("spaq", spaq, "TestImage", False),
    ("csiq", csiq_official, "", True),
    ("csiq", csiq_label, "", True),
])
def test_mos_set_layouts_srcc_matches_scipy(tmp_path: Path, name: str, build, image_dir: str,  # noqa: ANN001
                                            lower_better: bool) -> None:
    from scipy import stats

    rng = np.random.default_rng(7)
    mos = [round(float(v), 3) for v in rng.uniform(0.05, 0.95, 9)] if lower_better else \
        [round(float(v), 3) for v in rng.uniform(1, 5, 9)]
    root, names = build(tmp_path / name, mos)
    brightness = rng.uniform(20, 230, len(mos))
    for n, b in zip(names, brightness, strict=True):
        _save(root / image_dir / n, _gray(b))
    spec = es.MOS_SETS[name]
    entries = es.mos_entries(spec, root)
    assert [e.path for e in entries] == [root / image_dir / n for n in names]
    assert [e.truth for e in entries] == pytest.approx([-m for m in mos] if lower_better else mos)
    res = run_iqa_bench({name: es.mos_items(spec, entries)}, {"bright": lambda img: float(img.mean())},
                        log=lambda s: None)
    scores = [r["bright"] for r in res.rows]
    c = res.summary[name]["bright"]
    assert c["n"] == len(mos)
    assert c["srcc"] == pytest.approx(stats.spearmanr(scores, [e.truth for e in entries])[0])
    assert c["plcc"] == pytest.approx(stats.pearsonr(scores, [e.truth for e in entries])[0])
    assert len(es.mos_entries(spec, root, limit=4)) == 4


def test_bench_iqa_set_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scipy import stats

    from uare.baselines import get_scorer

    mos = [1.5, 4.2, 2.8, 3.3, 4.9, 1.1]
    root, names = kadid(tmp_path / "kadid10k", mos)
    for k, n in enumerate(names):
        _save(root / "images" / n, _gray(40 + 30 * k, size=48))
    out = tmp_path / "out"
    code, stdout, err = _run(["bench", "iqa", "--set", "kadid10k", "--root", str(root), "--scorers", "brisque",
                              "--out", str(out)], capsys)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert list(s["summary"]) == ["kadid10k"]  # the named set replaces synthetic + TID2013
    brisque = get_scorer("brisque")
    pred = [brisque(np.asarray(Image.open(root / "images" / n))) for n in names]
    assert s["summary"]["kadid10k"]["brisque"]["srcc"] == pytest.approx(stats.spearmanr(pred, mos)[0])
    assert [r["image"] for r in _csv(out / "per_image.csv")] == names
    assert "#### kadid10k" in stdout and "note: kadid10k: 6 images under" in stdout


def test_mos_set_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = es.MOS_SETS["kadid10k"]
    (tmp_path / "k").mkdir()
    with pytest.raises(UareError, match=r"kadid10k: no MOS table under .*k; expected one of dmos.csv \(download: "):
        es.mos_entries(spec, tmp_path / "k")
    root, names = kadid(tmp_path / "k2", [1.0, 2.0, 3.0])
    _save(root / "images" / names[0], _gray(1))
    with pytest.raises(UareError, match=r"kadid10k: 2 image\(s\) of dmos.csv not found under .*images: "
                                        r"I01_01_02.png, I01_01_03.png"):
        es.mos_entries(spec, root)
    (tmp_path / "s" / "Annotations").mkdir(parents=True)
    (tmp_path / "s" / "TestImage").mkdir()
    (tmp_path / "s" / "Annotations" / "MOS and Image attribute scores.xlsx").write_bytes(b"PK\x03\x04")
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    with pytest.raises(DataError, match=r"MOS and Image attribute scores.xlsx: reading .xlsx needs openpyxl: "
                                        r"pip install openpyxl \(or save the sheet as CSV and pass that\)"):
        es.mos_entries(es.MOS_SETS["spaq"], tmp_path / "s")


def test_csiq_layout_in_the_one_table_reader(tmp_path: Path) -> None:
    root, names = csiq_official(tmp_path / "c", [0.1, 0.5, 0.9])
    rows = read_mos_table(root / "csiq.DMOS.txt", root / "dst_imgs", layout="csiq")
    # the official per-type folder is used only where the file exists there
    assert [r.path for r in rows] == [root / "dst_imgs" / "1600.AWGN.1.png", root / "dst_imgs" / "1600.BLUR.1.png",
                                      root / "dst_imgs" / "1600.jpeg2000.1.png"]
    assert [r.std for r in rows] == [0.05] * 3
    assert [r.score for r in rows] == pytest.approx([5.0, 3.0, 1.0])  # DMOS: lower = better, 5 = best
    (root / "csiq.DMOS.csv").write_text("title row\nimage,dst_idx,dst_type,dst_lev,dmos_std,dmos\n1600,7,x,1,0,0.1\n")
    with pytest.raises(DataError, match="dst_idx '7' is not 1-6"):
        read_mos_table(root / "csiq.DMOS.csv", layout="csiq")


def test_xlsx_tables_when_openpyxl_is_there(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Image name", "MOS", "Brightness"])
    ws.append(["00001.jpg", 42.5, 50])
    ws.append(["00002.jpg", 71.0, 50])
    wb.save(tmp_path / "spaq.xlsx")
    rows = read_mos_table(tmp_path / "spaq.xlsx", layout="spaq")
    assert [(r.path.name, r.mos) for r in rows] == [("00001.jpg", 42.5), ("00002.jpg", 71.0)]
    # csiq.DMOS.xlsx: the header is looked for on every sheet, below title rows; padding rows are skipped
    wb = openpyxl.Workbook()
    wb.active.append(["notes"])
    ws = wb.create_sheet("all_by_image")
    ws.append(["CSIQ DMOS"])
    ws.append(["image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"])
    ws.append([1600, 1, "noise", 1, 0.061, 0.062])
    ws.append([1600, 3, "jpeg 2000", 2, 0.1, 0.3])
    ws.append([None, None, None, None, None, None])
    ws.append(["", 2, "", "", "", ""])
    wb.save(tmp_path / "csiq.DMOS.xlsx")
    rows = read_mos_table(tmp_path / "csiq.DMOS.xlsx", layout="csiq")
    assert [(r.path.name, r.mos) for r in rows] == [("1600.AWGN.1.png", 0.062), ("1600.jpeg2000.2.png", 0.3)]


def test_spaq_images_scored_at_512_short_side() -> None:
    img = np.zeros((600, 800, 3), np.uint8)
    assert es.resize_short(img, 512).shape == (512, 683, 3)
    assert es.resize_short(img[:300], 512).shape == (300, 800, 3)
    assert es.MOS_SETS["spaq"].short_side == 512
