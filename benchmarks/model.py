"""Model benchmark: the tiny config measured on this machine, the BAGEL-7B config analytically.

Measured (tiny, random weights, fp32, CPU): packed training forward latency, text decoding tokens/s
with the KV cache, one flow step (context cached) at 256² and 512², peak RSS.

Analytic (BAGEL-7B-MoT): parameters, FLOPs and bytes moved per flow step at 512² and 1024² with the
context cached, KV-cache bytes per token, and the time floor on an H100 (989 TFLOP/s dense bf16,
3.35 TB/s HBM). With ``--gpu-7b`` on a CUDA machine it also builds the 7B model with random bf16
weights and times one 1024² flow step and text decoding against that floor.

    python benchmarks/model.py [--config tiny] [--repeats 5] [--gpu-7b] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time

import torch

from uare.model.config import UAREConfig, bagel_7b, preset
from uare.model.image_transforms import latent_patchify, vit_patchify
from uare.model.packing import TextItem, VAEItem, ViTItem, pack
from uare.model.tokenizer import train_quality_tokenizer
from uare.model.unified import Context, UAREModel

H100_BF16_FLOPS = 989e12
H100_HBM_BYTES = 3.35e12
PROMPT_TOKENS = 64


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn, repeats: int, sync=lambda: None) -> float:
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best


def vit_grid(cfg: UAREConfig, side_px: int) -> int:
    """Patches per side of an understanding image of ``side_px`` (capped by the position table)."""
    return min(side_px // cfg.vit.patch_size, cfg.vit_max_num_patch_per_side)


def build_context(model: UAREModel, special, side_px: int, prompt_ids: list[int], gen: torch.Generator) -> tuple:
    """The restoration context: clean VAE latents + ViT image + instruction, as BAGEL's editing path."""
    cfg = model.config
    lat = side_px // cfg.latent_downsample
    g = vit_grid(cfg, side_px)
    dev = model.device
    latent = torch.randn(cfg.vae.z_channels, lat * 2, lat * 2, generator=gen)
    patches, grid = vit_patchify(torch.rand(3, g * cfg.vit.patch_size, g * cfg.vit.patch_size, generator=gen) * 2 - 1,
                                 cfg.vit.patch_size)
    ctx = model.prefill_vae(Context(), latent_patchify(latent).to(dev), (lat, lat), special)
    ctx = model.prefill_vit(ctx, patches.to(dev), grid, special)
    ctx = model.prefill_text(ctx, prompt_ids, special)
    return ctx, (lat, lat), latent, patches, grid


