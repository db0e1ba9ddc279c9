"""Loading the initial weights, copying und -> gen (``init_moe``), and which parameters each stage trains.

Stage 0 (uare-tiny's understanding pre-training, the analogue of the pretrained SigLIP + Qwen2 that
UARE starts from) trains the understanding path only: the ViT, the connector, the und expert's
layers and final norm, ``embed_tokens`` and ``lm_head``. The generation expert and its adapters stay
frozen, so a stage-1 result keeps restoring exactly as before.

Stage 1 (the paper: "Res expert only, all other components frozen") trains:

- every ``*_moe_gen`` parameter of the MoT decoder (the generation expert's projections, QK-norms,
  MLPs, layer norms and ``norm_moe_gen``);
- ``time_embedder``, ``vae2llm`` and ``llm2vae`` — the adapters that only latent tokens pass through. They
  are part of the restoration path in BAGEL (``freeze_und`` keeps them trainable too); freezing them would
  leave the velocity head fixed.

Everything else (und expert, embeddings, ``lm_head``, ViT, connector) is frozen, and the forward uses
``detach_und=True`` so no gradient flows through und rows. Stage 2 trains everything except the VAE (a
separate module, always frozen) and the tokenizer; the fixed sin-cos position tables stay frozen in both
stages (``requires_grad=False`` by construction, as in BAGEL).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open

from uare.errors import UareError
from uare.model.checkpoint import (
    Checkpoint,
    _materialize,
    _meta_module,
    expected_shapes,
    load_checkpoint,
    load_config,
    validate_keys,
)
from uare.model.config import UAREConfig, preset
from uare.model.mot import _gen_twin_name
from uare.model.safetensors_header import CheckpointError, read_header
from uare.model.tokenizer import Tokenizer, train_quality_tokenizer
from uare.model.unified import UAREModel
from uare.model.vae import VAE_FILE, load_pretrained_vae_weights, load_vae
from uare.train.config import InitConfig

STAGE1_EXTRA = ("time_embedder.", "vae2llm.", "llm2vae.")


def is_trainable(name: str, stage: int) -> bool:
    """Whether parameter ``name`` trains in ``stage`` (see the module docstring)."""
    if name.endswith("pos_embed"):
        return False
    gen_path = "_moe_gen" in name or name.startswith(STAGE1_EXTRA)
    if stage == 0:
        return not gen_path
    if stage == 1:
        return gen_path
    return True


def set_trainable(model: UAREModel, stage: int) -> list[str]:
    """Set ``requires_grad`` for ``stage``; return the trainable parameter names (in module order)."""
    names = []
    for name, p in model.named_parameters():
        p.requires_grad_(is_trainable(name, stage))
        if p.requires_grad:
            names.append(name)
    return names


def _twin(name: str) -> str | None:
    if not name.startswith("language_model."):
        return None
    t = _gen_twin_name(name[len("language_model."):])
    return None if t is None else "language_model." + t


def _load_without_gen(folder: Path, device: torch.device) -> Checkpoint:
    """Load a checkpoint that lacks the ``*_moe_gen`` tensors, filling each from its und twin."""
    cfg, fmt = load_config(folder)
    weights = folder / ("model.safetensors" if fmt == "uare" else "ema.safetensors")
    infos, _ = read_header(weights)
    model = _meta_module(lambda: UAREModel(cfg))
    expected = expected_shapes(model)
    gen_keys = {k for k in expected if "_moe_gen" in k}
    validate_keys(infos, {k: v for k, v in expected.items() if k not in gen_keys}, weights)
    state = {}
    with safe_open(str(weights), framework="pt", device="cpu") as f:
        for key in infos:
            state[key] = f.get_tensor(key).float().to(device)
    for key in gen_keys:
        src = next((k for k in state if _twin(k) == key), None)
        if src is None:
            raise CheckpointError(f"{weights}: no understanding tensor to copy into {key}")
        state[key] = state[src].clone()
    model.load_state_dict(state, strict=True, assign=True)
    _materialize(model, device)
    vae = load_vae(folder / VAE_FILE, cfg.vae, device, torch.float32)
    return Checkpoint(model, vae, Tokenizer.from_folder(folder), cfg, fmt, folder)


def _has_gen(folder: Path) -> bool:
    _, fmt = load_config(folder)
    infos, _ = read_header(folder / ("model.safetensors" if fmt == "uare" else "ema.safetensors"))
    return any("_moe_gen" in k for k in infos)


def random_init_folder(init: InitConfig, out: Path) -> Path:
    """Write (once) a random checkpoint for ``init.preset`` into ``out`` and return it."""
    from uare.model.random_init import init_random

    if (out / "config.json").is_file():
        return out
    if init.preset == "bagel-7b":
        raise UareError("init.preset bagel-7b: give init.path (the BAGEL-7B-MoT folder) instead of random weights")
    tok = train_quality_tokenizer(vocab_size=2048, seed=init.seed)
    cfg = preset(init.preset, vocab_size=tok.vocab_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        init_random(out, cfg, fmt="uare", seed=init.seed, tokenizer=tok)
    except CheckpointError:
        if not (out / "config.json").is_file():  # another rank may have just written it
            raise
    return out


def load_initial(init: InitConfig, device: torch.device, out: Path) -> Checkpoint:
    """The starting checkpoint in fp32 on ``device`` (see :class:`InitConfig`)."""
    if init.path:
        from uare.hub import resolve_model

        folder = resolve_model(init.path)  # a folder, or a Hub id (ORG/NAME[@REV]) from the cache
    elif init.preset:
        folder = out / "init"
        if not (folder / "config.json").is_file():
            raise UareError(f"{folder}: random init missing; rank 0 writes it before the others load it")
    else:
        raise UareError("init: give init.path or init.preset")
    if not _has_gen(folder):
        if not init.copy_und_to_gen:
            raise UareError(f"{folder}: the checkpoint has no generation-expert (*_moe_gen) weights; set "
                            "init.copy_und_to_gen: true to start them from the understanding expert")
        ck = _load_without_gen(folder, device)
    else:
        ck = load_checkpoint(folder, device=device, dtype="fp32")
        if init.copy_und_to_gen:
            ck.model.language_model.init_moe()
    if init.vae:
        load_pretrained_vae(ck, Path(init.vae), device)
    if init.config:
        apply_config_overrides(ck.config, init.config)
    if init.reinit:
        reinit(ck.model, init.reinit, init.seed)
    if init.vit_patch_init == "pca":
        if not init.pca_folders:
            raise UareError("init.vit_patch_init: pca needs init.pca_folders (clean training images)")
        init_vit_patch_pca(ck.model, init.pca_folders, init.seed)
    if init.zero_velocity_head:
        with torch.no_grad():
            ck.model.llm2vae.weight.zero_()
            ck.model.llm2vae.bias.zero_()
    return ck


#: top-level model config fields ``init.config`` may change on a loaded checkpoint (they change no shape)
CONFIG_OVERRIDES = ("vit_pos_scale",)


def apply_config_overrides(cfg: UAREConfig, overrides: dict[str, float]) -> None:
    """Set ``init.config`` fields on the loaded model's config (saved with every checkpoint after)."""
    for k, v in overrides.items():
        if k not in CONFIG_OVERRIDES:
            raise UareError(f"init.config.{k}: not a field that can change on loaded weights; "
                            f"choose from {', '.join(CONFIG_OVERRIDES)}")
        setattr(cfg, k, float(v))


