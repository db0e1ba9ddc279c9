"""Shared by the tests that start ``uare demo`` in a subprocess (test_web_server, test_web_browser):
a random micro checkpoint folder and a running demo server that is always stopped."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def write_micro_model(folder: Path, inference: dict) -> Path:
    """A random micro uare checkpoint with its own small tokenizer and ``inference.json``."""
    from uare.model.config import micro
    from uare.model.random_init import init_random
    from uare.model.tokenizer import train_quality_tokenizer

    tok = train_quality_tokenizer(vocab_size=600, n_samples=1500, seed=0)
    init_random(folder, micro(vocab_size=tok.vocab_size), fmt="uare", seed=0, tokenizer=tok)
    (folder / "inference.json").write_text(json.dumps(inference))
    return folder


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_demo(model: Path, root: Path, args: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 timeout: float = 90) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """``uare demo --model MODEL`` on a free port, its output in ``root/server.log``; yields (process, url,
    log) once the page answers, and stops the server afterwards (SIGTERM, then SIGKILL), even on failure."""
    port = free_port()
    log = root / "server.log"
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "uare", "demo", "--model", str(model), "--port", str(port),
                                 *args], cwd=root, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"uare demo exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"uare demo did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield proc, url, log
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
