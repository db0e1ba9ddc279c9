"""Watch a uare-tiny training run's IQA on *training* images (monitoring only; never a test folder).

    python benchmarks/monitor_iqa.py runs/tiny/stage0/checkpoints/latest [--n 8]

Loads the checkpoint's EMA weights, cuts a 192-px crop from the last ``--n`` images of
../shared/datasets/train/bsd200, degrades each with every single type at levels 1..5 (plus the clean
crop) and prints the SRCC of the model's score against the ground-truth score, the mean Kendall tau
over levels per type, and how the score moves with the crop's size. Targets are measured by
``uare bench iqa`` on the test folders, not here.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from uare.data.images import load_rgb
from uare.degrade import SINGLE_TYPES, degrade
from uare.infer.pipeline import UARE, InferenceDefaults
from uare.model.checkpoint import load_checkpoint
from uare.quality import summarize

ROOT = Path(__file__).resolve().parents[1]


def load_ema(folder: Path) -> UARE:
    """A checkpoint folder (``latest`` resolved) with its EMA weights when it has them."""
    if folder.name == "latest" and folder.is_file():
        folder = folder.parent / folder.read_text().strip()
    ck = load_checkpoint(folder, device="cpu", dtype="fp32")
    ema = folder / "ema.safetensors"
    if ema.is_file():
        from safetensors.torch import load_file

        ck.model.load_state_dict(load_file(str(ema)), strict=True)
    shipped = ROOT / "configs" / "tiny" / "inference.json"
    return UARE(ck, InferenceDefaults.from_file(shipped))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt", type=Path)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load_ema(a.ckpt)
    files = sorted((ROOT.parent / "shared/datasets/train/bsd200").glob("*.png"))[-a.n:]
    t0 = time.perf_counter()
    truth, pred, taus = [], [], {t: [] for t in SINGLE_TYPES}
    sizes = []
    for i, f in enumerate(files):
        img = load_rgb(f)
        h, w = img.shape[:2]
        crop = img[(h - 192) // 2:(h - 192) // 2 + 192, (w - 192) // 2:(w - 192) // 2 + 192]
        s_clean = model.assess(crop, describe=False).score
        truth.append(5.0)
        pred.append(s_clean)
        for t in SINGLE_TYPES:
            ps = []
            for lv in (1, 2, 3, 4, 5):
                deg, rec = degrade(crop, "single", types=[t], severity=lv, seed=1000 * i + lv)
                s = model.assess(deg, describe=False).score
                truth.append(summarize(rec, clean=crop, degraded=deg).score)
                pred.append(s)
                ps.append(s)
            taus[t].append(kendalltau([1, 2, 3, 4, 5], [-p for p in ps]).statistic)
        sizes.append([model.assess(np.ascontiguousarray(crop[:s, :s]), describe=False).score
                      for s in (96, 128, 160, 192)])
    srcc = spearmanr(truth, pred).statistic
    print(f"{a.ckpt}: SRCC {srcc:.3f} over {len(truth)} views ({time.perf_counter() - t0:.0f} s); "
          f"clean mean {np.mean(pred[::51]):.2f}")
    print("  tau per type: " + ", ".join(f"{t} {np.nanmean(v):.2f}" for t, v in taus.items()))
    sz = np.array(sizes)
    print("  score by crop size 96/128/160/192: " + " / ".join(f"{v:.2f}" for v in sz.mean(0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