def reinit(model: UAREModel, prefixes: list[str], seed: int) -> list[str]:
    """Redraw every parameter whose name starts with one of ``prefixes`` as ``uare init-random`` would."""
    from uare.model.random_init import random_fill

    fill = random_fill(seed)
    names = []
    with torch.no_grad():
        for name, p in model.named_parameters():
            if any(name.startswith(pre) for pre in prefixes):
                p.copy_(fill(name, tuple(p.shape)).to(p.dtype))
                names.append(name)
    unmatched = [pre for pre in prefixes if not any(n.startswith(pre) for n in names)]
    if unmatched:
        raise UareError(f"init.reinit: no parameter starts with {', '.join(unmatched)}")
    return names


def init_vit_patch_pca(model: UAREModel, folders: list[str], seed: int, n_patches: int = 40_000,
                       n_low: int = 48, floor_sigma: float = 5.0) -> dict[str, float]:
    """Start the ViT's linear patch embedding as whitened principal components of clean training patches.

    Why: a randomly initialised patch embedding projects a natural patch mostly onto its few
    low-frequency components (where nearly all its variance is), so noise, blur and JPEG -- which live in
    the high frequencies -- are a tiny part of every token, and a small ViT trained for minutes on a CPU
    learns brightness and haze but never texture. Here output ``k`` is one principal component, scaled
    to unit variance on clean patches (``1 / sqrt(eigenvalue + floor)``, the floor being the variance of
    noise of std ``floor_sigma`` / 255, so the near-empty finest components are not blown up), centred by
    the bias. The components kept are the ``n_low`` strongest plus the rest of the width spread evenly
    over the whole spectrum down to the finest one, so every frequency band has channels whose size
    grows with noise and shrinks with blur from the first step on. The architecture is unchanged.
    Returns the share of clean-patch variance the kept components explain.
    """
    from uare.data.images import list_images, load_rgb
    from uare.model.image_transforms import to_tensor_pm1, vit_patchify

    emb = model.vit_model.vision_model.embeddings.patch_embedding
    width, dim = emb.weight.shape
    p = model.config.vit.patch_size
    rng = np.random.default_rng(seed)
    files = list_images(folders)
    per_image = max(1, n_patches // len(files))
    rows = []
    for f in files:
        img = load_rgb(f)
        h, w = img.shape[:2]
        if h < p or w < p:
            continue
        x, _ = vit_patchify(to_tensor_pm1(img[: h // p * p, : w // p * p]), p)
        rows.append(x[torch.from_numpy(rng.choice(x.shape[0], min(per_image, x.shape[0]), replace=False))])
    x = torch.cat(rows).double()
    mean = x.mean(0)
    cov = torch.cov((x - mean).T)
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    evals, evecs = evals.flip(0).clamp_min(0), evecs.flip(1)
    n_low = min(n_low, width)
    keep = list(range(n_low))
    if width > n_low:
        keep += np.linspace(n_low, dim - 1, width - n_low).round().astype(int).tolist()
    floor = (2.0 * floor_sigma / 255.0) ** 2  # pixels are in [-1, 1]: 255 levels span 2
    w_new = (evecs[:, keep] / torch.sqrt(evals[keep] + floor)).T
    with torch.no_grad():
        emb.weight.copy_(w_new.to(emb.weight.dtype))
        emb.bias.copy_((-(w_new @ mean)).to(emb.bias.dtype))
    return {"explained": float(evals[keep].sum() / evals.sum()), "patches": int(x.shape[0])}


def load_pretrained_vae(ck: Checkpoint, path: Path, device: torch.device) -> None:
    """Replace the checkpoint's autoencoder by a pretrained one of the same shape (see ``init.vae``)."""
    load_pretrained_vae_weights(ck.vae, ck.config.vae, path, device)


def model_config_for_plan(init: InitConfig) -> UAREConfig:
    """The model config without loading weights: from ``init.path``'s JSON/headers, else ``init.preset``."""
    if init.path:
        from uare.hub import resolve_model

        folder = resolve_model(init.path)
        if folder.is_dir():
            return load_config(folder)[0]
    if not init.preset:
        raise UareError(f"{init.path}: not found, and no init.preset to plan with")
    # bagel-7b's preset has the Qwen2.5 vocabulary built in; the small presets take the tokenizer's size
    return preset(init.preset) if init.preset == "bagel-7b" else preset(init.preset, vocab_size=2048)


def copy_tokenizer_files(src: Path, dst: Path) -> None:
    """Copy the tokenizer files of ``src`` into ``dst`` (checkpoints are self-contained)."""
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"):
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)


def config_json(cfg: UAREConfig) -> str:
    """``config.json`` of a uare checkpoint folder."""
    from uare import __version__

    return json.dumps({"format": "uare", "uare_version": __version__, **cfg.to_dict()}, indent=2)
