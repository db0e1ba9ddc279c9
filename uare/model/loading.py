"""Strict, lazy loading of safetensors into modules: the helpers every loader of uare shares.

Modules are built on the ``meta`` device, every key and shape is checked against the safetensors
header *before* any tensor is read (one error lists all missing, unexpected and mis-shaped keys), then
tensors are read one at a time straight to the target device and dtype.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from uare.model.mot import RotaryEmbedding
from uare.model.safetensors_header import CheckpointError, TensorInfo


def expected_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def validate_keys(infos: dict[str, TensorInfo], expected: dict[str, tuple[int, ...]], path: Path) -> None:
    """Strict key matching: one error naming every missing, unexpected and mis-shaped key."""
    missing = sorted(set(expected) - set(infos))
    unexpected = sorted(set(infos) - set(expected))
    shaped = sorted(k for k in set(expected) & set(infos) if tuple(infos[k].shape) != tuple(expected[k]))
    if not (missing or unexpected or shaped):
        return

    def show(keys: list[str], fmt=lambda k: k) -> str:
        more = f" (+{len(keys) - 8} more)" if len(keys) > 8 else ""
        return ", ".join(fmt(k) for k in keys[:8]) + more

    parts = []
    if missing:
        parts.append(f"{len(missing)} missing: {show(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected: {show(unexpected)}")
    if shaped:
        parts.append(f"{len(shaped)} mis-shaped: " + show(
            shaped, lambda k: f"{k} {list(infos[k].shape)} != expected {list(expected[k])}"))
    raise CheckpointError(f"{path}: keys do not match the model ({'; '.join(parts)}); "
                          "is this the right checkpoint for this config?")


def _meta_module(factory):
    with torch.device("meta"):
        return factory()


def _materialize(module: nn.Module, device: torch.device) -> None:
    """Re-create what a checkpoint does not hold (RoPE frequencies) on the target device."""
    for m in module.modules():
        if isinstance(m, RotaryEmbedding):
            with torch.device("cpu"):
                fresh = RotaryEmbedding(m.inv_freq.shape[0] * 2, m.theta)
            m.inv_freq = fresh.inv_freq.to(device)
    left = [n for n, t in list(module.named_parameters()) + list(module.named_buffers()) if t.is_meta]
    if left:
        raise CheckpointError(f"internal error: tensors not loaded: {', '.join(left[:5])}")


def load_module_state(module: nn.Module, path: Path, infos: dict[str, TensorInfo], device: torch.device,
                      dtype: torch.dtype) -> None:
    """Read each tensor straight to ``device`` in ``dtype`` and assign it (no second copy of the model)."""
    state = {}
    with safe_open(str(path), framework="pt", device=str(device) if device.type != "mps" else "cpu") as f:
        for key in infos:
            t = f.get_tensor(key)
            if t.is_floating_point():
                if not bool(torch.isfinite(t).all()):
                    raise CheckpointError(f"{path}: tensor {key} holds NaN or Inf values; the file is corrupt "
                                          "(re-export or re-download it)")
                t = t.to(dtype)
                if not bool(torch.isfinite(t).all()):
                    raise CheckpointError(f"{path}: tensor {key} overflows {dtype}; load with --dtype fp32 or bf16")
            state[key] = t.to(device)
    module.load_state_dict(state, strict=True, assign=True)
