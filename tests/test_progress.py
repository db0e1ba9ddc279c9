"""Progress of long commands: a bar with ETA on a terminal, a line per item and a periodic status in a
pipe or log, nothing with --quiet but the problems (skipped files)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from uare.progress import Progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_piped_progress_prints_a_line_per_item_with_eta_and_periodic_inner_status(monkeypatch) -> None:
    import uare.progress as prog

    clock = iter(float(t) for t in range(0, 1000, 4))
    monkeypatch.setattr(prog.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    p = Progress(3, "restore", stream=out, every_s=10)
    for stage_i in range(6):
        p.inner("tiles", stage_i, 6)  # 4 s apart: a status line every 10 s at most
    p.update(item="a.png")
    p.update(item="b.png")
    p.write("uare: skipped c.png: not an image")
    p.update(item="c.png")
    p.close()
    lines = out.getvalue().splitlines()
    assert [ln for ln in lines if "tiles" in ln] == [
        "uare restore: tiles 2/6 (33 %), 12 s, ETA 16 s", "uare restore: tiles 5/6 (83 %), 24 s, ETA 4 s"]
    items = [ln for ln in lines if ln.startswith("uare restore: ") and "img" in ln]
    assert re.fullmatch(r"uare restore: 1/3 img, \d+ s, ETA \d+ s: a\.png", items[0]), items[0]
    assert items[-1].startswith("uare restore: 3/3 img") and items[-1].endswith(": c.png")
    assert "uare: skipped c.png: not an image" in lines


def test_quiet_shows_only_problems_and_a_terminal_gets_a_bar() -> None:
    out = io.StringIO()
    p = Progress(2, "assess", stream=out, quiet=True)
    p.inner("denoise", 1, 4)
    p.update(item="a.png")
    p.info("assessed 2, skipped 0")
    p.write("uare: skipped b.png: not an image")
    p.close()
    assert out.getvalue() == "uare: skipped b.png: not an image\n"
    tty = _Tty()
    with Progress(4, "degrade", stream=tty) as p:
        p.update()
        p.update()
    assert "degrade:  50%" in tty.getvalue() or "degrade: 50%" in tty.getvalue()
    assert "uare degrade: 1/4" not in tty.getvalue()  # a bar, not lines


def test_folder_restore_in_a_pipe_reports_each_image_and_quiet_silences_it(tmp_path: Path) -> None:
    import json

    from uare.model.config import micro
    from uare.model.random_init import init_random
    from uare.model.tokenizer import train_quality_tokenizer

    tok = train_quality_tokenizer(vocab_size=512, seed=0)
    model = init_random(tmp_path / "m", micro(vocab_size=tok.vocab_size), seed=0, tokenizer=tok)
    (model / "inference.json").write_text(json.dumps({"steps": 1, "assess_crop": 56, "assess_crops": 1}))
    src = tmp_path / "in"
    src.mkdir()
    for k in range(3):
        Image.fromarray(np.full((32, 32, 3), 40 * k, np.uint8)).save(src / f"im{k}.png")
    (src / "bad.png").write_text("not an image")
    base = [sys.executable, "-m", "uare", "restore", str(src), "--model", str(model), "--no-assess", "--threads", "1"]
    r = subprocess.run([*base, "-o", str(tmp_path / "o1")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2  # one file skipped
    status = [ln for ln in r.stderr.splitlines() if ln.startswith("uare restore: ")]
    assert len(status) == 4 and status[-1].startswith("uare restore: 4/4 img")
    assert "restored 3, unchanged 0, skipped 1" in r.stderr  # a random model's output is never its input
    q = subprocess.run([*base, "-o", str(tmp_path / "o2"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert q.returncode == 2 and q.stderr.strip().splitlines() == [
        ln for ln in q.stderr.strip().splitlines() if ln.startswith("uare: skipped")]
    assert len(q.stderr.strip().splitlines()) == 1
