"""GPU figures for the BAGEL-7B-shaped model (random bf16 weights, real shapes), against the GPU's floors.

    python benchmarks/gpu_bench.py --out $OUT          # on one H100 / H200 (benchmarks/gpu.sh runs it)
    python benchmarks/gpu_bench.py --dry-run --out DIR # the same code at micro size on the CPU, seconds

(b) inference: for 512² and 1024²: the context prefill (VAE latents + ViT image + instruction), one
flow step under 3-way CFG (three velocity passes: full context, no text, no image), and text decoding
tokens/s; each as a fraction of its floor on this GPU (compute floor = FLOPs / dense bf16 peak for the
prefill and the flow step; bandwidth floor = bytes read per token / HBM bandwidth for decoding).
(c) training: a BAGEL-7B-shaped slice (``--train-layers`` decoder layers, full width, the ViT at full
size) under FSDP2 (one unit per layer, bf16 compute, fp32 master weights) on one GPU, fused AdamW,
packed-sample FlexAttention, activation checkpointing on/off: tokens/s and peak memory.
Times are the best of ``--repeats`` after a warm-up (``benchmarks/model.py``'s timer, CUDA-synchronised);
FLOPs come from ``benchmarks/model.py``'s ``pass_flops``. Writes gpu_bench.json and gpu_bench.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
#: dense bf16 peak FLOP/s and HBM bytes/s by device name (NVIDIA data sheets, SXM parts)
PEAKS = {"H200": (989e12, 4.8e12), "H100": (989e12, 3.35e12), "A100": (312e12, 2.0e12)}


def _model_bench():
    spec = importlib.util.spec_from_file_location("uare_model_bench", REPO / "benchmarks" / "model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def peaks(dev: torch.device) -> tuple[str, float | None, float | None]:
    if dev.type != "cuda":
        return "cpu (dry run)", None, None
    name = torch.cuda.get_device_name(dev)
    for key, (f, b) in PEAKS.items():
        if key in name:
            return name, f, b
    return name, None, None


def _sync(dev: torch.device):
    return torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)


def build(cfg, dev: torch.device, dtype: torch.dtype):
    from uare.model.unified import UAREModel

    torch.manual_seed(0)
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with dev:
            model = UAREModel(cfg).eval()
    finally:
        torch.set_default_dtype(old)
    return model


def part_infer(cfg, dev: torch.device, dtype: torch.dtype, sides: list[int], repeats: int) -> dict[str, Any]:
    from uare.model.tokenizer import train_quality_tokenizer
    from uare.model.unified import Context

    mb = _model_bench()
    name, flops_peak, bw_peak = peaks(dev)
    model = build(cfg, dev, dtype)
    tok = train_quality_tokenizer(vocab_size=2048, n_samples=3000, seed=0)
    sp = tok.special
    prompt = tok.encode("Assess this photo, then restore it: remove the noise and the blur.")
    gen = torch.Generator().manual_seed(0)
    out: dict[str, Any] = {"device": name, "dtype": str(dtype).replace("torch.", ""),
                           "parameters_b": round(sum(p.numel() for p in model.parameters()) / 1e9, 3), "sides": {}}
    with torch.no_grad():
        for side in sides:
            ctx, grid, latent, patches, vgrid = mb.build_context(model, sp, side, prompt, gen)
            t_prefill = mb._timed(lambda s=side: mb.build_context(model, sp, s, prompt, gen), repeats, _sync(dev))
            lat_tokens = grid[0] * grid[1]
            text_uncond = model.prefill_vit(model.prefill_vae(Context(), mb.latent_patchify(latent).to(dev), grid, sp),
                                            patches.to(dev), vgrid, sp)
            img_uncond = model.prefill_text(Context(), prompt, sp)
            x = torch.randn(lat_tokens, cfg.patch_latent_dim, generator=gen).to(dev, dtype)

            def step(x=x, grid=grid, c=ctx, tu=text_uncond, iu=img_uncond):
                for cc in (c, tu, iu):
                    model.velocity(cc, x, 0.5, grid, sp)

            t_step = mb._timed(step, repeats, _sync(dev))
            f_step = sum(mb.pass_flops(cfg, lat_tokens + 2, c.length) for c in (ctx, text_uncond, img_uncond))
            f_prefill = mb.pass_flops(cfg, ctx.length, 0)
            row = {"context_tokens": ctx.length, "noisy_tokens": lat_tokens + 2,
                   "prefill_s": round(t_prefill, 4), "flow_step_3cfg_s": round(t_step, 4),
                   "flow_step_tflop": round(f_step / 1e12, 3), "prefill_tflop": round(f_prefill / 1e12, 3)}
            if flops_peak:
                row["flow_step_fraction_of_floor"] = round(f_step / flops_peak / t_step, 3)
                row["prefill_fraction_of_floor"] = round(f_prefill / flops_peak / t_prefill, 3)
            out["sides"][side] = row
        n_new = 32 if dev.type == "cuda" else 8
        ctx, *_ = mb.build_context(model, sp, sides[0], prompt, gen)
        t = mb._timed(lambda: model.generate_text(ctx, sp, max_new_tokens=n_new, min_new_tokens=n_new),
                      max(1, repeats // 2), _sync(dev))
        out["decode_tokens_per_s"] = round(n_new / t, 1)
        und_bytes = (cfg.llm.num_hidden_layers * mb.matmul_params_per_layer(cfg) + cfg.llm.hidden_size * cfg.llm.vocab_size) \
            * torch.finfo(dtype).bits // 8
        kv_bytes = ctx.length * cfg.llm.num_hidden_layers * 2 * cfg.llm.num_key_value_heads * cfg.llm.head_dim \
            * torch.finfo(dtype).bits // 8
        out["decode_bytes_per_token"] = und_bytes + kv_bytes
        if bw_peak:
            out["decode_fraction_of_floor"] = round(out["decode_tokens_per_s"] * (und_bytes + kv_bytes) / bw_peak, 3)
    if dev.type == "cuda":
        out["peak_gpu_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
    return out


def part_train(cfg, dev: torch.device, steps: int, side: int, samples: int) -> dict[str, Any]:
    import torch.distributed as dist

    from uare.model.mot import set_packed_attention
    from uare.model.packing import TextItem, VAEItem, ViTItem, pack
    from uare.model.tokenizer import train_quality_tokenizer
    from uare.train.distributed import DistEnv, PackedForward, wrap

    mb = _model_bench()
    cuda = dev.type == "cuda"
    if cuda and not dist.is_initialized():
        store = f"file://{tempfile.mkdtemp(prefix='uare-pg-')}/store"  # one process: no port needed
        dist.init_process_group("nccl", init_method=store, rank=0, world_size=1)
    tok = train_quality_tokenizer(vocab_size=2048, n_samples=3000, seed=0)
    sp = tok.special
    gen = torch.Generator().manual_seed(0)
    prompt = tok.encode("Assess this photo, then restore it.")
    answer = tok.encode("The quality of this image is poor (2.10/5). It shows strong Gaussian noise.")
    lat = side // cfg.latent_downsample
    g = mb.vit_grid(cfg, side)
    plans = []
    for _ in range(samples):
        latent = torch.randn(cfg.vae.z_channels, lat * 2, lat * 2, generator=gen)
        patches, vgrid = mb.vit_patchify(torch.rand(3, g * cfg.vit.patch_size, g * cfg.vit.patch_size, generator=gen)
                                         * 2 - 1, cfg.vit.patch_size)
        plans.append([VAEItem(latent), ViTItem(patches, vgrid), TextItem(prompt), TextItem(answer, loss=True),
                      VAEItem(latent, noisy=True, t=0.5)])
    batch = pack(plans, sp, cfg.vit_max_num_patch_per_side, cfg.max_latent_size)
    out: dict[str, Any] = {"layers": cfg.llm.num_hidden_layers, "tokens_per_step": batch.num_rows,
                           "samples_per_step": samples, "side": side, "runs": {}}
    set_packed_attention("auto")
    for ckpt in (False, True):
        model = build(cfg, dev, torch.float32).train()
        model.language_model.model.gradient_checkpointing = ckpt
        wrapper = PackedForward(model, detach_und=False)
        env = DistEnv(0, 1, 0, dev, "fsdp" if cuda else "none")
        fwd = wrap(wrapper, env, bf16=cuda)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, **({"fused": True} if cuda else {}))
        if cuda:
            torch.cuda.reset_peak_memory_stats()

        def step(fwd=fwd, opt=opt):
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
                mse, ce = fwd(batch, None)
                loss = mse / max(1, batch.num_rows) + 0.25 * ce / max(1, batch.num_rows)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        t = mb._timed(step, steps, _sync(dev))
        run = {"step_s": round(t, 4), "tokens_per_s": round(batch.num_rows / t, 1)}
        if cuda:
            run["peak_gpu_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        out["runs"]["checkpointing on" if ckpt else "checkpointing off"] = run
        model = wrapper = fwd = opt = None
        if cuda:
            torch.cuda.empty_cache()
    if cuda and dist.is_initialized():
        dist.destroy_process_group()
    return out


def markdown(r: dict[str, Any]) -> str:
    inf = r["inference"]
    lines = [f"Device: {inf['device']}; model: {r['model']} ({inf['parameters_b']} B parameters, random {inf['dtype']} "
             "weights)", "", "| size | context tokens | prefill | floor fraction | flow step, 3-way CFG | floor fraction |",
             "|---|---|---|---|---|---|"]
    for side, row in inf["sides"].items():
        lines.append(f"| {side}² | {row['context_tokens']} | {row['prefill_s'] * 1e3:.1f} ms | "
                     f"{row.get('prefill_fraction_of_floor', 'n/a')} | {row['flow_step_3cfg_s'] * 1e3:.1f} ms | "
                     f"{row.get('flow_step_fraction_of_floor', 'n/a')} |")
    lines += ["", f"Text decoding: {inf['decode_tokens_per_s']} tokens/s "
              f"(fraction of the bandwidth floor: {inf.get('decode_fraction_of_floor', 'n/a')})", ""]
    tr = r.get("train")
    if tr:
        lines += [f"Training slice: {tr['layers']} decoder layers at full width, {tr['samples_per_step']} samples of "
                  f"{tr['side']}² per step ({tr['tokens_per_step']} tokens), FSDP2 on one GPU, fused AdamW", "",
                  "| activation checkpointing | step | tokens/s | peak memory |", "|---|---|---|---|"]
        for k, v in tr["runs"].items():
            lines.append(f"| {k} | {v['step_s'] * 1e3:.0f} ms | {v['tokens_per_s']} | {v.get('peak_gpu_mem_gib', 'n/a')} GiB |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from uare.model.config import bagel_7b, micro

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "results/gpu")))
    ap.add_argument("--dry-run", action="store_true", help="micro model on the CPU: checks the script, measures nothing")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train-layers", type=int, default=4)
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--skip-train", action="store_true")
    a = ap.parse_args(argv)
    dev = torch.device("cuda" if torch.cuda.is_available() and not a.dry_run else "cpu")
    if not a.dry_run and dev.type != "cuda":
        print("gpu_bench: no CUDA device; run with --dry-run on a CPU", file=sys.stderr)
        return 2
    if a.dry_run:  # the benchmarks' tokenizer has 2,048 ids
        cfg, dtype, sides, side_tr, samples = micro(vocab_size=2048), torch.float32, [64, 128], 64, 2
        train_cfg = micro(vocab_size=2048)
    else:
        cfg, dtype, sides, side_tr, samples = bagel_7b(), torch.bfloat16, [512, 1024], 512, 4
        train_cfg = bagel_7b()
        train_cfg.llm.num_hidden_layers = a.train_layers
    a.out.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"model": "micro (dry run)" if a.dry_run else "BAGEL-7B-MoT shapes", "torch": torch.__version__}
    t0 = time.perf_counter()
    res["inference"] = part_infer(cfg, dev, dtype, sides, a.repeats)
    print(f"gpu_bench: inference in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    if not a.skip_train:
        t0 = time.perf_counter()
        res["train"] = part_train(train_cfg, dev, a.train_steps, side_tr, samples)
        print(f"gpu_bench: training in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    (a.out / "gpu_bench.json").write_text(json.dumps(res, indent=2))
    md = markdown(res)
    (a.out / "gpu_bench.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
