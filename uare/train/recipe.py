"""The whole uare-tiny recipe in one call, within a time budget: understanding pre-training, stage 1, stage 2.

    python -m uare.train.recipe --configs configs/gpu --data DIR --out $OUT [--budget 480]
    python -m uare.train.recipe --configs configs/gpu --data DIR --out /tmp/r --micro   # CPU check, seconds

Each phase is an ordinary ``uare train`` config (``<configs>/stage0_und.yaml``, ``stage1.yaml``,
``stage2.yaml``); the recipe only chains them (each phase starts from the previous one's ``final``),
points every data source at ``--data`` (clean training images, e.g. a folder made by ``pack-data``),
gives each phase its share of ``--budget`` seconds (``train.max_seconds``: a phase stops there, saves
and exports what it reached) and finally exports the stage-2 weights to ``<out>/uare-tiny`` with the
inference defaults, plus ``<out>/recipe.json`` (device, seconds, steps and last losses per phase).
The autoencoder is not retrained: ``--vae`` (default: the shipped uare-tiny AE) is loaded into phase 1.

``--micro`` swaps in the micro model and a few steps per phase, so the whole chain runs on a CPU in
seconds (the tests do).

    python -m uare.train.recipe pack-data ../shared/datasets/train/bsd200 ../shared/datasets/train/t91 --out .gpu_data

writes the training images as PNG crops of at most ``--side`` px (the device machine takes at most
64 MiB with a call and does not see ../shared).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from uare.errors import UareError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = Path(__file__).resolve().parents[1] / "weights" / "uare-tiny"

#: (phase, config file, share of the time budget)
PHASES: tuple[tuple[str, str, float], ...] = (
    ("und", "stage0_und.yaml", 0.30),
    ("stage1", "stage1.yaml", 0.30),
    ("stage2", "stage2.yaml", 0.40),
)


@dataclass
class PhaseResult:
    name: str
    seconds: float
    steps: int
    last_loss: float | None
    final: str


def _phase_config(path: Path, data: list[str], out: Path, init_path: Path | None, vae: Path | None,
                  budget: float, micro: bool):
    from uare.train.config import config_from_dict

    d = yaml.safe_load(path.read_text())
    for s in d["data"]["sources"]:
        s["folders"] = list(data)
    init = d.setdefault("init", {})
    if init.get("vit_patch_init"):
        init["pca_folders"] = list(data)
    if init_path is not None:
        init["path"] = str(init_path)
        init.pop("preset", None)
    elif vae is not None:
        init["vae"] = str(vae)
    d["out"] = str(out)
    d.setdefault("train", {})["max_seconds"] = float(budget)
    if micro:
        if init_path is None:
            init["preset"] = "micro"
            init.pop("vae", None)
        d["train"].update(max_steps=4, grad_accum=1, threads=1)
        d["data"].update(num_workers=0, tokens_per_pack=600, vit_max_size=56, vit_min_size=28)
        d["data"].pop("curriculum", None)
        for s in d["data"]["sources"]:
            s["crop"] = [32, 48]
        d["checkpoint"] = {"every": 2, "keep": 1, "export": "ema"}
        d["log"] = {"every": 1, "tensorboard": False, "progress": False}
        d["train"]["precision"] = "fp32"
    return config_from_dict(d)


def run(configs: Path, data: list[str], out: Path, budget: float = 480.0, vae: Path | None = None,
        micro: bool = False, inference: Path | None = None, log=print) -> dict:
    """Train every phase in turn and export the result; returns the summary written to recipe.json."""
    import torch

    from uare.model.vae import VAE_FILE
    from uare.train.export import export
    from uare.train.trainer import train

    for f in data:
        if not Path(f).is_dir():
            raise UareError(f"{f}: training image folder not found")
    vae = vae if vae is not None else (None if micro else SHIPPED / VAE_FILE)
    out.mkdir(parents=True, exist_ok=True)
    runs = out / "runs"
    t_all = time.perf_counter()
    results: list[PhaseResult] = []
    prev: Path | None = None
    for name, file, share in PHASES:
        cfg = _phase_config(configs / file, data, runs / name, prev, vae, budget * share, micro)
        log(f"recipe: {name} ({configs / file}), up to {budget * share:.0f} s")
        t0 = time.perf_counter()
        res = train(cfg)
        if res.final is None:
            raise UareError(f"phase {name} ended without exporting its weights")
        results.append(PhaseResult(name, round(time.perf_counter() - t0, 1), res.step,
                                   round(res.losses[-1], 5) if res.losses else None, str(res.final)))
        prev, last_cfg = res.final, cfg
    inference = inference or (ROOT / "configs" / "tiny" / "inference.json")
    release = out / "uare-tiny"
    sizes = export(prev, release, dtype="fp32" if micro else "fp16",
                   inference=inference if inference.is_file() else None, overwrite=True, train_config=last_cfg)
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    summary = {"device": dev, "torch": torch.__version__, "budget_s": budget, "micro": micro,
               "seconds": round(time.perf_counter() - t_all, 1), "phases": [r.__dict__ for r in results],
               "release": str(release), "release_bytes": sum(sizes.values())}
    (out / "recipe.json").write_text(json.dumps(summary, indent=2))
    shutil.rmtree(runs / "stage1" / "checkpoints", ignore_errors=True)  # keep $OUT small
    return summary


def pack_data(folders: list[str], out: Path, side: int = 320, max_mb: float = 56.0) -> dict:
    """Copy training images as PNG crops (centre, at most ``side`` px a side) for a device machine."""
    import numpy as np
    from PIL import Image

    from uare.data.images import list_images, load_rgb

    out.mkdir(parents=True, exist_ok=True)
    total, n = 0, 0
    for f in list_images(folders):
        img = load_rgb(f)
        h, w = img.shape[:2]
        y, x = max(0, (h - side) // 2), max(0, (w - side) // 2)
        crop = np.ascontiguousarray(img[y:y + side, x:x + side])
        dst = out / f"{f.parent.name}_{f.stem}.png"
        Image.fromarray(crop).save(dst, optimize=True)
        total += dst.stat().st_size
        n += 1
        if total > max_mb * 2**20:
            raise UareError(f"{out}: over {max_mb} MB after {n} images; lower --side")
    return {"images": n, "mb": round(total / 2**20, 2)}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["pack-data"]:
        ap = argparse.ArgumentParser(prog="python -m uare.train.recipe pack-data")
        ap.add_argument("folders", nargs="+")
        ap.add_argument("--out", type=Path, required=True)
        ap.add_argument("--side", type=int, default=320)
        a = ap.parse_args(argv[1:])
        print(json.dumps(pack_data(a.folders, a.out, a.side)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=Path, default=ROOT / "configs" / "gpu")
    ap.add_argument("--data", nargs="+", required=True, help="folders of clean training images")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--budget", type=float, default=480.0, help="seconds of training over all phases")
    ap.add_argument("--vae", type=Path, default=None, help="ae.safetensors (default: the shipped uare-tiny AE)")
    ap.add_argument("--micro", action="store_true", help="micro model, a few steps: a CPU check of the chain")
    a = ap.parse_args(argv)
    try:
        summary = run(a.configs, a.data, a.out, a.budget, a.vae, a.micro,
                      log=lambda s: print(s, file=sys.stderr, flush=True))
    except UareError as e:
        print(f"recipe: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
