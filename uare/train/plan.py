"""``uare train --dry-run``: what a config would train, how many tokens a step holds, and memory per GPU.

Nothing is loaded: the model is built on the ``meta`` device (no memory), from ``init.path``'s config files
when the folder exists, else from ``init.preset``.

Memory model (per GPU, FSDP full sharding over N GPUs, bf16 compute, fp32 master weights):

- sharded state: trainable parameters 20 B each (fp32 weight 4 + fp32 gradient 4 + AdamW moments 8 + fp32
  EMA 4), frozen parameters 4 B each (fp32), all divided by N;
- working set: the all-gathered bf16 weights of two FSDP units (the current decoder layer and the
  prefetched next one), 2 B per parameter;
- activations for a pack of T tokens (hidden D, MLP width I, L layers, vocabulary V): with activation
  checkpointing, the L layer inputs (T·D·2 B each) plus one layer being recomputed (≈ T·(10·D + 3·I)·2 B for
  norms, q/k/v/o, attention output and the SwiGLU); without it, L such layers. Plus the dense [T, T]
  boolean attention mask (T² B) and its additive form in SDPA (2·T² B), and fp32 logits of the CE rows
  (assumed 10 % of T) times V·4 B;
- the frozen VAE in bf16, replicated, and a fixed 2 GiB for the CUDA context, allocator slack and buffers.

It is an estimate for planning (±25 %), not a measurement.
"""

from __future__ import annotations

import math

import torch

from uare.model.config import UAREConfig
from uare.model.unified import UAREModel
from uare.model.vae import vae_num_parameters
from uare.train.config import TrainConfig
from uare.train.model_setup import is_trainable, model_config_for_plan

GIB = 1024**3


def _group(name: str) -> str:
    if name.startswith("language_model.model.layers") or name.startswith("language_model.model.norm"):
        return "gen expert" if "_moe_gen" in name else "und expert"
    top = name.split(".")[0]
    return {"language_model": "embeddings + lm_head"}.get(top, top)


def param_groups(model_cfg: UAREConfig, stage: int) -> dict[str, tuple[int, int]]:
    """Per group: (trainable, frozen) parameter counts for ``stage`` (built on the meta device)."""
    with torch.device("meta"):
        m = UAREModel(model_cfg)
    out: dict[str, list[int]] = {}
    for n, p in m.named_parameters():
        g = out.setdefault(_group(n), [0, 0])
        g[0 if is_trainable(n, stage) else 1] += p.numel()
    return {k: (v[0], v[1]) for k, v in out.items()}


def sample_tokens(cfg: TrainConfig, model_cfg: UAREConfig) -> tuple[int, int]:
    """(rows, noisy image tokens) of a typical restoration sample at the largest configured crop."""
    crop = max((max(s.crop) for s in cfg.data.sources), default=512)
    s = model_cfg.latent_downsample
    lat = (crop // s) ** 2
    p = model_cfg.vit.patch_size
    vit_side = min(crop, cfg.data.vit_max_size, p * model_cfg.vit_max_num_patch_per_side) // p
    text = 40 + (150 if cfg.stage == 2 else 0)  # instruction (+ four-part analysis)
    return 2 * (lat + 2) + vit_side**2 + 2 + text + 4, lat


def memory_per_gpu(model_cfg: UAREConfig, trainable: int, frozen: int, tokens: int, gpus: int,
                   checkpointing: bool, text_loss: bool = True) -> dict[str, float]:
    """The estimate of the module docstring, in GiB."""
    llm = model_cfg.llm
    d, inter, layers, vocab = llm.hidden_size, llm.intermediate_size, llm.num_hidden_layers, llm.vocab_size
    with torch.device("meta"):
        vae_params = vae_num_parameters(model_cfg.vae)
        layer_params = sum(p.numel() for p in UAREModel(model_cfg).language_model.model.layers[0].parameters())
    t = tokens
    layer_act = t * (10 * d + 3 * inter) * 2
    acts = (layers * t * d * 2 + layer_act) if checkpointing else layers * layer_act
    est = {
        "sharded state": (trainable * 20 + frozen * 4) / gpus,
        "gathered layers": 2 * layer_params * 2,
        "activations": acts,
        "attention mask": 3 * t * t,
        "logits": 0.1 * t * vocab * 4 if text_loss else 0.0,
        "vae": vae_params * 2,
        "overhead": 2 * GIB,
    }
    out = {k: v / GIB for k, v in est.items()}
    out["total"] = sum(out.values())
    return out


def dry_run(cfg: TrainConfig, gpus: int) -> str:
    """The plan as text (see the module docstring)."""
    mc = model_config_for_plan(cfg.init)
    groups = param_groups(mc, cfg.stage)
    tr = sum(v[0] for v in groups.values())
    fr = sum(v[1] for v in groups.values())
    lines = [f"uare train --dry-run: {cfg.name}, stage {cfg.stage}, model {mc.name} "
             f"({(tr + fr) / 1e9:.3f} B parameters), {gpus} GPU(s)", "", "parameters (trainable / frozen):"]
    for g, (a, b) in sorted(groups.items(), key=lambda kv: -sum(kv[1])):
        lines.append(f"  {g:<22} {a:>15,} / {b:>15,}")
    lines.append(f"  {'total':<22} {tr:>15,} / {fr:>15,}   (+ VAE, always frozen)")
    per_pack = cfg.data.tokens_per_pack
    rows, img = sample_tokens(cfg, mc)
    spp = max(1, per_pack // rows)
    accum = cfg.train.grad_accum
    lines += ["", "tokens per step:",
              f"  budget {per_pack:,} tokens/pack x {accum} pack(s)/GPU x {gpus} GPU(s) = "
              f"{per_pack * accum * gpus:,} tokens at most",
              f"  a restoration sample at the largest crop: {rows:,} rows, {img:,} noisy image tokens",
              f"  => about {spp} samples/pack, {spp * accum * gpus:,} samples and "
              f"{spp * img * accum * gpus:,} noisy image tokens per step "
              f"({spp * img * accum:,} per GPU)",
              f"  steps: {cfg.train.max_steps:,}; lr {cfg.optim.lr:g} after {cfg.optim.warmup_steps} warm-up steps"]
    text = cfg.train.ce_weight > 0
    mem = memory_per_gpu(mc, tr, fr, per_pack, gpus, cfg.train.gradient_checkpointing, text)
    ck = "on" if cfg.train.gradient_checkpointing else "off"
    lines += ["", f"estimated memory per GPU (FSDP over {gpus}, bf16 compute, activation checkpointing {ck}):"]
    for k, v in mem.items():
        lines.append(f"  {k:<16} {v:8.1f} GiB")
    fits = [n for n in (8, 16, 32, 64, 128) if memory_per_gpu(mc, tr, fr, per_pack, n,
                                                               cfg.train.gradient_checkpointing, text)["total"] < 90]
    lines.append(f"  fits in 96 GB (H20) from {fits[0]} GPUs" if fits else "  does not fit 96 GB GPUs at <= 128 GPUs")
    if not math.isfinite(mem["total"]):
        lines.append("  (estimate failed)")
    return "\n".join(lines)
