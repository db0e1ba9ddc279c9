"""Choose uare-tiny's restoration inference settings on TRAINING images (bsd200 crops), never on test sets.

    python benchmarks/tune_restore.py MODEL_DIR [--n 5] [--variants base,residual] [--modes named,blind]

For each of the ten benchmark settings (uare.eval.settings) on ``--n`` 256-px bsd200 crops, prints the
input PSNR and the output PSNR per inference variant (``base``: the folder's inference.json;
``residual``: + residual_decode; ``nofix``: colour fix off), in "task named" and blind ("auto",
assess then restore) modes, plus the PSNR of clean crops against their output (do no harm).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from uare.eval.settings import get_settings, make_pair
from uare.infer import UARE
from uare.metrics import psnr

VARIANTS = {"base": {}, "residual": {"residual_decode": True}, "nofix": {"color_fix_sigma": 0.0},
            "residual_nofix": {"residual_decode": True, "color_fix_sigma": 0.0}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--variants", default="base,residual")
    ap.add_argument("--modes", default="named")
    ap.add_argument("--settings", default="all")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = UARE.from_pretrained(a.model)
    base = m.defaults
    files = sorted(Path("../shared/datasets/train/bsd200").iterdir())[::40][: a.n]
    imgs = [np.asarray(Image.open(p).convert("RGB"))[32:288, 64:320] for p in files]
    variants = a.variants.split(",")
    modes = a.modes.split(",")
    t0 = time.perf_counter()
    rows = {}
    for bs in get_settings(a.settings):
        acc = {f"{v}/{mo}": [] for v in variants for mo in modes}
        inp = []
        for i, img in enumerate(imgs):
            lq, gt, _ = make_pair(img, bs, 100 + i)
            up = lq if bs.scale == 1 else cv2.resize(lq, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_CUBIC)
            inp.append(psnr(up, gt))
            for v in variants:
                m.defaults = dataclasses.replace(base, **VARIANTS[v])
                for mo in modes:
                    task = (bs.tasks[0] if len(bs.tasks) == 1 else "auto") if mo == "named" else "auto"
                    out = m.restore(lq, task=task, scale=bs.scale, assess=mo == "blind").image
                    acc[f"{v}/{mo}"].append(psnr(out, gt))
        rows[bs.name] = {"input": round(float(np.mean(inp)), 2),
                         **{k: round(float(np.mean(x)), 2) for k, x in acc.items()}}
        print(bs.name, json.dumps(rows[bs.name]), flush=True)
    clean = {}
    for v in variants:
        m.defaults = dataclasses.replace(base, **VARIANTS[v])
        clean[v] = round(float(np.mean([psnr(m.restore(img).image, img) for img in imgs])), 2)
    print("clean (blind) output vs input:", json.dumps(clean))
    gains = {k: round(float(np.mean([r[k] - r["input"] for r in rows.values()])), 2)
             for k in next(iter(rows.values())) if k != "input"}
    print("mean gain:", json.dumps(gains), f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