def measure_tiny(name: str, repeats: int) -> dict:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    tok = train_quality_tokenizer(vocab_size=2048, n_samples=5000, seed=0)
    cfg = preset(name, vocab_size=tok.vocab_size)
    model = UAREModel(cfg).eval()
    sp = tok.special
    prompt = tok.encode("Assess this photo and restore it.")
    out: dict = {"config": name, "parameters": model.num_parameters()["total"], "threads": torch.get_num_threads()}

    ctx, grid, latent, patches, vgrid = build_context(model, sp, 256, prompt, gen)
    plan = [VAEItem(latent), ViTItem(patches, vgrid), TextItem(prompt), TextItem(prompt, loss=True),
            VAEItem(latent, noisy=True, t=0.5)]
    batch = pack([plan], sp, cfg.vit_max_num_patch_per_side, cfg.max_latent_size)
    with torch.no_grad():
        out["packed_forward_256_s"] = round(_timed(lambda: model.forward_packed(batch), repeats), 4)
    out["packed_forward_256_tokens"] = batch.num_rows

    n_new = 64

    def decode():  # exactly n_new tokens: <|im_end|> banned until then
        model.generate_text(ctx, sp, max_new_tokens=n_new, min_new_tokens=n_new)

    t = _timed(decode, max(1, repeats // 2))
    out["text_tokens_per_s"] = round(n_new / t, 1)

    for side in (256, 512):
        ctx_s, grid_s, *_ = build_context(model, sp, side, prompt, gen)
        x = torch.randn(grid_s[0] * grid_s[1], cfg.patch_latent_dim, generator=gen)
        t = _timed(lambda c=ctx_s, x=x, g=grid_s: model.velocity(c, x, 0.5, g, sp), repeats)
        out[f"flow_step_{side}_s"] = round(t, 4)
        out[f"flow_step_{side}_tokens"] = grid_s[0] * grid_s[1] + 2
        out[f"context_{side}_tokens"] = ctx_s.length
    out["peak_rss_mib"] = round(peak_rss_mib(), 1)
    return out


def matmul_params_per_layer(cfg: UAREConfig) -> int:
    """Matmul parameters of one expert in one decoder layer (norms are negligible)."""
    llm = cfg.llm
    kv_dim = llm.num_key_value_heads * llm.head_dim
    return llm.hidden_size * llm.hidden_size * 2 + llm.hidden_size * kv_dim * 2 + 3 * llm.hidden_size * llm.intermediate_size


def pass_flops(cfg: UAREConfig, n_new: int, ctx: int) -> float:
    """FLOPs of ``n_new`` rows through the LLM attending to ``ctx`` cached rows (matmuls + attention)."""
    llm = cfg.llm
    return llm.num_hidden_layers * (2 * n_new * matmul_params_per_layer(cfg) + 4 * n_new * (ctx + n_new) * llm.hidden_size)


def analytic_7b() -> dict:
    cfg = bagel_7b()
    with torch.device("meta"):
        counts = UAREModel(cfg).num_parameters()
    llm = cfg.llm
    d, hd, layers = llm.hidden_size, llm.head_dim, llm.num_hidden_layers
    kv_dim = llm.num_key_value_heads * hd
    per_layer = matmul_params_per_layer(cfg)
    kv_bytes_per_token = layers * 2 * kv_dim * 2
    rows = {}
    for side in (512, 1024):
        n = (side // cfg.latent_downsample) ** 2 + 2
        vit = vit_grid(cfg, min(side, cfg.vit.image_size)) ** 2 + 2
        ctx = (n - 2 + 2) + vit + PROMPT_TOKENS + 2
        flops = pass_flops(cfg, n, ctx) + 2 * n * d * cfg.patch_latent_dim
        weight_bytes = layers * per_layer * 2  # the gen expert's weights, bf16, read once per step
        bytes_moved = weight_bytes + ctx * kv_bytes_per_token
        rows[side] = {
            "noisy_tokens": n, "context_tokens": ctx, "tflop_per_step": round(flops / 1e12, 2),
            "gb_moved_per_step": round(bytes_moved / 1e9, 2),
            "h100_floor_ms": round(max(flops / H100_BF16_FLOPS, bytes_moved / H100_HBM_BYTES) * 1e3, 1),
            "per_image_50_steps_3_cfg_s": round(49 * 3 * max(flops / H100_BF16_FLOPS,
                                                             bytes_moved / H100_HBM_BYTES), 1),
        }
    # one decoded token reads the und expert's weights + embeddings-free lm_head, and the KV cache
    und_bytes = (layers * per_layer + d * llm.vocab_size) * 2
    return {"parameters": counts, "kv_cache_bytes_per_token_bf16": kv_bytes_per_token, "flow_step": rows,
            "text_decode_floor_tokens_per_s_h100": round(H100_HBM_BYTES / und_bytes, 1)}


def gpu_7b(repeats: int) -> dict:
    """Random bf16 BAGEL-7B on the GPU: one 1024² flow step and text decoding, against the floor."""
    dev = torch.device("cuda")
    torch.set_default_dtype(torch.bfloat16)
    with dev:
        model = UAREModel(bagel_7b()).eval()
    torch.set_default_dtype(torch.float32)
    tok = train_quality_tokenizer(vocab_size=2048, n_samples=5000, seed=0)
    sp = tok.special
    gen = torch.Generator().manual_seed(0)
    prompt = tok.encode("Assess this photo and restore it.")
    sync = torch.cuda.synchronize
    out = {"device": torch.cuda.get_device_name(0)}
    with torch.no_grad():
        ctx, grid, *_ = build_context(model, sp, 1024, prompt, gen)
        x = torch.randn(grid[0] * grid[1], 64, generator=gen)
        out["flow_step_1024_s"] = round(_timed(lambda: model.velocity(ctx, x, 0.5, grid, sp), repeats, sync), 4)
        n_new = 32
        t = _timed(lambda: model.generate_text(ctx, sp, max_new_tokens=n_new, min_new_tokens=n_new), 2, sync)
        out["text_tokens_per_s"] = round(n_new / t, 1)
    out["peak_gpu_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="tiny", choices=("tiny", "micro"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--gpu-7b", action="store_true", help="also time the random 7B model on a CUDA GPU")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    result = {"benchmark": "model", "machine": platform.processor() or platform.machine(),
              "torch": torch.__version__, "python": sys.version.split()[0],
              "tiny_cpu": measure_tiny(args.config, args.repeats), "bagel_7b_analytic": analytic_7b()}
    if args.gpu_7b:
        result["bagel_7b_gpu"] = gpu_7b(args.repeats)
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    t, a = result["tiny_cpu"], result["bagel_7b_analytic"]
    print(f"\n### {t['config']} on CPU ({t['threads']} threads, fp32, {t['parameters'] / 1e6:.2f} M parameters)\n")
    print("| measure | value |\n|---|---|")
    print(f"| packed training forward, 256² edit sample ({t['packed_forward_256_tokens']} tokens) | "
          f"{t['packed_forward_256_s'] * 1e3:.1f} ms |")
    print(f"| text decoding with KV cache | {t['text_tokens_per_s']} tokens/s |")
    for s in (256, 512):
        print(f"| one flow step {s}² ({t[f'flow_step_{s}_tokens']} noisy tokens, {t[f'context_{s}_tokens']} cached) | "
              f"{t[f'flow_step_{s}_s'] * 1e3:.1f} ms |")
    print(f"| peak RSS | {t['peak_rss_mib']} MiB |")
    print(f"\n### BAGEL-7B-MoT, analytic ({a['parameters']['total'] / 1e9:.2f} B parameters, "
          f"KV cache {a['kv_cache_bytes_per_token_bf16'] // 1024} KiB/token bf16)\n")
    print("| flow step | noisy tokens | context tokens | TFLOP | GB moved | H100 floor | 50 steps × 3 CFG passes |")
    print("|---|---|---|---|---|---|---|")
    for s, r in a["flow_step"].items():
        print(f"| {s}² | {r['noisy_tokens']} | {r['context_tokens']} | {r['tflop_per_step']} | "
              f"{r['gb_moved_per_step']} | {r['h100_floor_ms']} ms | {r['per_image_50_steps_3_cfg_s']} s |")
    print(f"\nText decoding floor on an H100 (und expert + lm_head read per token): "
          f"{a['text_decode_floor_tokens_per_s_h100']} tokens/s")
    if "bagel_7b_gpu" in result:
        g = result["bagel_7b_gpu"]
        print(f"\nMeasured on {g['device']}: 1024² flow step {g['flow_step_1024_s'] * 1e3:.1f} ms, "
              f"text {g['text_tokens_per_s']} tokens/s, peak {g['peak_gpu_mem_gib']} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
