"""An independent description of BAGEL's checkpoint layout (bagel.md §1.3), for the loader tests.

Written by hand from the published key list, without importing the model code, so a test that
loads a folder written from it checks the model against BAGEL, not against itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from uare.model.config import VAEConfig


def bagel_ema_layout(hidden: int, layers: int, heads: int, kv_heads: int, inter: int, vocab: int,
                     vit_hidden: int, vit_layers_in_file: int, vit_inter: int, patch: int, vit_side: int,
                     latent_side: int, z_channels: int = 16, latent_patch: int = 2) -> dict[str, tuple[int, ...]]:
    """Key -> shape of ``ema.safetensors`` for the given sizes."""
    hd = hidden // heads
    out: dict[str, tuple[int, ...]] = {"language_model.model.embed_tokens.weight": (vocab, hidden)}
    for L in range(layers):
        p = f"language_model.model.layers.{L}."
        for s in ("", "_moe_gen"):
            out[p + f"input_layernorm{s}.weight"] = (hidden,)
            out[p + f"post_attention_layernorm{s}.weight"] = (hidden,)
            out[p + f"self_attn.q_proj{s}.weight"] = (heads * hd, hidden)
            out[p + f"self_attn.q_proj{s}.bias"] = (heads * hd,)
            for kv in ("k", "v"):
                out[p + f"self_attn.{kv}_proj{s}.weight"] = (kv_heads * hd, hidden)
                out[p + f"self_attn.{kv}_proj{s}.bias"] = (kv_heads * hd,)
            out[p + f"self_attn.o_proj{s}.weight"] = (hidden, heads * hd)
            out[p + f"self_attn.q_norm{s}.weight"] = (hd,)
            out[p + f"self_attn.k_norm{s}.weight"] = (hd,)
            out[p + f"mlp{s}.gate_proj.weight"] = (inter, hidden)
            out[p + f"mlp{s}.up_proj.weight"] = (inter, hidden)
            out[p + f"mlp{s}.down_proj.weight"] = (hidden, inter)
    out["language_model.model.norm.weight"] = (hidden,)
    out["language_model.model.norm_moe_gen.weight"] = (hidden,)
    out["language_model.lm_head.weight"] = (vocab, hidden)
    out["time_embedder.mlp.0.weight"] = (hidden, 256)
    out["time_embedder.mlp.0.bias"] = (hidden,)
    out["time_embedder.mlp.2.weight"] = (hidden, hidden)
    out["time_embedder.mlp.2.bias"] = (hidden,)
    pd = latent_patch * latent_patch * z_channels
    out["vae2llm.weight"] = (hidden, pd)
    out["vae2llm.bias"] = (hidden,)
    out["llm2vae.weight"] = (pd, hidden)
    out["llm2vae.bias"] = (pd,)
    out["latent_pos_embed.pos_embed"] = (latent_side * latent_side, hidden)
    v = "vit_model.vision_model."
    out[v + "embeddings.patch_embedding.weight"] = (vit_hidden, patch * patch * 3)
    out[v + "embeddings.patch_embedding.bias"] = (vit_hidden,)
    out[v + "embeddings.position_embedding.weight"] = (vit_side * vit_side, vit_hidden)
    for i in range(vit_layers_in_file - 1):  # BAGEL drops the last layer (penultimate features)
        p = f"{v}encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out[p + f"self_attn.{proj}.weight"] = (vit_hidden, vit_hidden)
            out[p + f"self_attn.{proj}.bias"] = (vit_hidden,)
        for ln in ("layer_norm1", "layer_norm2"):
            out[p + f"{ln}.weight"] = (vit_hidden,)
            out[p + f"{ln}.bias"] = (vit_hidden,)
        out[p + "mlp.fc1.weight"] = (vit_inter, vit_hidden)
        out[p + "mlp.fc1.bias"] = (vit_inter,)
        out[p + "mlp.fc2.weight"] = (vit_hidden, vit_inter)
        out[p + "mlp.fc2.bias"] = (vit_hidden,)
    out[v + "post_layernorm.weight"] = (vit_hidden,)
    out[v + "post_layernorm.bias"] = (vit_hidden,)
    out["connector.fc1.weight"] = (hidden, vit_hidden)
    out["connector.fc1.bias"] = (hidden,)
    out["connector.fc2.weight"] = (hidden, hidden)
    out["connector.fc2.bias"] = (hidden,)
    out["vit_pos_embed.pos_embed"] = (vit_side * vit_side, hidden)
    return out


def write_bagel_folder(folder: Path, sizes: dict, ae_layout: dict[str, tuple[int, ...]], tokenizer, seed: int = 0,
                       dtype: torch.dtype = torch.bfloat16) -> dict[str, torch.Tensor]:
    """A BAGEL-format folder with random tensors, HF-style JSON configs and the tokenizer files."""
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    layout = bagel_ema_layout(**sizes)
    ema = {k: (torch.randn(s, generator=g) * 0.05).to(dtype) for k, s in layout.items()}
    save_file(ema, str(folder / "ema.safetensors"))
    ae = {k: torch.randn(s, generator=g) * 0.05 for k, s in ae_layout.items()}
    save_file(ae, str(folder / "ae.safetensors"))
    llm = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": sizes["hidden"],
           "intermediate_size": sizes["inter"], "num_hidden_layers": sizes["layers"],
           "num_attention_heads": sizes["heads"], "num_key_value_heads": sizes["kv_heads"],
           "vocab_size": sizes["vocab"], "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "rope_scaling": None,
           "hidden_act": "silu", "max_position_embeddings": 32768, "sliding_window": 131072,
           "tie_word_embeddings": False, "qk_norm": True, "torch_dtype": "bfloat16"}
    vit = {"model_type": "siglip_vision_model", "hidden_size": sizes["vit_hidden"],
           "intermediate_size": sizes["vit_inter"], "num_hidden_layers": sizes["vit_layers_in_file"],
           "num_attention_heads": 2, "patch_size": sizes["patch"], "image_size": sizes["patch"] * sizes["vit_side"],
           "num_channels": 3, "layer_norm_eps": 1e-6, "hidden_act": "gelu_pytorch_tanh", "attention_dropout": 0.0}
    (folder / "llm_config.json").write_text(json.dumps(llm))
    (folder / "vit_config.json").write_text(json.dumps(vit))
    tokenizer.save(folder, qwen2_files=True)
    return ema


def flux_layout(cfg: VAEConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor name and shape in a FLUX ``ae.safetensors`` for ``cfg``, spelled out by hand."""
    out: dict[str, tuple[int, ...]] = {}

    def conv(name: str, cin: int, cout: int, k: int) -> None:
        out[f"{name}.weight"] = (cout, cin, k, k)
        out[f"{name}.bias"] = (cout,)

    def norm(name: str, c: int) -> None:
        out[f"{name}.weight"] = (c,)
        out[f"{name}.bias"] = (c,)

    def resblock(name: str, cin: int, cout: int) -> None:
        norm(f"{name}.norm1", cin)
        conv(f"{name}.conv1", cin, cout, 3)
        norm(f"{name}.norm2", cout)
        conv(f"{name}.conv2", cout, cout, 3)
        if cin != cout:
            conv(f"{name}.nin_shortcut", cin, cout, 1)

    def mid(prefix: str, c: int) -> None:
        resblock(f"{prefix}.mid.block_1", c, c)
        norm(f"{prefix}.mid.attn_1.norm", c)
        for p in ("q", "k", "v", "proj_out"):
            conv(f"{prefix}.mid.attn_1.{p}", c, c, 1)
        resblock(f"{prefix}.mid.block_2", c, c)

    widths = [cfg.ch * m for m in cfg.ch_mult]
    last = len(widths) - 1

    conv("encoder.conv_in", cfg.in_channels, cfg.ch, 3)
    prev = cfg.ch
    for lvl, w in enumerate(widths):
        for b in range(cfg.num_res_blocks):
            resblock(f"encoder.down.{lvl}.block.{b}", prev, w)
            prev = w
        if lvl != last:
            conv(f"encoder.down.{lvl}.downsample.conv", w, w, 3)
    mid("encoder", widths[-1])
    norm("encoder.norm_out", widths[-1])
    conv("encoder.conv_out", widths[-1], 2 * cfg.z_channels, 3)

    conv("decoder.conv_in", cfg.z_channels, widths[-1], 3)
    mid("decoder", widths[-1])
    prev = widths[-1]
    for lvl in reversed(range(len(widths))):  # up.{last} is the lowest resolution and runs first
        for b in range(cfg.num_res_blocks + 1):
            resblock(f"decoder.up.{lvl}.block.{b}", prev, widths[lvl])
            prev = widths[lvl]
        if lvl != 0:
            conv(f"decoder.up.{lvl}.upsample.conv", widths[lvl], widths[lvl], 3)
    norm("decoder.norm_out", widths[0])
    conv("decoder.conv_out", widths[0], cfg.out_ch, 3)
    return out
