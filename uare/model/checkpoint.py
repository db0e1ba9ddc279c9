"""Checkpoint folders: BAGEL's public layout and our own, loaded strictly and lazily.

BAGEL folder (as published for BAGEL-7B-MoT)::

    llm_config.json  vit_config.json  ema.safetensors  ae.safetensors  tokenizer files

uare folder (a BAGEL checkpoint plus metadata; the same tensor keys)::

    config.json  model.safetensors  ae.safetensors  tokenizer.json

Loading builds the modules on the ``meta`` device, checks every key and shape against the
safetensors headers *before* reading any tensor (one error lists all missing, unexpected and
mis-shaped keys), then reads tensors one at a time straight to the target device and dtype, so a
14.6 B-parameter checkpoint never needs twice its size in memory. Pickle checkpoints are refused.

Values BAGEL's loader hard-codes are derived from the tensors instead, so tiny checkpoints in the
same layout load too: the VAE widths from ``ae.safetensors``, ``max_latent_size`` and the ViT grid
from the position tables. For the real checkpoint they come out as BAGEL's (64, 70, FLUX AE).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from uare import __version__
from uare.model.config import LLMConfig, UAREConfig, ViTConfig, _read_json
from uare.model.loading import (  # noqa: F401 - re-exported: the loaders' helpers were defined here
    _materialize,
    _meta_module,
    expected_shapes,
    load_module_state,
    validate_keys,
)
from uare.model.safetensors_header import CheckpointError, TensorInfo, read_header
from uare.model.tokenizer import Tokenizer
from uare.model.unified import UAREModel
from uare.model.vae import VAE, VAE_FILE, check_vae, fill_vae, save_vae, vae_config_from_header

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
BAGEL_FILES = ("llm_config.json", "vit_config.json", "ema.safetensors", VAE_FILE)
UARE_FILES = ("config.json", "model.safetensors", VAE_FILE)
TORCH_DTYPES = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
                "fp16": torch.float16, "float16": torch.float16}
ST_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


@dataclass
class Checkpoint:
    """A loaded checkpoint: the unified model, its VAE, its tokenizer and where it came from."""

    model: UAREModel
    vae: VAE
    tokenizer: Tokenizer
    config: UAREConfig
    format: str
    path: Path


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in TORCH_DTYPES:
        raise CheckpointError(f"unknown dtype {dtype!r}; choose from fp32, bf16, fp16")
    return TORCH_DTYPES[dtype]


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CheckpointError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise CheckpointError("--device mps was asked for but MPS is not available; use --device cpu")
    return dev


# ---------------------------------------------------------------------------- format detection
def detect_format(folder: str | Path) -> str:
    """``bagel`` or ``uare``; a clear error for anything else (missing files, pickles, not a folder)."""
    folder = Path(folder)
    if not folder.exists():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: a checkpoint is a folder (config.json + model.safetensors + "
                              f"{VAE_FILE} + tokenizer.json, or BAGEL's layout), not a file")
    names = {p.name for p in folder.iterdir()}
    if (folder / "config.json").is_file() and "model.safetensors" in names:
        cfg = _read_json(folder / "config.json")
        if cfg.get("format") == "uare":
            missing = [f for f in UARE_FILES if f not in names]
            if missing:
                raise CheckpointError(f"{folder}: uare checkpoint is missing {', '.join(missing)}")
            return "uare"
    if "llm_config.json" in names or "ema.safetensors" in names:
        missing = [f for f in BAGEL_FILES if f not in names]
        if missing:
            raise CheckpointError(f"{folder}: BAGEL checkpoint is missing {', '.join(missing)}")
        return "bagel"
    pickles = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES))
    if pickles:
        raise CheckpointError(f"{folder}: holds pickle weights ({', '.join(pickles[:3])}), which uare refuses to "
                              "load (unpickling runs code); convert them to safetensors")
    raise CheckpointError(f"{folder}: not a checkpoint folder (expected config.json + model.safetensors + "
                          f"{VAE_FILE}, or BAGEL's llm_config.json + vit_config.json + ema.safetensors + "
                          f"{VAE_FILE})")


# ---------------------------------------------------------------------------- configs from tensors
def _side_from_table(infos: dict[str, TensorInfo], key: str, path: Path) -> int:
    if key not in infos:
        raise CheckpointError(f"{path}: missing tensor {key}")
    side = math.isqrt(infos[key].shape[0])
    if side * side != infos[key].shape[0]:
        raise CheckpointError(f"{path}: {key} has {infos[key].shape[0]} rows, not a square grid")
    return side


def config_from_bagel_folder(folder: Path) -> UAREConfig:
    """Configs as BAGEL's loader builds them, with the grid sizes read from the tensors."""
    ema, ema_meta = read_header(folder / "ema.safetensors")
    ae, ae_meta = read_header(folder / VAE_FILE)
    cfg = UAREConfig.from_bagel_files(folder / "llm_config.json", folder / "vit_config.json",
                                      vae_config_from_header(ae, ae_meta, folder / VAE_FILE))
    cfg.max_latent_size = _side_from_table(ema, "latent_pos_embed.pos_embed", folder / "ema.safetensors")
    cfg.vit_max_num_patch_per_side = _side_from_table(ema, "vit_pos_embed.pos_embed", folder / "ema.safetensors")
    return cfg


