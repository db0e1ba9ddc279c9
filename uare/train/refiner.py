"""Train the LQ-guided refiner (:mod:`uare.model.refiner`) of a model folder: a pool, then a resumable run.

Two steps, both resumable and seeded::

    python -m uare.train.refiner pool  --model uare/weights/uare-tiny --out runs/refiner/pool --n 1200 --shard 0
    python -m uare.train.refiner train --pool runs/refiner/pool --out runs/refiner/run --steps 6000
    python -m uare.train.refiner export --run runs/refiner/run --model-out OUT_FOLDER

**Pool.** Each example is a training crop (colour-augmented, :mod:`uare.data.augment`), degraded by the
engine (single / multi / x2 and x4 down-sampling / Real-ESRGAN x4, or left clean), then put through the
model's own restoration stages (:meth:`UARE.plan_restoration` and :meth:`UARE.generate`: the assessment,
the written analysis and the flow step, exactly as inference runs them, in blind, named-task and
plain-instruction modes) with the gate forced open. It stores the clean crop, the input at the output size
and the generated pixels as the refiner reads them (:meth:`UARE.prepare_refinement`: with the colour fix
of mean-keeping restorations, so global colour comes from the input there and from the generation expert
for low light and haze), so the refiner learns from the generation expert's real outputs, mistakes
included. Shards are independent (``--shard K`` seeds shard K), so two processes fill a pool side by side.

**Train.** Random sub-crops of the pool (flips / transposes of all three images together), L1 loss of
``gen + R(lq, gen)`` against the clean crop, Adam with a cosine schedule; a checkpoint (weights and
optimiser, safetensors / ``weights_only`` files) every ``--save-every`` steps, and ``--resume`` continues
bit for bit. Validation PSNR per degradation group on held-out pool shards is logged to ``log.jsonl``:
the refiner's learning curve beside the generation expert's own output and the input.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from uare.data.augment import ColorAugment
from uare.data.images import load_rgb
from uare.degrade import degrade, sr_downsample
from uare.degrade.types import TYPE_CATEGORY
from uare.errors import UareError
from uare.io.folders import iter_inputs
from uare.model.refiner import (
    HEAD_NAMES,
    NAMED_HEADS,
    REFINER_FILE,
    Refiner,
    RefinerBank,
    RefinerConfig,
    load_refiner,
    save_refiner,
    tone_transfer,
)
from uare.tasks import TASK_CATEGORY

#: category -> the single-purpose task that removes it
CATEGORY_TASK = {c: t for t, c in TASK_CATEGORY.items()}
#: how a pool example is degraded: (name, probability)
DRAWS = (("clean", 0.06), ("single", 0.34), ("multi", 0.2), ("sr4", 0.16), ("sr2", 0.06), ("realesrgan", 0.18))
#: how its generation is run: blind (task auto), the task named, or a plain instruction without analysis
MODES = (("blind", 0.55), ("named", 0.35), ("plain", 0.10))
DEFAULT_TRAIN = ("../shared/datasets/train/bsd200", "../shared/datasets/train/t91", "../shared/datasets/train/gray400")


def _choice(rng: np.random.Generator, table: tuple[tuple[str, float], ...]) -> str:
    names, p = zip(*table, strict=True)
    return str(rng.choice(names, p=np.array(p) / sum(p)))


def training_images(folders: list[str] | tuple[str, ...], gray_share: float = 0.1, min_side: int = 0
                    ) -> tuple[list, np.ndarray]:
    """The images of ``folders`` (those with both sides >= ``min_side``) and their draw weights: grayscale
    images together get ``gray_share``.

    Refuses test sets (a path with ``datasets/test``): they are for measurement only.
    """
    imgs = []
    for f in folders:
        if "datasets/test" in Path(f).resolve().as_posix():
            raise UareError(f"{f}: a test set; the refiner trains on training images only")
        imgs += [im for im in (load_rgb(p) for p in iter_inputs(f)) if min(im.shape[:2]) >= min_side]
    if not imgs:
        raise UareError(f"no images in {', '.join(folders)}")
    gray = np.array([bool(np.all(im[..., 0] == im[..., 1]) and np.all(im[..., 1] == im[..., 2])) for im in imgs])
    w = np.where(gray, gray_share / max(1, gray.sum()), (1 - gray_share) / max(1, (~gray).sum()))
    if not gray.any() or gray.all():
        w = np.full(len(imgs), 1.0 / len(imgs))
    return imgs, w / w.sum()


def draw_example(img: np.ndarray, rng: np.random.Generator, crop: int = 128, augment: ColorAugment | None = None
                 ) -> tuple[np.ndarray, np.ndarray, int, str, list[str]]:
    """(clean crop, degraded input, scale, draw name, categories) of one image."""
    augment = augment or ColorAugment()
    h, w = img.shape[:2]
    side = min(crop, h, w) // 16 * 16
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    hq = augment(np.ascontiguousarray(img[y:y + side, x:x + side]), rng)
    kind = _choice(rng, DRAWS)
    seed = int(rng.integers(2**31))
    if kind == "clean":
        return hq, hq.copy(), 1, kind, []
    if kind in ("sr4", "sr2"):
        s = 4 if kind == "sr4" else 2
        lq, _ = sr_downsample(hq, s)
        return hq, lq, s, kind, ["lowres"]
    if kind == "realesrgan":
        lq, rec = degrade(hq, "realesrgan", scale=4, seed=seed)
        return hq, lq, 4, kind, ["lowres", *rec.severities()]
    lq, rec = degrade(hq, kind, seed=seed)
    return hq, lq, 1, kind, list(rec.severities())


def _task_for(cats: list[str], scale: int, rng: np.random.Generator) -> str:
    if scale > 1:
        return "sr"
    tasks = [CATEGORY_TASK[c] for c in cats if c in CATEGORY_TASK]
    return str(rng.choice(tasks)) if tasks else "auto"


def build_pool(model, images: list, weights: np.ndarray, n: int, shard: int, out: Path, crop: int = 128,
               log_every: int = 50) -> Path:
    """Write shard ``shard`` of ``n`` examples (see the module docstring) to ``out/shard_K.safetensors``."""
    rng = np.random.default_rng([20261206, shard])
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"shard_{shard:03d}.safetensors"
    if path.exists():
        return path
    hqs, lqs, gens, meta = [], [], [], []
    t0 = time.time()
    for i in range(n):
        img = images[int(rng.choice(len(images), p=weights))]
        hq, lq_small, scale, kind, cats = draw_example(img, rng, crop)
        mode = _choice(rng, MODES)
        task = _task_for(cats, scale, rng) if mode == "named" else ("sr" if scale > 1 and mode == "plain" else "auto")
        job = model.plan_restoration(lq_small, task=task, scale=scale, assess=mode != "plain", force=True,
                                     seed=int(rng.integers(2**31)), fidelity=0.0)
        gen, _, _ = model.generate(job)
        gen = model.prepare_refinement(job, gen)  # what the refiner reads at inference (colour fix included)
        hqs.append(hq)
        lqs.append(job.lq.astype(np.float16))
        gens.append(np.clip(gen, 0, 1).astype(np.float16))
        meta.append({"kind": kind, "mode": mode, "task": task, "scale": scale, "cats": cats,
                     "color_fix": any(n.startswith("colour fix") for n in job.notes)})
        if log_every and (i + 1) % log_every == 0:
            print(f"shard {shard}: {i + 1}/{n} ({(time.time() - t0) / (i + 1):.2f} s/example)", flush=True)
    sizes = {x.shape for x in hqs}
    side = min(s[0] for s in sizes)
    # examples are cropped to one side (small T91 images give smaller crops: they are centre-cropped)
    def fit(a: np.ndarray) -> np.ndarray:
        y, x = (a.shape[0] - side) // 2, (a.shape[1] - side) // 2
        return a[y:y + side, x:x + side]

    tensors = {"hq": torch.from_numpy(np.stack([fit(a) for a in hqs])),
               "lq": torch.from_numpy(np.stack([fit(a) for a in lqs])),
               "gen": torch.from_numpy(np.stack([fit(a) for a in gens]))}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"examples": json.dumps(meta), "crop": str(side)})
    tmp.rename(path)
    return path


def load_pool(folder: Path, shards: list[int] | None = None) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """The pool's tensors (hq uint8, lq / gen float16, NHWC) and the examples' metadata."""
    from safetensors import safe_open

    files = sorted(Path(folder).glob("shard_*.safetensors"))
    if shards is not None:
        files = [f for f in files if int(f.stem.split("_")[1]) in shards]
    if not files:
        raise UareError(f"{folder}: no pool shards; run `python -m uare.train.refiner pool` first")
    parts: dict[str, list[torch.Tensor]] = {"hq": [], "lq": [], "gen": []}
    meta: list[dict] = []
    side = None
    for f in files:
        with safe_open(str(f), framework="pt") as fh:
            md = fh.metadata()
            crop = int(md["crop"])
            side = crop if side is None else min(side, crop)
            meta += json.loads(md["examples"])
            for k in parts:
                parts[k].append(fh.get_tensor(k))
    out = {}
    for k, v in parts.items():
        out[k] = torch.cat([t[:, (t.shape[1] - side) // 2:(t.shape[1] - side) // 2 + side,
                               (t.shape[2] - side) // 2:(t.shape[2] - side) // 2 + side] for t in v])
    return out, meta


def _batch(pool: dict[str, torch.Tensor], idx: np.ndarray, size: int, rng: np.random.Generator
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    side = pool["hq"].shape[1]
    hq, lq, gen = [], [], []
    for i in idx:
        y, x = (int(v) * 2 for v in rng.integers(0, (side - size) // 2 + 1, 2))
        t = [pool["hq"][i, y:y + size, x:x + size].float() / 255.0, pool["lq"][i, y:y + size, x:x + size].float(),
             pool["gen"][i, y:y + size, x:x + size].float()]
        k = rng.integers(8)
        if k & 1:
            t = [a.flip(0) for a in t]
        if k & 2:
            t = [a.flip(1) for a in t]
        if k & 4:
            t = [a.transpose(0, 1) for a in t]
        hq.append(t[0])
        lq.append(t[1])
        gen.append(t[2])
    def nchw(v: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(v).permute(0, 3, 1, 2).contiguous()

    return nchw(hq), nchw(lq), nchw(gen)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 1) - b) ** 2).mean())
    return 10 * math.log10(1.0 / max(mse, 1e-12))


GROUPS = ("clean", "single", "multi", "sr4", "sr2", "realesrgan")


@torch.no_grad()
def validate(ref: Refiner, pool: dict[str, torch.Tensor], meta: list[dict]) -> dict[str, dict[str, float]]:
    """Mean PSNR (dB, RGB) of input, generated and refined images per draw group on a held-out pool."""
    out: dict[str, dict[str, list[float]]] = {}
    for i, m in enumerate(meta):
        hq = pool["hq"][i].float().div(255).permute(2, 0, 1)[None]
        lq = pool["lq"][i].float().permute(2, 0, 1)[None]
        gen = pool["gen"][i].float().permute(2, 0, 1)[None]
        r = ref(lq, gen)
        g = out.setdefault(m["kind"], {"input": [], "gen": [], "refined": []})
        g["input"].append(_psnr(lq, hq))
        g["gen"].append(_psnr(gen, hq))
        g["refined"].append(_psnr(r, hq))
    return {k: {n: round(float(np.mean(v)), 3) for n, v in d.items()} | {"n": len(d["input"])} for k, d in out.items()}


def train(pool_dir: Path, out: Path, steps: int, batch: int = 16, crop: int = 64, lr: float = 1e-3,
          config: RefinerConfig | None = None, val_shards: tuple[int, ...] = (0,), save_every: int = 200,
          seed: int = 0, resume: bool = True, time_limit: float | None = None, stop_at: int | None = None,
          device: str = "cpu", loss: str = "l1") -> Path:
    """Train (or resume) a refiner on the pool; returns the run folder (``latest/``, ``best/``, ``log.jsonl``).

    ``loss``: ``l1`` (mean absolute error over the batch) or ``logmse`` (the mean over crops of
    log(MSE + 1e-5): maximises the mean PSNR gain, so crops whose large errors the refiner cannot fix
    do not drown the ones it can). The schedule runs over ``steps``; ``time_limit`` (seconds) or ``stop_at`` (a step) end this call early,
    and a later call with the same arguments resumes from the last checkpoint bit for bit."""
    out.mkdir(parents=True, exist_ok=True)
    all_shards = sorted(int(f.stem.split("_")[1]) for f in Path(pool_dir).glob("shard_*.safetensors"))
    train_shards = [s for s in all_shards if s not in val_shards] or all_shards
    pool, _ = load_pool(pool_dir, train_shards)
    vpool, vmeta = load_pool(pool_dir, list(val_shards)) if set(val_shards) & set(all_shards) else (None, [])
    n = pool["hq"].shape[0]
    ckpt = out / "latest"
    state_file = ckpt / "state.json"
    if resume and state_file.is_file():
        st = json.loads(state_file.read_text())
        ref = load_refiner(ckpt, device)
        assert ref is not None
        ref.train()
        opt = torch.optim.Adam(ref.parameters(), lr=lr)
        opt.load_state_dict(torch.load(ckpt / "optim.pt", weights_only=True, map_location=device))
        step, best = st["step"], st.get("best")
        rng = np.random.default_rng()
        rng.bit_generator.state = st["rng"]
        print(f"resumed at step {step} from {ckpt}", flush=True)
    else:
        torch.manual_seed(seed)
        ref = Refiner(config or RefinerConfig()).to(device).train()
        opt = torch.optim.Adam(ref.parameters(), lr=lr)
        step, best, rng = 0, None, np.random.default_rng(seed)
    t0 = time.time()
    log = (out / "log.jsonl").open("a")
    while step < steps:
        if (time_limit is not None and time.time() - t0 > time_limit) or (stop_at is not None and step >= stop_at):
            break
        cur = lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for g in opt.param_groups:
            g["lr"] = cur
        hq, lq, gen = (t.to(device) for t in _batch(pool, rng.integers(0, n, batch), crop, rng))
        out_ = ref(lq, gen)
        if loss == "logmse":
            value = torch.log(((out_ - hq) ** 2).mean(dim=(1, 2, 3)) + 1e-5).mean()
        else:
            value = F.l1_loss(out_, hq)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step}/{steps} loss {value.item():.4f} lr {cur:.2e} {(time.time() - t0) / 60:.1f} min",
                  flush=True)
        if step % save_every == 0 or step == steps:
            rec: dict = {"step": step, "loss": round(value.item(), 5), "minutes": round((time.time() - t0) / 60, 2)}
            if vpool is not None:
                ref.eval()
                v = validate(ref.cpu(), vpool, vmeta)
                ref.to(device)
                ref.train()
                rec["val"] = v
                score = float(np.mean([g["refined"] - g["input"] for k, g in v.items() if k != "clean"]))
                rec["val_gain"] = round(score, 3)
                if best is None or score > best:
                    best = score
                    (out / "best").mkdir(exist_ok=True)
                    save_refiner(ref, out / "best")
                    (out / "best" / "state.json").write_text(json.dumps({"step": step, "val_gain": score}))
            log.write(json.dumps(rec) + "\n")
            log.flush()
            ckpt.mkdir(exist_ok=True)
            save_refiner(ref, ckpt)
            torch.save(opt.state_dict(), ckpt / "optim.pt")
            state_file.write_text(json.dumps({"step": step, "best": best, "rng": rng.bit_generator.state}))
    log.close()
    return out


def main(argv: list[str] | None = None) -> int:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["heads"]:
        return heads_main(argv[1:])
    if argv[:1] == ["bank"]:
        return bank_main(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m uare.train.refiner", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pool", help="generate pool shards with a model's own restoration stages")
    p.add_argument("--model", default=None, help="model folder (default: the shipped uare-tiny)")
    p.add_argument("--data", nargs="+", default=list(DEFAULT_TRAIN))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=300, help="examples per shard")
    p.add_argument("--shard", type=int, nargs="+", required=True)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    t = sub.add_parser("train", help="train (or resume) a refiner on a pool")
    t.add_argument("--pool", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--steps", type=int, default=6000)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--crop", type=int, default=48)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--channels", type=int, default=48)
    t.add_argument("--layers", type=int, default=10)
    t.add_argument("--unshuffle", type=int, default=1, choices=(1, 2, 4))
    t.add_argument("--val-shards", type=int, nargs="*", default=[0])
    t.add_argument("--save-every", type=int, default=200)
    t.add_argument("--minutes", type=float, default=None, help="stop after this many minutes (resumable)")
    t.add_argument("--device", default="cpu", help="cpu or cuda")
    t.add_argument("--loss", choices=("l1", "logmse"), default="l1")
    e = sub.add_parser("export", help="copy a run's best refiner into a model folder (fp16 or fp32)")
    e.add_argument("--run", type=Path, required=True)
    e.add_argument("--model-out", type=Path, required=True)
    e.add_argument("--which", choices=("best", "latest"), default="best")
    e.add_argument("--dtype", choices=("fp16", "fp32"), default="fp32")
    a = ap.parse_args(argv)
    if a.cmd == "pool":
        from uare.infer import UARE

        model = UARE.from_pretrained(a.model, device=a.device)
        images, weights = training_images(a.data, min_side=a.crop)
        for s in a.shard:
            print(build_pool(model, images, weights, a.n, s, a.out, a.crop), flush=True)
    elif a.cmd == "train":
        train(a.pool, a.out, a.steps, a.batch, a.crop, a.lr, RefinerConfig(a.channels, a.layers, a.unshuffle),
              tuple(a.val_shards), a.save_every, time_limit=None if a.minutes is None else a.minutes * 60,
              device=a.device, loss=a.loss)
    else:
        ref = load_refiner(a.run / a.which)
        if ref is None:
            raise SystemExit(f"{a.run / a.which}: no refiner.safetensors")
        print(save_refiner(ref, a.model_out, torch.float16 if a.dtype == "fp16" else torch.float32))
    return 0




# ---------------------------------------------------------------- per-category heads, trained on the fly
#: category -> the engine draws (pipeline, types) that train its head; "lowres" is x2 / x4 down-sampling
HEAD_DRAWS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "jpeg": (("single", ("jpeg",)),),
    "noise": (("single", ("noise",)), ("single", ("poisson_noise",))),
    "blur": (("single", ("blur",)), ("single", ("defocus_blur",)), ("single", ("motion_blur",))),
    "lowres": (("sr", ("x4",)), ("sr", ("x4",)), ("sr", ("x2",)), ("realesrgan", ("x4",))),
    "bicubic_x4": (("sr", ("x4",)),),  # NAMED_HEADS: a named x4 SR's input, a clean bicubic down-sampling
}


#: optional extra draws (``heads --tone-draws``): the input a head meets on the low-light path, where it runs on
#: ``tone_transfer(generated, lq)`` -- here with a perfect generation, the clean crop's tone on the darkened
#: input's detail (its sensor noise amplified by the brightening); "tone-multi" adds the engine's noise
TONE_DRAWS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "noise": (("tone-single", ("lowlight",)), ("tone-multi", ("lowlight", "noise"))),
}


#: optional extra draws (``heads --chain-draws``): the input a head meets in a chain of heads, where the heads
#: that run before it (:data:`HEAD_ORDER`) have already treated the other degradations of a multi-degraded
#: input -- e.g. the blur head after the JPEG head on blur + JPEG. The earlier heads come from ``--init``.
CHAIN_DRAWS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "blur": (("chain-multi", ("blur", "jpeg")), ("chain-multi", ("blur", "noise"))),
    "noise": (("chain-multi", ("noise", "jpeg")),),
}


def head_pair(hq: np.ndarray, category: str, rng: np.random.Generator, tone: bool = False,
              chain: RefinerBank | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(degraded input at the clean crop's size, clean crop) for the head of ``category``: a random draw of
    its types at a random level 1..5 (down-sampled inputs enlarged back by bicubic, as inference does; the
    ``realesrgan`` draw is the engine's Real-ESRGAN x4 second-order pipeline). ``tone``: the category's
    :data:`TONE_DRAWS` join its draws. ``chain``: a bank whose heads make the category's :data:`CHAIN_DRAWS`
    join its draws (a multi-degraded crop through the bank's heads for the other types, as inference chains
    them)."""
    import cv2

    table = (HEAD_DRAWS[category] + (TONE_DRAWS.get(category, ()) if tone else ())
             + (CHAIN_DRAWS.get(category, ()) if chain is not None else ()))
    pipeline, types = table[int(rng.integers(len(table)))]
    if pipeline.startswith("chain-"):
        assert chain is not None
        lq, _ = degrade(hq, pipeline[6:], types=list(types), severity=int(rng.integers(1, 6)),
                        seed=int(rng.integers(2**31)))
        before = chain.route({TYPE_CATEGORY[t] for t in types} - {category})  # the heads of the other types
        x = chain.restore(lq.astype(np.float32) / 255.0, before)
        return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8), hq
    if pipeline.startswith("tone-"):
        dark, _ = degrade(hq, pipeline[5:], types=list(types), severity=int(rng.integers(1, 6)),
                          seed=int(rng.integers(2**31)))
        lq = tone_transfer(hq.astype(np.float32) / 255.0, dark.astype(np.float32) / 255.0)
        return np.round(lq * 255.0).astype(np.uint8), hq
    if pipeline in ("sr", "realesrgan"):
        s = 4 if types[0] == "x4" else 2
        if pipeline == "sr":
            lr, _ = sr_downsample(hq, s)
        else:
            lr, _ = degrade(hq, "realesrgan", scale=s, seed=int(rng.integers(2**31)))
        return cv2.resize(lr, (hq.shape[1], hq.shape[0]), interpolation=cv2.INTER_CUBIC), hq
    lq, _ = degrade(hq, pipeline, types=list(types), severity=int(rng.integers(1, 6)), seed=int(rng.integers(2**31)))
    return lq, hq


