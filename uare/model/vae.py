"""The autoencoder uare uses, in one place: which class, which file, how it is built, loaded and saved.

Every other module goes through these functions (checkpoint folders, ``uare init-random``,
``uare inspect``, training and its ``--dry-run`` plan, VAE pre-training, the inference stand-in model),
so swapping the VAE means changing this module (and the class it builds) only.

- :func:`build_vae`: the module for a :class:`~uare.model.config.VAEConfig`, on the current default
  device (under ``torch.device("meta")`` it costs no memory);
- :func:`vae_shapes`, :func:`vae_num_parameters`: its keys, shapes and size, without memory;
- :data:`VAE_FILE`, :func:`vae_file`: its file in a checkpoint folder;
- :func:`vae_config_from_header`: its config recovered from the file (BAGEL's layout stores none);
- :func:`check_vae`, :func:`fill_vae`, :func:`load_vae`: strict, lazy loading (keys and shapes checked
  against the header before any tensor is read); :func:`load_pretrained_vae_weights` (``init.vae``);
- :func:`vae_metadata`, :func:`save_vae`: the file's metadata, and writing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from uare.errors import UareError
from uare.model.autoencoder import AutoEncoder
from uare.model.config import VAEConfig
from uare.model.loading import _materialize, _meta_module, expected_shapes, load_module_state, validate_keys
from uare.model.safetensors_header import CheckpointError, TensorInfo, read_header

#: the VAE class (for type hints: ``vae: VAE``)
VAE = AutoEncoder
#: the VAE's file name in a checkpoint folder (both layouts)
VAE_FILE = "ae.safetensors"


def build_vae(cfg: VAEConfig) -> VAE:
    """The autoencoder for ``cfg``, freshly initialised (on the default device; ``meta`` works)."""
    return AutoEncoder(cfg)


def vae_shapes(cfg: VAEConfig) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the autoencoder's state dict (built on ``meta``: no memory)."""
    with torch.device("meta"):
        return expected_shapes(build_vae(cfg))


def vae_num_parameters(cfg: VAEConfig) -> int:
    """Number of parameters of the autoencoder for ``cfg`` (built on ``meta``)."""
    with torch.device("meta"):
        return sum(p.numel() for p in build_vae(cfg).parameters())


def vae_file(path: str | Path) -> Path:
    """``path`` when it is a file; the VAE file inside it when it is a checkpoint folder."""
    path = Path(path)
    return path / VAE_FILE if path.is_dir() else path


def vae_config_from_header(infos: dict[str, TensorInfo], meta: dict[str, str], path: Path) -> VAEConfig:
    """Recover the AE's widths from its tensors (FLUX's ``load_ae`` hard-codes them)."""
    try:
        ch = infos["encoder.conv_in.weight"].shape[0]
        levels = sorted({int(k.split(".")[2]) for k in infos if k.startswith("encoder.down.")})
        ch_mult = [infos[f"encoder.down.{lv}.block.0.conv1.weight"].shape[0] // ch for lv in levels]
        blocks = {int(k.split(".")[4]) for k in infos if k.startswith("encoder.down.0.block.")}
        z = infos["encoder.conv_out.weight"].shape[0] // 2
    except KeyError as e:
        raise CheckpointError(f"{path}: not a FLUX-style autoencoder (no tensor {e.args[0]})") from None
    return VAEConfig(ch=ch, ch_mult=ch_mult, num_res_blocks=len(blocks), z_channels=z,
                     scale_factor=float(meta.get("scale_factor", 0.3611)),
                     shift_factor=float(meta.get("shift_factor", 0.1159)),
                     norm_groups=int(meta.get("norm_groups", 32)),
                     patch_skip="encoder.patch_skip.weight" in infos)


def check_vae(cfg: VAEConfig, infos: dict[str, TensorInfo], path: Path) -> VAE:
    """The autoencoder for ``cfg`` on ``meta``, its keys and shapes checked against ``path``'s header."""
    vae = _meta_module(lambda: build_vae(cfg))
    validate_keys(infos, expected_shapes(vae), path)
    return vae


def fill_vae(vae: VAE, path: Path, infos: dict[str, TensorInfo], device: torch.device, dtype: torch.dtype) -> VAE:
    """Read the tensors of ``path`` into the checked ``meta`` module of :func:`check_vae`."""
    load_module_state(vae, path, infos, device, dtype)
    _materialize(vae, device)
    return vae


def load_vae(path: str | Path, cfg: VAEConfig, device: torch.device, dtype: torch.dtype = torch.float32) -> VAE:
    """The autoencoder of ``path`` (its file, or a checkpoint folder), strictly, on ``device`` in ``dtype``."""
    path = vae_file(path)
    infos, _ = read_header(path)
    return fill_vae(check_vae(cfg, infos, path), path, infos, device, dtype)


def load_pretrained_vae_weights(vae: VAE, cfg: VAEConfig, path: str | Path, device: torch.device) -> None:
    """Load a pretrained VAE file of ``vae``'s shape into it; its latent scale and shift go into ``cfg``."""
    from safetensors.torch import load_file

    file = vae_file(path)
    infos, meta = read_header(file)
    validate_keys(infos, expected_shapes(vae), file)
    if "norm_groups" not in meta:  # training checkpoints before 0.1.0 stored scale and shift only:
        meta = {**meta, **_norm_groups_beside(file)}  # their config.json says the rest
    vcfg = vae_config_from_header(infos, meta, file)
    if vcfg.norm_groups != cfg.norm_groups:
        raise UareError(f"{file}: norm_groups {vcfg.norm_groups} differs from the model's {cfg.norm_groups}")
    vae.load_state_dict(load_file(str(file), device=str(device)), strict=True)
    cfg.scale_factor, cfg.shift_factor = vcfg.scale_factor, vcfg.shift_factor


def _norm_groups_beside(file: Path) -> dict[str, str]:
    """``{"norm_groups": N}`` from the uare ``config.json`` next to ``file``, if there is one."""
    import json

    try:
        groups = json.loads((Path(file).parent / "config.json").read_text())["vae"]["norm_groups"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {"norm_groups": str(int(groups))}


def vae_metadata(cfg: VAEConfig, with_norm_groups: bool = True) -> dict[str, str]:
    """The metadata stored in the VAE file: what :func:`vae_config_from_header` cannot read off the tensors."""
    meta = {"scale_factor": str(cfg.scale_factor), "shift_factor": str(cfg.shift_factor)}
    if with_norm_groups:
        meta["norm_groups"] = str(cfg.norm_groups)
    return meta


def save_vae(vae: nn.Module | Mapping[str, torch.Tensor], path: str | Path, cfg: VAEConfig,
             dtype: torch.dtype | None = None, with_norm_groups: bool = True) -> Path:
    """Write the autoencoder (a module or its state dict) to ``path`` with its metadata.

    Floating tensors are cast to ``dtype`` when given. ``with_norm_groups=False`` writes the metadata
    training checkpoints had before 0.1.0 (scale and shift only; for tests of reading such files).
    """
    state = vae.state_dict() if isinstance(vae, nn.Module) else vae
    tensors = {}
    for k, v in state.items():
        t = v.detach().to("cpu")
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        tensors[k] = t.contiguous()
    save_file(tensors, str(path), metadata=vae_metadata(cfg, with_norm_groups))
    return Path(path)