def load_config(folder: str | Path) -> tuple[UAREConfig, str]:
    folder = Path(folder)
    fmt = detect_format(folder)
    if fmt == "uare":
        return UAREConfig.from_dict(_read_json(folder / "config.json"), str(folder / "config.json")), fmt
    return config_from_bagel_folder(folder), fmt


# ---------------------------------------------------------------------------- loading
def load_checkpoint(folder: str | Path, device: str | torch.device | None = "cpu",
                    dtype: str | torch.dtype | None = "fp32", vae_dtype: str | torch.dtype | None = None
                    ) -> Checkpoint:
    """Load a BAGEL or uare checkpoint folder strictly (see the module docstring)."""
    folder = Path(folder)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    vdt = resolve_dtype(vae_dtype) if vae_dtype is not None else (torch.float32 if dev.type == "cpu" else dt)
    cfg, fmt = load_config(folder)
    weights = folder / ("model.safetensors" if fmt == "uare" else "ema.safetensors")
    infos, _ = read_header(weights)
    ae_file = folder / VAE_FILE
    ae_infos, _ = read_header(ae_file)
    tokenizer = Tokenizer.from_folder(folder)
    if tokenizer.vocab_size > cfg.llm.vocab_size:
        raise CheckpointError(f"{folder}: tokenizer has {tokenizer.vocab_size} tokens but the model only "
                              f"{cfg.llm.vocab_size} embeddings")
    model = _meta_module(lambda: UAREModel(cfg))
    validate_keys(infos, expected_shapes(model), weights)
    vae = check_vae(cfg.vae, ae_infos, ae_file)
    load_module_state(model, weights, infos, dev, dt)
    _materialize(model, dev)
    fill_vae(vae, ae_file, ae_infos, dev, vdt)
    model.eval()
    vae.eval()
    return Checkpoint(model, vae, tokenizer, cfg, fmt, folder)


# ---------------------------------------------------------------------------- saving
def _st_dtype(t: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    t = t.detach().to("cpu")
    if dtype is not None and t.is_floating_point():
        t = t.to(dtype)
    return t.contiguous()


def _state_for_save(module: nn.Module, dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    return {k: _st_dtype(v, dtype) for k, v in module.state_dict().items()}


def _publish(tmp: Path, out: Path, overwrite: bool) -> None:
    if out.exists():
        if not overwrite:
            shutil.rmtree(tmp, ignore_errors=True)
            raise CheckpointError(f"{out}: already exists; pass --overwrite to replace it")
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def _llm_json(cfg: LLMConfig) -> dict:
    d = {k: getattr(cfg, k) for k in LLMConfig.__dataclass_fields__}
    d.update(architectures=["Qwen2ForCausalLM"], model_type="qwen2", rope_scaling=None, torch_dtype="bfloat16",
             bos_token_id=None, use_cache=True, use_sliding_window=False, sliding_window=None)
    return d


def _vit_json(cfg: ViTConfig) -> dict:
    d = {k: getattr(cfg, k) for k in ViTConfig.__dataclass_fields__ if k != "select_layer"}
    d.update(model_type="siglip_vision_model", attention_dropout=0.0)
    return d


def save_checkpoint(out: str | Path, model: UAREModel, vae: VAE, tokenizer: Tokenizer, fmt: str = "uare",
                    dtype: str | torch.dtype | None = None, overwrite: bool = False,
                    metadata: dict[str, str] | None = None) -> Path:
    """Write a checkpoint folder in ``uare`` or ``bagel`` layout, atomically (temp folder + rename)."""
    if fmt not in ("uare", "bagel"):
        raise CheckpointError(f"unknown checkpoint format {fmt!r}; choose uare or bagel")
    out = Path(out)
    if out.exists() and not overwrite:
        raise CheckpointError(f"{out}: already exists; pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    dt = resolve_dtype(dtype) if dtype is not None else None
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        cfg = model.config
        meta = {"format": fmt, "uare_version": __version__, **(metadata or {})}
        save_vae(vae, tmp / VAE_FILE, cfg.vae, torch.float32 if dt is None else dt)
        if fmt == "uare":
            save_file(_state_for_save(model, dt), str(tmp / "model.safetensors"), metadata=meta)
            (tmp / "config.json").write_text(json.dumps({"format": "uare", "uare_version": __version__,
                                                         **cfg.to_dict()}, indent=2))
            tokenizer.save(tmp, qwen2_files=False)
        else:
            save_file(_state_for_save(model, dt), str(tmp / "ema.safetensors"), metadata=meta)
            (tmp / "llm_config.json").write_text(json.dumps(_llm_json(cfg.llm), indent=2))
            (tmp / "vit_config.json").write_text(json.dumps(_vit_json(cfg.vit), indent=2))
            tokenizer.save(tmp, qwen2_files=True)
        _publish(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