def _head_batch(category: str, images: list, weights: np.ndarray, crop: int, batch: int, rng: np.random.Generator,
                aug: ColorAugment, tone: bool = False, chain: RefinerBank | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for _ in range(batch):
        img = images[int(rng.choice(len(images), p=weights))]
        h, w = img.shape[:2]
        y, x = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
        hq = aug(np.ascontiguousarray(img[y:y + crop, x:x + crop]), rng)
        lq, gt = head_pair(hq, category, rng, tone, chain)
        xs.append(torch.from_numpy(lq.astype(np.float32) / 255).permute(2, 0, 1))
        ys.append(torch.from_numpy(gt.astype(np.float32) / 255).permute(2, 0, 1))
    cl = torch.channels_last  # the heads' layout (uare.model.refiner): 1.5x faster convolutions on CPUs
    return torch.stack(xs).contiguous(memory_format=cl), torch.stack(ys).contiguous(memory_format=cl)


@torch.no_grad()
def _head_val(ref: Refiner, val: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
    """Mean PSNR (dB, RGB) of the input and of the head's output over fixed validation draws."""
    x, y = val
    out = torch.cat([ref(x[i:i + 8], x[i:i + 8]) for i in range(0, len(x), 8)])
    def psnr(a: torch.Tensor) -> float:
        mse = ((a.clamp(0, 1) - y) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
        return float((10 * torch.log10(1 / mse)).mean())

    pi, po = psnr(x), psnr(out)
    return {"input": round(pi, 3), "head": round(po, 3), "gain": round(po - pi, 3)}


def train_head(category: str, images: list, weights: np.ndarray, out: Path, minutes: float | None = None,
               crop: int = 48, batch: int = 16, lr: float = 1e-3, config: RefinerConfig | None = None,
               seed: int = 0, max_steps: int | None = None, steps: int | None = None, init: Refiner | None = None,
               save_every: int = 100, val_n: int = 32, stop_at: int | None = None, tone: bool = False,
               chain: RefinerBank | None = None) -> tuple[Refiner, int]:
    """Train the head of one category on fresh draws of colour-augmented training crops; writes
    ``out/CATEGORY/refiner.safetensors`` and returns it with the number of steps done.

    Two schedules. With ``steps`` the learning rate follows a cosine over that many steps and the run is
    resumable: a checkpoint (weights, ``optim.pt`` read with ``weights_only``, the draw generator's state)
    every ``save_every`` steps, ``minutes`` (or ``stop_at``, a step) ends this call early, and calling again with the same arguments
    continues bit for bit; PSNR on ``val_n`` fixed validation draws (96-px crops of the training images,
    their own seed) is logged to ``log.jsonl`` at each checkpoint, the head's learning curve. ``init`` starts
    from a trained head (fine-tuning; ignored when resuming). ``tone``: train (not validate) with the
    category's :data:`TONE_DRAWS` too; ``chain`` (a bank): train with the category's :data:`CHAIN_DRAWS`, the earlier heads run from ``chain``; validation stays on the plain draws, comparable across runs. Without ``steps``, the cosine runs over
    ``minutes`` of wall time (not resumable), capped at ``max_steps``.
    """
    if category not in HEAD_DRAWS:
        raise UareError(f"no head for {category!r}; heads exist for {', '.join(HEAD_DRAWS)}")
    folder = out / category
    folder.mkdir(parents=True, exist_ok=True)
    state_file = folder / "state.json"
    aug = ColorAugment()
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, list(HEAD_DRAWS).index(category)])
    step = 0
    if steps is not None and state_file.is_file() and (folder / "optim.pt").is_file():
        st = json.loads(state_file.read_text())
        ref = load_refiner(folder)
        if not isinstance(ref, Refiner):
            raise UareError(f"{folder}: not a head checkpoint")
        ref.train()
        opt = torch.optim.Adam(ref.parameters(), lr=lr)
        opt.load_state_dict(torch.load(folder / "optim.pt", weights_only=True))
        rng.bit_generator.state = st["rng"]
        step = int(st["steps"])
        print(f"head {category}: resumed at step {step}", flush=True)
    else:
        ref = Refiner(config or RefinerConfig()).train()
        if init is not None:
            ref.load_state_dict({k: v.float() for k, v in init.state_dict().items()})
        opt = torch.optim.Adam(ref.parameters(), lr=lr)
    vrng = np.random.default_rng([seed, 99, list(HEAD_DRAWS).index(category)])
    vcrop = min(96, *(min(im.shape[:2]) for im in images))
    val = _head_batch(category, images, weights, vcrop, val_n, vrng, aug) if steps is not None and val_n else None
    total = steps if steps is not None else max_steps
    budget = None if minutes is None else minutes * 60.0
    t0 = time.time()

    def save() -> None:
        ref.eval()
        save_refiner(ref, folder)
        rec = {"category": category, "steps": step, "crop": crop, "batch": batch, "lr": lr} | (
            {"tone_draws": True} if tone else {}) | ({"chain_draws": True} if chain is not None else {})
        if steps is not None:
            torch.save(opt.state_dict(), folder / "optim.pt")
            rec |= {"total_steps": steps, "rng": rng.bit_generator.state}
            if val is not None:
                v = _head_val(ref, val)
                with (folder / "log.jsonl").open("a") as fh:
                    fh.write(json.dumps({"step": step, "val": v}) + "\n")
                print(f"head {category}: step {step} val {v}", flush=True)
        else:
            rec["minutes"] = minutes
        state_file.write_text(json.dumps(rec))
        ref.train()

    while total is None or step < total:
        el = time.time() - t0
        if (budget is not None and el >= budget) or (stop_at is not None and step >= stop_at):
            break
        frac = step / steps if steps is not None else min(1.0, el / (budget or 1.0))
        for g in opt.param_groups:
            g["lr"] = lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * frac)))
        x, y = _head_batch(category, images, weights, crop, batch, rng, aug, tone, chain)
        value = F.l1_loss(ref(x, x), y)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            print(f"head {category}: step {step} loss {value.item():.4f} {(time.time() - t0) / 60:.1f} min", flush=True)
        if steps is not None and step % save_every == 0:
            save()
    if steps is None or step % save_every:  # not already saved at this step
        save()
    return ref.eval(), step


