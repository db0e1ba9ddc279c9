"""Training checkpoints: atomic folders that resume exactly and also load as uare model checkpoints.

Layout of ``<out>/checkpoints/step_NNNNNNNN/``::

    config.json  model.safetensors  ae.safetensors  tokenizer.json   a uare checkpoint (raw weights)
    ema.safetensors                                                   the EMA weights, same keys
    train_state.pt      optimizer (FQN-keyed), scheduler, RNG states, data position; tensors and
                        primitive containers only, read back with ``torch.load(weights_only=True)``
    train.json          step, stage, world size, the model config and the training config

A folder is written under a temporary name in the same directory and renamed into place, then the
``latest`` file is replaced atomically; a run killed at any moment leaves either the old or the new
checkpoint, never a half-written one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from uare import __version__
from uare.errors import UareError
from uare.model.config import UAREConfig
from uare.model.safetensors_header import CheckpointError, read_header
from uare.model.vae import VAE_FILE, save_vae
from uare.train.model_setup import config_json, copy_tokenizer_files

FORMAT = "uare-train-1"


class ResumeError(UareError):
    """A checkpoint cannot be resumed from (missing, corrupt, or from another model / stage)."""


class CorruptCheckpoint(ResumeError):
    """A checkpoint's files are missing, truncated or damaged (a resume may fall back to an earlier one)."""


def step_dir_name(step: int) -> str:
    return f"step_{step:08d}"


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def remove_stale(root: Path) -> list[str]:
    """Delete the hidden ``.step_N.tmp-*`` / ``.step_N.old-*`` folders a killed save leaves behind."""
    gone = []
    if root.is_dir():
        for p in root.iterdir():
            if p.is_dir() and p.name.startswith(".step_") and (".tmp-" in p.name or ".old-" in p.name):
                shutil.rmtree(p, ignore_errors=True)
                gone.append(p.name)
    return gone


def save_train_checkpoint(root: Path, step: int, raw: dict[str, torch.Tensor], ema: dict[str, torch.Tensor],
                          vae_state: dict[str, torch.Tensor], model_cfg: UAREConfig, tokenizer_src: Path,
                          train_state: dict[str, Any], meta: dict[str, Any], keep: int) -> Path:
    """Write checkpoint ``step`` under ``root`` atomically, point ``root/latest`` at it, prune old ones."""
    root.mkdir(parents=True, exist_ok=True)
    remove_stale(root)
    final = root / step_dir_name(step)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=root))
    try:
        st_meta = {"format": "uare", "uare_version": __version__, "train_step": str(step)}
        save_file({k: v.contiguous() for k, v in raw.items()}, str(tmp / "model.safetensors"), metadata=st_meta)
        save_file({k: v.contiguous() for k, v in ema.items()}, str(tmp / "ema.safetensors"), metadata=st_meta)
        save_vae(vae_state, tmp / VAE_FILE, model_cfg.vae)
        (tmp / "config.json").write_text(config_json(model_cfg))
        copy_tokenizer_files(tokenizer_src, tmp)
        torch.save(train_state, tmp / "train_state.pt")
        (tmp / "train.json").write_text(json.dumps({"format": FORMAT, "step": step, **meta}, indent=2))
        if final.exists():  # a re-run of the same step: replace
            old = root / f".{final.name}.old-{os.getpid()}"
            os.replace(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _atomic_write_text(root / "latest", final.name + "\n")
    done = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_"))
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def resolve_resume(path: str | Path) -> Path:
    """A checkpoint folder from ``--resume``: the folder itself, a run folder, or a ``checkpoints`` folder."""
    p = Path(path)
    if not p.exists():
        raise ResumeError(f"{p}: no such checkpoint folder")
    for root in (p, p / "checkpoints"):
        if (root / "latest").is_file():
            name = (root / "latest").read_text().strip()
            if (root / name).is_dir():
                return root / name
            raise ResumeError(f"{root / 'latest'} points at {name}, which does not exist")
    return p


@dataclass
class Resumed:
    """What a checkpoint folder holds, read and checked."""

    path: Path
    step: int
    raw: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor]
    state: dict[str, Any]
    meta: dict[str, Any]


