"""``uare inspect``: what a checkpoint folder holds, validated from the safetensors headers alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from uare.model.checkpoint import detect_format, expected_shapes, load_config, validate_keys
from uare.model.config import UAREConfig
from uare.model.safetensors_header import TensorInfo, read_header
from uare.model.tokenizer import Tokenizer
from uare.model.unified import UAREModel
from uare.model.vae import VAE_FILE, vae_shapes

GIB = 1024**3


def _component(key: str) -> str:
    if key.startswith("language_model.model.layers."):
        return "llm.gen_expert" if "_moe_gen" in key else "llm.und_expert"
    if key.startswith("language_model.model.norm"):
        return "llm.gen_expert" if "_moe_gen" in key else "llm.und_expert"
    if key.startswith("language_model.model.embed_tokens"):
        return "llm.embed_tokens"
    if key.startswith("language_model.lm_head"):
        return "llm.lm_head"
    return key.split(".")[0]


def parameter_counts(infos: dict[str, TensorInfo]) -> dict[str, int]:
    """Parameters per component (und and gen experts apart), from header shapes."""
    counts: dict[str, int] = {}
    for k, info in infos.items():
        c = _component(k)
        counts[c] = counts.get(c, 0) + info.numel
    return dict(sorted(counts.items()))


def memory_estimates(cfg: UAREConfig, n_params: int, n_vae: int) -> dict[str, float]:
    """GiB for inference (weights per dtype, KV cache per 1k tokens) and full training (fp32 AdamW + EMA)."""
    kv_per_token = cfg.llm.num_hidden_layers * 2 * cfg.llm.num_key_value_heads * cfg.llm.head_dim * 2  # bf16
    # fp32 master weights + grads + AdamW moments (2) + fp32 EMA; the VAE frozen, stored in fp32
    train = n_params * (4 + 4 + 8 + 4) + n_vae * 4
    return {
        "inference_weights_bf16_gib": round((n_params * 2 + n_vae * 4) / GIB, 3),
        "inference_weights_fp32_gib": round((n_params + n_vae) * 4 / GIB, 3),
        "kv_cache_bytes_per_token_bf16": kv_per_token,
        "kv_cache_per_1k_tokens_bf16_gib": round(kv_per_token * 1024 / GIB, 4),
        "full_training_state_gib": round(train / GIB, 2),
    }


def inspect_checkpoint(folder: str | Path) -> dict[str, Any]:
    """Validate a checkpoint folder from its headers and describe it. Raises CheckpointError when broken."""
    folder = Path(folder)
    fmt = detect_format(folder)
    cfg, _ = load_config(folder)
    weights = folder / ("model.safetensors" if fmt == "uare" else "ema.safetensors")
    infos, meta = read_header(weights)
    ae_infos, _ = read_header(folder / VAE_FILE)
    with torch.device("meta"):
        validate_keys(infos, expected_shapes(UAREModel(cfg)), weights)
    validate_keys(ae_infos, vae_shapes(cfg.vae), folder / VAE_FILE)
    tok = Tokenizer.from_folder(folder)
    counts = parameter_counts(infos)
    n_params = sum(i.numel for i in infos.values())
    n_vae = sum(i.numel for i in ae_infos.values())
    vae_counts = {"encoder": sum(i.numel for k, i in ae_infos.items() if k.startswith("encoder.")),
                  "decoder": sum(i.numel for k, i in ae_infos.items() if k.startswith("decoder."))}
    dtypes = sorted({i.dtype for i in infos.values()})
    s = tok.special
    return {
        "path": str(folder),
        "format": fmt,
        "valid": True,
        "config": cfg.to_dict(),
        "derived": {"llm_head_dim": cfg.llm.head_dim, "vit_layers_used": cfg.vit.layers_used,
                    "latent_downsample": cfg.latent_downsample, "patch_latent_dim": cfg.patch_latent_dim,
                    "max_output_side_px": cfg.max_latent_size * cfg.latent_downsample},
        "files": {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()},
        "tensors": len(infos),
        "dtypes": dtypes,
        "parameters": {"total": n_params, **counts},
        "vae_parameters": {"total": n_vae, **vae_counts},
        "active_parameters_per_token": n_params - counts.get("llm.gen_expert", 0),
        "memory": memory_estimates(cfg, n_params, n_vae),
        "tokenizer": {"vocab_size": tok.vocab_size, "bos": s.bos, "eos": s.eos, "start_of_image": s.start_of_image,
                      "end_of_image": s.end_of_image},
        "metadata": meta,
    }


def format_report(r: dict[str, Any]) -> str:
    """Human-readable text of :func:`inspect_checkpoint`."""

    def n(x: int) -> str:
        return f"{x / 1e9:.3f} B" if x >= 1e9 else f"{x / 1e6:.2f} M"

    c = r["config"]
    lines = [
        f"{r['path']}: {r['format']} checkpoint, keys and shapes valid ({r['tensors']} tensors, {', '.join(r['dtypes'])})",
        f"  LLM: hidden {c['llm']['hidden_size']}, {c['llm']['num_hidden_layers']} layers, "
        f"{c['llm']['num_attention_heads']}/{c['llm']['num_key_value_heads']} q/kv heads, MLP "
        f"{c['llm']['intermediate_size']}, vocab {c['llm']['vocab_size']}, rope theta {c['llm']['rope_theta']:g}",
        f"  ViT: hidden {c['vit']['hidden_size']}, {r['derived']['vit_layers_used']} layers used "
        f"(file: {c['vit']['num_hidden_layers']}), {c['vit']['num_attention_heads']} heads, patch "
        f"{c['vit']['patch_size']}, grid {c['vit_max_num_patch_per_side']}²",
        f"  VAE: ch {c['vae']['ch']}, mult {c['vae']['ch_mult']}, z {c['vae']['z_channels']}, "
        f"scale {c['vae']['scale_factor']} / shift {c['vae']['shift_factor']}; "
        f"{r['derived']['latent_downsample']} px per generation token, up to {r['derived']['max_output_side_px']} px",
        "  parameters:",
    ]
    for k, v in r["parameters"].items():
        lines.append(f"    {k:<22} {n(v)}")
    lines.append(f"    {'vae':<22} {n(r['vae_parameters']['total'])} (encoder {n(r['vae_parameters']['encoder'])}, "
                 f"decoder {n(r['vae_parameters']['decoder'])})")
    lines.append(f"    active per token       {n(r['active_parameters_per_token'])}")
    m = r["memory"]
    lines += [
        f"  memory: inference weights {m['inference_weights_bf16_gib']} GiB bf16 / "
        f"{m['inference_weights_fp32_gib']} GiB fp32; KV cache {m['kv_cache_bytes_per_token_bf16']} B/token bf16; "
        f"full training state ≈ {m['full_training_state_gib']} GiB (fp32 AdamW + EMA, before activations)",
        f"  tokenizer: {r['tokenizer']['vocab_size']} tokens; <|im_start|> {r['tokenizer']['bos']}, <|im_end|> "
        f"{r['tokenizer']['eos']}, <|vision_start|> {r['tokenizer']['start_of_image']}, <|vision_end|> "
        f"{r['tokenizer']['end_of_image']}",
    ]
    return "\n".join(lines)