def heads_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m uare.train.refiner heads")
    ap.add_argument("--data", nargs="+", default=list(DEFAULT_TRAIN))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--categories", nargs="+", default=[c for c in HEAD_DRAWS if c not in NAMED_HEADS],
                    choices=list(HEAD_DRAWS),
                    help="the heads to train (default: the chain's; " + ", ".join(NAMED_HEADS) + " on request)")
    ap.add_argument("--steps", type=int, default=None,
                    help="steps per head (cosine over steps, resumable: run again to continue)")
    ap.add_argument("--minutes", type=float, default=None,
                    help="with --steps: stop this call after this many minutes per head; without: the time budget "
                         "per head (default 10)")
    ap.add_argument("--init", type=Path, default=None,
                    help="a model folder whose refiner.safetensors bank holds the heads to start from")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--crop", type=int, default=48)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--channels", type=int, default=48)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--save-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tone-draws", action="store_true",
                    help="also train on the low-light path's input (TONE_DRAWS; heads: " + ", ".join(TONE_DRAWS) + ")")
    ap.add_argument("--chain-draws", action="store_true",
                    help="also train on the input a head meets after the earlier heads of a chain, run from --init's "
                         "bank (CHAIN_DRAWS; heads: " + ", ".join(CHAIN_DRAWS) + ")")
    a = ap.parse_args(argv)
    if a.chain_draws and not set(a.categories) <= set(CHAIN_DRAWS):
        ap.error(f"--chain-draws trains {', '.join(CHAIN_DRAWS)} only, got --categories {' '.join(a.categories)}")
    if a.chain_draws and a.init is None:
        ap.error("--chain-draws runs the earlier heads of the chain from a bank: give --init MODEL_FOLDER")
    if a.tone_draws and not set(a.categories) <= set(TONE_DRAWS):
        ap.error(f"--tone-draws trains {', '.join(TONE_DRAWS)} only, got --categories {' '.join(a.categories)}")
    for name in ("steps", "max_steps", "save_every", "threads", "crop", "batch", "channels", "layers"):
        v = getattr(a, name)
        if v is not None and v < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    if a.minutes is not None and a.minutes <= 0:
        ap.error(f"--minutes must be > 0, got {a.minutes}")
    if a.threads:
        torch.set_num_threads(a.threads)
    minutes = a.minutes if (a.minutes is not None or a.steps is not None) else 10.0
    bank = None
    if a.init is not None:
        bank = load_refiner(a.init)
        if not isinstance(bank, RefinerBank):
            raise SystemExit(f"error: {a.init}: no refiner bank (refiner.safetensors with heads) to start from")
    images, weights = training_images(a.data, min_side=a.crop)
    for c in a.categories:
        # a head the bank lacks starts from the one it stands in for (NAMED_HEADS), if the bank has that
        src = c if bank is not None and c in bank.heads else NAMED_HEADS.get(c, (c,))[0]
        init = bank.heads[src] if bank is not None and src in bank.heads else None
        cfg = init.config if init is not None else RefinerConfig(a.channels, a.layers)
        _, steps = train_head(c, images, weights, a.out, minutes, a.crop, a.batch, a.lr, cfg, max_steps=a.max_steps,
                              steps=a.steps, init=init, save_every=a.save_every, tone=a.tone_draws,
                              chain=bank if a.chain_draws else None)
        print(f"head {c}: {steps} steps -> {a.out / c}", flush=True)
    return 0