def load_train_checkpoint(path: str | Path, model_cfg: UAREConfig, stage: int, log=None) -> Resumed:
    """Read a training checkpoint, refusing corrupt files and checkpoints of another model or stage.

    Given a run (or ``checkpoints``) folder, a latest checkpoint that cannot be read (a run killed while
    the disk failed, a file damaged later) falls back to the newest earlier one that can, and says so
    through ``log``; an explicit ``step_N`` folder is never replaced by another.
    """
    p = Path(path)
    root = next((r for r in (p, p / "checkpoints") if (r / "latest").is_file()), None)
    if root is None:
        return _load_one(resolve_resume(path), model_cfg, stage)
    remove_stale(root)
    first_error = None
    tried = []
    latest = root / (root / "latest").read_text().strip()
    candidates = [latest] + sorted((c for c in root.iterdir() if c.is_dir() and c.name.startswith("step_")
                                    and c != latest), reverse=True)
    for c in candidates:
        if not c.is_dir():
            continue
        try:
            r = _load_one(c, model_cfg, stage)
        except CorruptCheckpoint as e:
            first_error = first_error or e
            tried.append(c.name)
            continue
        if tried and log is not None:
            log(f"resume: {', '.join(tried)} unreadable ({first_error}); resuming from {c.name}")
        return r
    raise first_error or ResumeError(f"{root}: no checkpoint to resume from")


def _load_one(folder: Path, model_cfg: UAREConfig, stage: int) -> Resumed:
    meta_path = folder / "train.json"
    if not meta_path.is_file():
        raise ResumeError(f"{folder}: not a uare training checkpoint (no train.json); to start from model "
                          "weights only, use init.path instead of --resume")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise CorruptCheckpoint(f"{meta_path}: corrupt ({e.msg})") from None
    if meta.get("format") != FORMAT:
        raise ResumeError(f"{folder}: unknown training checkpoint format {meta.get('format')!r} (expected {FORMAT})")
    if meta.get("model_config") != json.loads(json.dumps(model_cfg.to_dict())):
        raise ResumeError(f"{folder}: checkpoint of another model ({meta.get('model_config', {}).get('name')!r}, "
                          f"this run: {model_cfg.name!r} with different sizes); refusing to resume")
    if meta.get("stage") != stage:
        raise ResumeError(f"{folder}: checkpoint of stage {meta.get('stage')}, this run is stage {stage}; start "
                          "the next stage with init.path instead of --resume")
    tensors = {}
    for name in ("model.safetensors", "ema.safetensors"):
        f = folder / name
        if not f.is_file():
            raise CorruptCheckpoint(f"{folder}: missing {name}")
        try:
            read_header(f)
            tensors[name] = load_file(str(f))
        except (CheckpointError, SafetensorError, OSError, ValueError) as e:
            raise CorruptCheckpoint(f"{f}: corrupt or truncated safetensors file ({' '.join(str(e).split())})") from None
    st = folder / "train_state.pt"
    if not st.is_file():
        raise CorruptCheckpoint(f"{folder}: missing train_state.pt")
    if st.stat().st_size == 0:
        raise CorruptCheckpoint(f"{st}: empty file (0 bytes); the run was stopped while writing it")
    try:
        state = torch.load(st, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors come in many types; all mean the same here
        why = " ".join(str(e).split())[:200] or type(e).__name__
        raise CorruptCheckpoint(f"{st}: corrupt or not a plain tensor state ({why})") from None
    if not isinstance(state, dict) or state.get("step") != meta.get("step"):
        raise CorruptCheckpoint(f"{st}: does not match {meta_path} (step {meta.get('step')})")
    return Resumed(folder, int(meta["step"]), tensors["model.safetensors"], tensors["ema.safetensors"], state, meta)
