"""Hub ids (``ORG/NAME[@REV]``) resolve through huggingface_hub's cache, offline, for uare and BAGEL
layouts. The tests build the cache folder themselves (the layout huggingface_hub documents: refs/ and
snapshots/) and never touch the network (HF_HUB_OFFLINE=1 in a subprocess, or patched constants)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from uare.hub import HubError, parse_hub_id, resolve_model

pytest.importorskip("huggingface_hub", reason="the hub extra is not installed (pip install \"uare[hub]\")")

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _cache_with(tmp: Path, repo: str, folder: Path, commit: str = COMMIT, ref: str = "main") -> Path:
    """An HF hub cache holding ``folder`` as ``repo`` at ``commit``, with ``refs/<ref>`` pointing to it."""
    cache = tmp / "hf_cache"
    root = cache / ("models--" + repo.replace("/", "--"))
    snap = root / "snapshots" / commit
    shutil.copytree(folder, snap)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / ref).write_text(commit)
    return cache


@pytest.fixture(scope="module")
def micro_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from uare.model.config import micro
    from uare.model.random_init import init_random
    from uare.model.tokenizer import train_quality_tokenizer

    d = tmp_path_factory.mktemp("hub_models")
    tok = train_quality_tokenizer(vocab_size=512, seed=0)
    out = {}
    for fmt in ("uare", "bagel"):
        out[fmt] = init_random(d / fmt, micro(vocab_size=tok.vocab_size), fmt=fmt, seed=0, tokenizer=tok)
        (out[fmt] / "inference.json").write_text(json.dumps({"steps": 1, "assess_crop": 56, "assess_crops": 1}))
    return out


def test_hub_id_shape() -> None:
    assert parse_hub_id("ByteDance-Seed/BAGEL-7B-MoT") == ("ByteDance-Seed/BAGEL-7B-MoT", None)
    assert parse_hub_id("org/name@v1.0") == ("org/name", "v1.0")
    assert parse_hub_id(f"org/name@{COMMIT}") == ("org/name", COMMIT)
    for local in ("./org/name", "/abs/path", "~/x/y", "a/b/c", "name", "../up/x", "org/..", "a\\b/c"):
        assert parse_hub_id(local) is None, local


def test_local_folders_win_and_missing_paths_stay_paths(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert resolve_model("org/name") == Path("org/name")  # exists on disk: never the Hub
    assert resolve_model("runs/x/y") == Path("runs/x/y")  # not Hub-shaped: the loader says "missing"


@pytest.mark.parametrize("fmt", ["uare", "bagel"])
def test_offline_cache_resolves_ids_and_revisions(micro_dirs, tmp_path: Path, monkeypatch, fmt: str) -> None:
    from huggingface_hub import constants

    from uare.infer import UARE

    cache = _cache_with(tmp_path, f"someorg/{fmt}-micro", micro_dirs[fmt])
    (cache / f"models--someorg--{fmt}-micro" / "refs" / "v1").write_text(COMMIT)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    snap = cache / f"models--someorg--{fmt}-micro" / "snapshots" / COMMIT
    assert resolve_model(f"someorg/{fmt}-micro") == snap
    assert resolve_model(f"someorg/{fmt}-micro@v1") == snap
    assert resolve_model(f"someorg/{fmt}-micro", revision=COMMIT) == snap
    with pytest.raises(HubError, match="two revisions"):
        resolve_model(f"someorg/{fmt}-micro@v1", revision="main")
    with pytest.raises(HubError, match=r"not in the local cache .* while offline; download it once"):
        resolve_model(f"someorg/{fmt}-micro@v2")
    with pytest.raises(HubError, match="not in the local cache"):
        resolve_model("someorg/absent")
    # the same weights as the folder: same score
    img = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    a = UARE.from_pretrained(micro_dirs[fmt]).assess(img, describe=False).score
    b = UARE.from_pretrained(f"someorg/{fmt}-micro", revision="v1").assess(img, describe=False).score
    assert a == b


def test_cli_model_hub_id_offline(micro_dirs, tmp_path: Path) -> None:
    cache = _cache_with(tmp_path, "someorg/uare-micro", micro_dirs["uare"])
    img = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(img)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(tmp_path / "hf_home")}
    run = [sys.executable, "-m", "uare", "assess", str(img), "--no-describe", "--json", "--model"]
    ok = subprocess.run([*run, "someorg/uare-micro@main"], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert 1.0 <= json.loads(ok.stdout)["score"] <= 5.0
    bad = subprocess.run([*run, "someorg/nothing-here"], env=env, capture_output=True, text=True, timeout=120)
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1
    assert lines[0].startswith("uare: error: someorg/nothing-here: no such folder, and the Hub model")
    assert "hf download someorg/nothing-here" in lines[0]