def build_bank(heads_dir: Path) -> RefinerBank:
    """One :class:`RefinerBank` from the head folders ``heads_dir/CATEGORY`` that :func:`train_head` wrote."""
    heads = {c: load_refiner(heads_dir / c) for c in HEAD_NAMES if (heads_dir / c / REFINER_FILE).is_file()}
    if not heads:
        raise UareError(f"{heads_dir}: no trained heads; run `python -m uare.train.refiner heads` first")
    configs = {h.config for h in heads.values()}
    if len(configs) > 1:
        raise UareError(f"{heads_dir}: the heads have different configs ({configs}); train them alike")
    bank = RefinerBank(configs.pop(), tuple(heads))
    for c, h in heads.items():
        bank.heads[c].load_state_dict(h.state_dict())
    return bank.eval()


def bank_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m uare.train.refiner bank",
                                 description="write the trained heads into a model folder as one refiner.safetensors")
    ap.add_argument("--heads", type=Path, required=True)
    ap.add_argument("--model-out", type=Path, required=True)
    ap.add_argument("--dtype", choices=("fp16", "fp32"), default="fp32")
    a = ap.parse_args(argv)
    bank = build_bank(a.heads)
    print(save_refiner(bank, a.model_out, torch.float16 if a.dtype == "fp16" else torch.float32))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
