"""Tests of the ``uare`` command line, on the real degradation engine. All files are made in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import types
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import uare
from uare import cli
from uare.io import read_image, write_image

REPO = Path(__file__).resolve().parents[1]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def picture(h: int = 32, w: int = 40, seed: int = 0) -> np.ndarray:
    """A smooth image with some texture, so that degradations visibly change it."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.dstack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), (xx + yy) * 127 / max(h + w - 2, 1)])
    noise = np.random.default_rng(seed).normal(0, 10, (h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def make(path: Path, pixels: np.ndarray | None = None, alpha: np.ndarray | None = None) -> Path:
    write_image(path, picture() if pixels is None else pixels, alpha)
    return path


def bomb_png(path: Path) -> Path:
    Image.fromarray(picture(8, 8)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = (20000).to_bytes(4, "big") * 2
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    return path


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- top level ---------------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"uare {uare.__version__}"


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for name in ["degrade", "init-random", "inspect", "train", "eval", "bench", "assess", "compare", "restore",
                 "enhance", "demo"]:
        assert f"    {name}" in out
    assert "(planned)" not in out


def test_degrade_help_documents_conversions(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["degrade", "--help"], capsys)
    assert code == 0
    for words in ("16-bit", "INTER_AREA", "grayscale", "seed N + i", "--overwrite", "EXIF"):
        assert words in out


def test_no_command_and_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([], capsys)[0] == 2
    assert run(["degrade", "x.png"], capsys)[0] == 2  # -o missing
    assert run(["degrade", "x.png", "-o", "y.png", "--severity", "9"], capsys)[0] == 2
    assert run(["frobnicate"], capsys)[0] == 2


# --- degrade, one file -------------------------------------------------------------------------


def test_degrade_file_writes_image_and_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make(tmp_path / "in.png")
    code, out, err = run(["degrade", str(src), "-o", str(tmp_path / "out.png"), "--types", "noise",
                          "--severity", "4", "--seed", "7", "--record", str(tmp_path / "rec.json")], capsys)
    assert code == 0, err
    assert err == "" and "out.png" in out
    result = read_image(tmp_path / "out.png")
    assert result.pixels.shape == (32, 40, 3)
    assert np.abs(result.pixels.astype(int) - picture()).mean() > 3  # visibly noisier
    rec = json.loads((tmp_path / "rec.json").read_text())
    assert rec["pipeline"] == "single" and rec["seed"] == 7
    assert rec["input"] == "in.png" and rec["output"] == "out.png"
    assert [s["category"] for s in rec["steps"]] == ["noise"]
    assert rec["severities"]["noise"] > 0
    assert names(tmp_path) == ["in.png", "out.png", "rec.json"]


def test_same_seed_same_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make(tmp_path / "in.png")
    for name, seed in (("a.png", "3"), ("b.png", "3"), ("c.png", "4")):
        assert run(["degrade", str(src), "-o", str(tmp_path / name), "--pipeline", "multi", "--seed", seed],
                   capsys)[0] == 0
    a, b, c = (read_image(tmp_path / n).pixels for n in ("a.png", "b.png", "c.png"))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_record_has_quality_fields_when_available(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make(tmp_path / "in.png")
    assert run(["degrade", str(src), "-o", str(tmp_path / "o.png"), "--record", str(tmp_path / "r.json")],
               capsys)[0] == 0
    rec = json.loads((tmp_path / "r.json").read_text())
    try:
        from uare.quality import analysis_text, summarize  # noqa: F401
    except ImportError:
        assert "score" not in rec
    else:
        assert 1.0 <= rec["score"] <= 5.0 and isinstance(rec["level"], str) and rec["analysis"]


def test_quality_glue_is_seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    from uare.quality import fields

    calls: list[dict[str, object]] = []

    def summarize(record: object, clean: np.ndarray | None = None, degraded: np.ndarray | None = None) -> object:
        calls.append({"clean": None if clean is None else clean.shape})
        return types.SimpleNamespace(score=3.25, level="fair")

    monkeypatch.setattr(fields, "summarize", summarize)
    monkeypatch.setattr(fields, "analysis_text", lambda summary, rng: f"{summary.level} {rng.integers(1_000_000)}")
    record = types.SimpleNamespace(input_size=(4, 6))
    img = np.zeros((5, 7, 3), np.uint8)
    first = fields.quality_fields(record, img, img[:4, :6], seed=11)
    assert first == fields.quality_fields(record, img, img[:4, :6], seed=11)
    assert first != fields.quality_fields(record, img, img[:4, :6], seed=12)
    assert first["score"] == 3.25 and first["level"] == "fair"
    assert calls[0]["clean"] == (4, 6, 3)  # ground truth cropped to the record's input_size


def test_gray_stays_gray(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make(tmp_path / "g.png", picture()[:, :, :1])
    assert run(["degrade", str(src), "-o", str(tmp_path / "o.png"), "--types", "blur"], capsys)[0] == 0
    assert read_image(tmp_path / "o.png").pixels.shape == (32, 40, 1)


def test_alpha_kept_and_resized_with_scale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alpha = np.zeros((32, 40), np.uint8)
    alpha[:, 20:] = 255
    src = make(tmp_path / "a.png", picture(), alpha)
    assert run(["degrade", str(src), "-o", str(tmp_path / "same.png"), "--types", "noise"], capsys)[0] == 0
    np.testing.assert_array_equal(read_image(tmp_path / "same.png").alpha, alpha)
    assert run(["degrade", str(src), "-o", str(tmp_path / "half.png"), "--types", "noise", "--scale", "2"],
               capsys)[0] == 0
    small = read_image(tmp_path / "half.png")
    assert small.pixels.shape == (16, 20, 3)
    expected = np.zeros((16, 20), np.uint8)
    expected[:, 10:] = 255
    np.testing.assert_array_equal(small.alpha, expected)


def test_16bit_input_becomes_8bit_with_a_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make(tmp_path / "deep.png", picture().astype(np.uint16) * 257)
    assert run(["degrade", str(src), "-o", str(tmp_path / "o.png"), "--record", str(tmp_path / "r.json")],
               capsys)[0] == 0
    assert read_image(tmp_path / "o.png").pixels.dtype == np.uint8
    notes = json.loads((tmp_path / "r.json").read_text())["notes"]
    assert any("16-bit" in n and "8 bits" in n for n in notes)


def test_exif_orientation_applied_before_degrading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(picture(32, 40)).save(tmp_path / "turned.png", exif=exif.tobytes())
    assert run(["degrade", str(tmp_path / "turned.png"), "-o", str(tmp_path / "o.png")], capsys)[0] == 0
    assert read_image(tmp_path / "o.png").pixels.shape == (40, 32, 3)


def test_one_by_one_image_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make(tmp_path / "dot.png", np.array([[[10, 200, 30]]], np.uint8))
    code, _, err = run(["degrade", str(src), "-o", str(tmp_path / "o.png"), "--types", "noise"], capsys)
    assert code == 0, err
    assert read_image(tmp_path / "o.png").pixels.shape == (1, 1, 3)


def _bad_text(p: Path) -> None:
    p.write_text("this is not an image\n")


def _bad_empty(p: Path) -> None:
    p.write_bytes(b"")


def _bad_truncated(p: Path) -> None:
    make(p, picture(64, 64))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _bad_bomb(p: Path) -> None:
    bomb_png(p)


@pytest.mark.parametrize(
    ("maker", "words"),
    [(_bad_text, "not an image"), (_bad_empty, "empty"), (_bad_truncated, "truncated"),
     (_bad_bomb, "--max-pixels N")],
    ids=["text", "empty", "truncated", "bomb"],
)
def test_bad_input_one_line_exit_2_no_output(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             maker: object, words: str) -> None:
    src = tmp_path / "bad.png"
    maker(src)  # type: ignore[operator]
    start = time.perf_counter()
    code, out, err = run(["degrade", str(src), "-o", str(tmp_path / "out.png"),
                          "--record", str(tmp_path / "r.json")], capsys)
    assert time.perf_counter() - start < 2.0
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("uare: error: ") and str(src) in lines[0]
    assert words in lines[0]
    assert names(tmp_path) == ["bad.png"]  # no output, no record, no temporary file


def test_max_pixels_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make(tmp_path / "in.png")  # 32 x 40 = 1280 pixels
    code, _, err = run(["degrade", str(src), "-o", str(tmp_path / "o.png"), "--max-pixels", "1279"], capsys)
    assert code == 2 and "1,279" in err and "--max-pixels" in err
    assert run(["degrade", str(src), "-o", str(tmp_path / "o.png"), "--max-pixels", "1280"], capsys)[0] == 0


def test_missing_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["degrade", str(tmp_path / "nope.png"), "-o", str(tmp_path / "o.png")], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "nope.png" in err


def test_unknown_type_fails_before_reading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make(tmp_path / "in.png")
    code, _, err = run(["degrade", str(src), "-o", str(tmp_path / "o.png"), "--types", "sparkle"], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "sparkle" in err
    assert names(tmp_path) == ["in.png"]


def test_existing_output_refused_unless_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make(tmp_path / "in.png")
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    code, _, err = run(["degrade", str(src), "-o", str(out)], capsys)
    assert code == 2 and "--overwrite" in err and "out.png" in err and len(err.splitlines()) == 1
    assert out.read_bytes() == b"keep me"
    assert run(["degrade", str(src), "-o", str(out), "--overwrite"], capsys)[0] == 0
    assert read_image(out).pixels.shape == (32, 40, 3)


def test_existing_record_refused_before_writing_the_image(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    src = make(tmp_path / "in.png")
    (tmp_path / "r.json").write_text("{}")
    code, _, err = run(["degrade", str(src), "-o", str(tmp_path / "o.png"), "--record", str(tmp_path / "r.json")],
                       capsys)
    assert code == 2 and "r.json" in err
    assert names(tmp_path) == ["in.png", "r.json"]


def test_unexpected_errors_are_not_swallowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kw: object) -> None:
        raise RuntimeError("engine bug")

    from uare.degrade import files

    monkeypatch.setattr(files, "_degrade_fn", lambda: broken)
    src = make(tmp_path / "in.png")
    with pytest.raises(RuntimeError, match="engine bug"):
        cli.main(["degrade", str(src), "-o", str(tmp_path / "o.png")])


# --- degrade, folders --------------------------------------------------------------------------


def test_folder_with_one_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i, name in enumerate(("a.png", "c.png", "d.jpg")):
        make(src / name, picture(seed=i))
    (src / "b.png").write_text("not an image")
    (src / "notes.txt").write_text("ignored")
    dst = tmp_path / "out"
    code, out, err = run(["degrade", str(src), "-o", str(dst), "--seed", "5", "--types", "noise",
                          "--record", str(tmp_path / "r.json")], capsys)
    assert code == 2
    assert names(dst) == ["a.png", "c.png", "d.jpg"]
    assert "degraded 3, skipped 1" in out
    # a line per file in a pipe (uare degrade: i/n ...), then only the problems
    assert [ln for ln in err.splitlines() if ln.startswith("uare degrade: ")][-1].startswith("uare degrade: 4/4 img")
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("uare degrade: ")]
    assert lines == [ln for ln in lines if "b.png" in ln or ln.startswith("uare: note:") and "notes.txt" in ln]
    assert len(lines) == 2  # one line per problem, and the per-file status lines
    rec = json.loads((tmp_path / "r.json").read_text())
    assert sorted(rec) == ["a.png", "c.png", "d.jpg"]
    # File i in name order (b.png included) is degraded with seed 5 + i.
    assert [rec[n]["seed"] for n in ("a.png", "c.png", "d.jpg")] == [5, 7, 8]
    assert run(["degrade", str(src / "c.png"), "-o", str(tmp_path / "c_alone.png"), "--seed", "7",
                "--types", "noise"], capsys)[0] == 0
    np.testing.assert_array_equal(read_image(dst / "c.png").pixels, read_image(tmp_path / "c_alone.png").pixels)


def test_folder_all_good_exit_0_and_ext(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    make(src / "x.jpg")
    make(src / "y.bmp")
    code, out, _ = run(["degrade", str(src), "-o", str(tmp_path / "out"), "--ext", "png"], capsys)
    assert code == 0 and "degraded 2, skipped 0" in out
    assert names(tmp_path / "out") == ["x.png", "y.png"]


def test_folder_refuses_existing_output_before_processing(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    make(src / "a.png")
    make(src / "b.png")
    dst = tmp_path / "out"
    dst.mkdir()
    (dst / "b.png").write_bytes(b"keep")
    code, _, err = run(["degrade", str(src), "-o", str(dst)], capsys)
    assert code == 2 and "b.png" in err and "--overwrite" in err
    assert names(dst) == ["b.png"] and (dst / "b.png").read_bytes() == b"keep"  # a.png not written either


def test_folder_output_name_clash_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    make(src / "a.png")
    make(src / "a.jpg")
    code, _, err = run(["degrade", str(src), "-o", str(tmp_path / "out"), "--ext", "png"], capsys)
    assert code == 2 and "a.jpg" in err and "a.png" in err
    assert not (tmp_path / "out").exists()


def test_folder_into_itself_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make(tmp_path / "a.png")
    code, _, err = run(["degrade", str(tmp_path), "-o", str(tmp_path), "--overwrite"], capsys)
    assert code == 2 and "input folder" in err
    assert names(tmp_path) == ["a.png"]


# --- as a program ------------------------------------------------------------------------------


def test_python_dash_m_uare_degrade(tmp_path: Path) -> None:
    src = make(tmp_path / "in.png")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "uare", "degrade", str(src), "-o", str(tmp_path / "out.png"), "--types", "blur"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert read_image(tmp_path / "out.png").pixels.shape == (32, 40, 3)
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 2
    assert again.stderr.strip().startswith("uare: error: ") and len(again.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- hostile flags and files (issue #13)
@pytest.mark.parametrize("flag", [["--tile", "-16"], ["--overlap", "-5"], ["--seed", str(2**70)],
                                  ["--device", "foo"], ["--steps", "100000"], ["--steps", "0"], ["--cfg-text", "nan"],
                                  ["--threads", "0"], ["--max-pixels", "-1"]])
def test_restore_refuses_bad_numbers_with_a_usage_error(tmp_path, capsys, flag):
    from PIL import Image

    src = tmp_path / "in.png"
    Image.new("RGB", (32, 32)).save(src)
    code, _, err = run(["restore", str(src), "-o", str(tmp_path / "out.png"), *flag], capsys)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert "error: argument" in last and flag[0] in last, err
    assert not (tmp_path / "out.png").exists()


def test_restore_never_writes_over_its_input(tmp_path, capsys):
    from PIL import Image

    src = tmp_path / "in.png"
    Image.new("RGB", (32, 32), (10, 20, 30)).save(src)
    before = src.read_bytes()
    assert cli.main(["restore", str(src), "-o", str(src), "--overwrite"]) == 2
    assert "the output is the input file" in capsys.readouterr().err
    assert src.read_bytes() == before


def test_inference_json_and_weights_are_checked(tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    from uare.errors import UareError
    from uare.infer.pipeline import InferenceDefaults
    from uare.model.checkpoint import CheckpointError, load_checkpoint
    from uare.model.config import micro
    from uare.model.random_init import init_random
    from uare.model.tokenizer import train_quality_tokenizer

    (tmp_path / "inference.json").write_text('{"steps": "many"}')
    with pytest.raises(UareError, match="steps must be int"):
        InferenceDefaults.from_folder(tmp_path)
    tok = train_quality_tokenizer(vocab_size=512, seed=0)
    ck = init_random(tmp_path / "m", micro(vocab_size=tok.vocab_size), seed=0, tokenizer=tok)
    w = load_file(str(ck / "model.safetensors"))
    w["llm2vae.bias"] = torch.full_like(w["llm2vae.bias"], float("nan"))
    save_file(w, str(ck / "model.safetensors"))
    with pytest.raises(CheckpointError, match="llm2vae.bias holds NaN or Inf"):
        load_checkpoint(ck)


def test_folder_mode_reports_files_it_leaves_out_and_refuses_sidecar_collisions(tmp_path, capsys):
    from PIL import Image

    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(src / "x.png")
    Image.new("RGB", (32, 32), (10, 200, 10)).save(src / "x.jpg")
    Image.new("P", (32, 32)).save(src / "anim.gif")
    (src / "notes.txt").write_text("not an image")
    code, _, err = run(["degrade", str(src), "-o", str(tmp_path / "out"), "--types", "noise", "--severity", "2"],
                       capsys)
    assert code == 0 and "left out 2 file(s)" in err and "anim.gif" in err and "notes.txt" in err
    code, _, err = run(["restore", str(src), "-o", str(tmp_path / "r"), "--sidecar"], capsys)
    assert code == 2 and "x.json: two outputs would share this sidecar" in err
    assert not (tmp_path / "r").exists()


def test_every_command_takes_threads_and_the_default_leaves_busy_cores_alone(monkeypatch) -> None:
    import argparse

    from uare import threads
    from uare.cli import build_parser

    def leaves(p: argparse.ArgumentParser, name: str = "uare"):
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield name, p
        for a in subs:
            for k, child in a.choices.items():
                yield from leaves(child, f"{name} {k}")

    found = dict(leaves(build_parser()))
    assert {"uare degrade", "uare restore", "uare train", "uare demo", "uare bench restore"} <= set(found)
    missing = [n for n, p in found.items() if not any("--threads" in a.option_strings for a in p._actions)]
    assert not missing
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    monkeypatch.setattr(threads, "others_running", lambda: 3.2)
    assert threads.default_threads() == 5
    monkeypatch.setattr(threads, "others_running", lambda: 20.0)
    assert threads.default_threads() == 1
    monkeypatch.undo()
    assert 0 <= threads.others_running() < 1000  # the real reading (this test process excluded)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.default_threads() == 3


def test_threads_flag_reaches_torch(tmp_path) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        src = tmp_path / "a.png"
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(src)
        assert cli.main(["degrade", str(src), "-o", str(tmp_path / "b.png"), "--types", "noise", "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1
        assert cli.main(["degrade", str(src), "-o", str(tmp_path / "c.png"), "--threads", "0"]) == 2
    finally:
        torch.set_num_threads(before)
