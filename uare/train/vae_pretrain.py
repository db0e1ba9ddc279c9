"""Stage 0 of uare-tiny: train the small FLUX-style autoencoder that stands in for the FLUX VAE.

The FLUX VAE (83.8 M parameters, not downloadable here) is replaced in uare-tiny by the same
architecture at a small width, trained on the training pool only (random crops, flips, gray images
replicated to RGB). Loss: L1 + MSE + a tiny KL term that keeps the posterior well-conditioned; the decoder is trained on the
posterior mean (what uare encodes with) plus 5 % noise. Afterwards the latent scale and
shift are measured on the data (as FLUX's 0.3611 / 0.1159 were) so that scaled latents have zero
mean and unit variance, which is what the flow model expects of x0.

    python -m uare.train.vae_pretrain --data ../shared/datasets/train --out runs/vae --steps 3000
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from uare.model.config import VAEConfig, tiny
from uare.model.vae import VAE, VAE_FILE, build_vae, save_vae


def load_pool(root: Path, max_side: int = 512) -> list[np.ndarray]:
    """Every image under ``root`` (recursively) as HxWx3 uint8; gray replicated to RGB."""
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp", ".tif"})
    if not files:
        raise SystemExit(f"no images under {root}")
    pool = []
    for p in files:
        im = Image.open(p).convert("RGB")
        if max(im.size) > max_side:
            s = max_side / max(im.size)
            im = im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.BICUBIC)
        pool.append(np.asarray(im))
    return pool


def random_batch(pool: list[np.ndarray], n: int, size: int, rng: random.Random) -> torch.Tensor:
    out = []
    for _ in range(n):
        img = pool[rng.randrange(len(pool))]
        h, w = img.shape[:2]
        if min(h, w) < size:
            s = size / min(h, w)
            img = np.asarray(Image.fromarray(img).resize((math.ceil(w * s), math.ceil(h * s))))
            h, w = img.shape[:2]
        y, x = rng.randrange(h - size + 1), rng.randrange(w - size + 1)
        crop = img[y:y + size, x:x + size]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out.append(torch.from_numpy(crop.copy()).permute(2, 0, 1))
    return torch.stack(out).float() / 127.5 - 1


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = F.mse_loss((a.clamp(-1, 1) + 1) * 127.5, (b + 1) * 127.5).item()
    return 10 * math.log10(255**2 / max(mse, 1e-10))


@torch.no_grad()
def init_patch_skip_pca(ae: VAE, pool: list[np.ndarray], size: int, seed: int, batches: int = 32) -> float:
    """Start the linear patch path as a PCA of the training patches and silence the deep paths.

    The encoder's skip projects each f x f x 3 patch on the top ``z_channels`` principal components
    (its log-variance half starts at zero), the decoder's maps them back; the deep convs' last layers
    start at zero, so training begins from the best linear AE and learns what it misses. Returns the
    fraction of patch variance the kept components explain.
    """
    f, z = ae.config.downsample, ae.config.z_channels
    x = torch.cat([random_batch(pool, 16, size, random.Random(seed + 100 + i)) for i in range(batches)])
    patches = F.pixel_unshuffle(x, f).permute(0, 2, 3, 1).reshape(-1, 3 * f * f).double()
    mean = patches.mean(0)
    cov = torch.cov((patches - mean).T)
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    u = evecs[:, -z:].flip(1)  # (3 f^2, z), strongest first
    enc, dec = ae.encoder.patch_skip, ae.decoder.patch_skip
    enc.weight.zero_()
    enc.bias.zero_()
    enc.weight[:z, :, 0, 0] = u.T.float()
    enc.bias[:z] = -(u.T @ mean).float()
    dec.weight[:, :, 0, 0] = u.float()
    dec.bias.copy_(mean.float())
    for conv in (ae.encoder.conv_out, ae.decoder.conv_out):
        conv.weight.zero_()
        conv.bias.zero_()
    return float(evals[-z:].sum() / evals.sum())


def train(cfg: VAEConfig, data: Path, out: Path, steps: int, batch: int, size: int, lr: float, seed: int,
          kl_weight: float = 1e-6, latent_noise: float = 0.05, log_every: int = 50) -> dict:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    pool = load_pool(data)
    val = random_batch(pool, 16, size, random.Random(seed + 1))
    ae = build_vae(cfg)
    if cfg.patch_skip:
        explained = init_patch_skip_pca(ae, pool, size, seed)
        with torch.no_grad():
            p0 = psnr(ae.decoder(ae.moments(val)[0]), val)
        print(json.dumps({"step": 0, "pca_explained": round(explained, 5), "val_psnr": round(p0, 2)}), flush=True)
    opt = torch.optim.AdamW(ae.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100) * (0.1 + 0.9 * 0.5 * (
        1 + math.cos(math.pi * min(s, steps) / steps))))
    log = []
    t0 = time.perf_counter()
    for step in range(steps):
        x = random_batch(pool, batch, size, rng)
        mean, logvar = ae.moments(x)
        # uare encodes with the posterior mean, so train the decoder on the mean; a little fixed noise
        # keeps it tolerant of the small errors a flow sampler leaves in the latents.
        z = mean + latent_noise * mean.detach().std() * torch.randn_like(mean)
        rec = ae.decoder(z)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()
        loss = F.l1_loss(rec, x) + F.mse_loss(rec, x) + kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ae.parameters(), 1.0)
        opt.step()
        sched.step()
        if (step + 1) % log_every == 0 or step == steps - 1:
            ae.eval()
            with torch.no_grad():
                vm, _ = ae.moments(val)
                p = psnr(ae.decoder(vm), val)
            ae.train()
            log.append({"step": step + 1, "loss": round(loss.item(), 5), "val_psnr": round(p, 2),
                        "seconds": round(time.perf_counter() - t0, 1)})
            print(json.dumps(log[-1]), flush=True)
    # measure the latent statistics so scaled latents are ~N(0, 1)
    ae.eval()
    with torch.no_grad():
        zs = torch.cat([ae.moments(random_batch(pool, 16, size, random.Random(seed + 2 + i)))[0] for i in range(8)])
    shift = float(zs.mean())
    scale = float(1.0 / zs.std())
    cfg.shift_factor, cfg.scale_factor = round(shift, 4), round(scale, 4)
    out.mkdir(parents=True, exist_ok=True)
    save_vae(ae, out / VAE_FILE, cfg)
    summary = {"config": cfg.__dict__, "steps": steps, "batch": batch, "crop": size, "lr": lr, "seed": seed,
               "final_val_psnr": log[-1]["val_psnr"], "seconds": round(time.perf_counter() - t0, 1),
               "parameters": sum(p.numel() for p in ae.parameters()), "log": log}
    (out / "vae_train.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="folder of clean training images (searched recursively)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ch", type=int, default=None, help="base width (default: the tiny preset's)")
    ap.add_argument("--norm-groups", type=int, default=None, help="GroupNorm groups (default: the tiny preset's)")
    args = ap.parse_args(argv)
    cfg = tiny().vae
    if args.ch is not None:
        cfg.ch = args.ch
    if args.norm_groups is not None:
        cfg.norm_groups = args.norm_groups
    cfg.__post_init__()  # re-validate the widths against the groups
    summary = train(cfg, args.data, args.out, args.steps, args.batch, args.size, args.lr, args.seed)
    print(json.dumps({k: v for k, v in summary.items() if k != "log"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
