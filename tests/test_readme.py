"""README.md as a newcomer meets it: every ``uare`` command it shows parses, every repository file it
names exists, training commands come after the commands that make what they start from, and the blocks
marked ``<!-- readme-test: run -->`` run as written (in a scratch copy of ``examples/``; ``pip install``
steps are skipped: the package under test is installed)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _blocks() -> list[tuple[str, str]]:
    """(marker, body) of every fenced bash block; marker is the readme-test comment just above, or ''."""
    out = []
    for m in re.finditer(r"(<!-- readme-test: (\w+)[^>]*-->\s*\n)?```bash\n(.*?)```", README, re.S):
        out.append((m.group(2) or "", m.group(3)))
    return out


def _commands(body: str) -> list[str]:
    """Shell commands of a block: continuation lines joined, comments dropped, ``&&`` chains split."""
    text = body.replace("\\\n", " ")
    cmds = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            tokens = line.split()
        words, cur = [], []
        for t in tokens:
            if t in ("&&", "|", ";"):
                words.append(cur)
                cur = []
            else:
                cur.append(t)
        words.append(cur)
        cmds += [shlex.join(w) for w in words if w]
    return cmds


ALL = [c for _, body in _blocks() for c in _commands(body)]


def test_the_readme_has_runnable_blocks() -> None:
    markers = [m for m, _ in _blocks()]
    assert markers.count("run") >= 2 and any(c.startswith("uare train") for c in ALL)


@pytest.mark.parametrize("cmd", [c for c in ALL if c.startswith("uare ")])
def test_every_uare_command_parses(cmd: str) -> None:
    from uare.cli import build_parser

    argv = shlex.split(cmd)[1:]
    try:
        build_parser().parse_args(argv)
    except SystemExit as e:
        pytest.fail(f"README command does not parse ({e.code}): {cmd}")


def test_every_repository_file_named_exists() -> None:
    names = set(re.findall(r"(?<![\w/.])((?:configs|examples|benchmarks|uare|docs|tests)/[\w./-]+\.\w+)", README))
    missing = sorted(n for n in names if not (REPO / n).exists())
    assert not missing, f"README names files the repository does not have: {missing}"


def test_training_commands_come_after_what_they_start_from() -> None:
    """Each ``uare train CONFIG`` (without --resume) starts from init.path / init.vae: a folder the README
    made earlier (a train run's out, a vae_pretrain --out, a ``-C``/``mkdir -p`` target) or the repo's."""
    from uare.train.config import load_config

    made: list[str] = []
    problems = []
    for cmd in ALL:
        argv = shlex.split(cmd)
        if argv[:2] == ["uare", "train"] and "--resume" not in argv and "--dry-run" not in argv:
            sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
            cfg = load_config(REPO / argv[2], sets)
            out = argv[argv.index("--out") + 1] if "--out" in argv else str(cfg.out)
            for need in (cfg.init.path, cfg.init.vae):
                if need and need.startswith("runs/") and not any(need == m or need.startswith(m.rstrip("/") + "/")
                                                                 for m in made):
                    problems.append(f"{cmd}: needs {need}, which no earlier README command makes")
            made.append(out)
        elif "--out" in argv:
            made.append(argv[argv.index("--out") + 1])
        elif argv[:2] == ["mkdir", "-p"]:
            made += argv[2:]
        elif "-C" in argv:
            made.append(argv[argv.index("-C") + 1])
    assert not problems, problems


@pytest.mark.parametrize("index", [i for i, (m, _) in enumerate(_blocks()) if m == "run"])
def test_run_blocks_run_as_written(index: int, tmp_path: Path) -> None:
    _, body = _blocks()[index]
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    uare = [sys.executable, "-m", "uare"]
    for cmd in _commands(body):
        argv = shlex.split(cmd)
        if argv[:2] == ["pip", "install"]:
            continue  # the package under test is installed
        assert argv[0] == "uare", f"a run block may only hold pip and uare commands: {cmd}"
        r = subprocess.run([*uare, *argv[1:], "--threads", "1"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, f"{cmd}\n{r.stderr[-2000:]}"
