"""How much of the dark-channel prior to blend into uare-tiny's dehazing (``haze_prior`` in ``inference.json``).

    python benchmarks/haze_prior.py --out benchmarks/results/haze_prior

Training images only (BSD200, colour; the bench's CBSD68 / Kodak24 are never used to choose), hazed at the
engine's levels 1-5 (``degrade(..., "single", types=["haze"])``, seed 1000 + its index in the level's subset,
quantised to 8 bits as the bench does; :data:`PLAN` says which images, 85 in all). Each is dehazed by the model
(named ``dehaze``, ``haze_prior`` off) and by DCP (:func:`uare.infer.dehaze.dcp_dehaze_float`); the script
reports RGB PSNR per level for the model, DCP, fixed blends and the shipped rule
(:func:`uare.infer.dehaze.haze_prior_weight` capped at ``--max-weight``) and how often each falls more than
0.5 dB below the model alone. ``HAZE_PRIOR_RULE`` was fitted on these rows (``rows`` in ``prior.json``: each
image's median dark channel, mean luma and contrast, and its PSNR with the DCP output blended in at 0, 0.25,
0.5, 0.75 and 1). Writes ``prior.json`` and ``prior.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the uare of this checkout

from uare.data.images import load_rgb  # noqa: E402
from uare.degrade import degrade  # noqa: E402
from uare.infer.dehaze import dcp_dehaze_float, haze_prior_weight  # noqa: E402
from uare.infer.pipeline import UARE  # noqa: E402
from uare.io import iter_inputs  # noqa: E402
from uare.metrics.color import rgb_to_y  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "train" / "bsd200"
PLAN = ((1, 0, 16), (2, 5, 12), (3, 0, 8), (4, 7, 12), (5, 0, 16))  # (level, first image, every N-th image)


def _psnr(x: np.ndarray, y: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.clip(x, 0, 1) - y) ** 2)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: the shipped uare-tiny)")
    ap.add_argument("--max-weight", type=float, default=0.5, help="the ramp's full weight (inference.json haze_prior)")
    ap.add_argument("--limit", type=int, default=None, help="at most this many images per level (a quick run)")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    m = UARE.from_pretrained(a.model)
    m.defaults = dataclasses.replace(m.defaults, haze_prior=0.0)
    paths = iter_inputs(DATA)
    methods = ("model", "dcp", "blend 0.25", "blend 0.5", "rule")
    res: dict[str, dict] = {}
    for level, first, every in PLAN:
        rows = []
        for i, p in enumerate(paths[first::every][: a.limit]):
            gt = np.asarray(load_rgb(p), dtype=np.float32)
            gt = gt / 255.0 if gt.max() > 1.0 else gt
            if gt.ndim != 3 or gt.shape[2] != 3:
                continue
            lq = np.round(np.clip(degrade(gt, "single", types=["haze"], severity=level, seed=1000 + i)[0], 0, 1) * 255)
            lq = lq.astype(np.uint8)
            f = lq.astype(np.float32) / 255.0
            out = np.asarray(m.restore(lq, task="dehaze").image, dtype=np.float32) / 255.0
            prior = np.clip(dcp_dehaze_float(f), 0.0, 1.0)
            w, med = haze_prior_weight(f, a.max_weight)
            y = rgb_to_y(f * 255.0, "yiq") / 255.0
            outs = {"model": out, "dcp": prior, "blend 0.25": out + 0.25 * (prior - out),
                    "blend 0.5": out + 0.5 * (prior - out), "rule": out + w * (prior - out)}
            rows.append({"image": p.stem, "input": _psnr(f, gt), "dark_median": med, "luma_mean": float(y.mean()),
                         "luma_std": float(y.std()), "weight": w, **{k: _psnr(v, gt) for k, v in outs.items()},
                         "blend": {str(b): _psnr(out + b * (prior - out), gt) for b in (0.0, 0.25, 0.5, 0.75, 1.0)}})
            print(f"L{level} {p.stem}: " + " ".join(f"{k} {rows[-1][k]:.2f}" for k in ("input", *methods)), flush=True)
        res[f"L{level}"] = {
            "n": len(rows), "rows": rows,
            "dark_median": [round(min(r["dark_median"] for r in rows), 3), round(max(r["dark_median"] for r in rows), 3)],
            "mean": {k: round(float(np.mean([r[k] for r in rows])), 3) for k in ("input", *methods)},
            "below_model": {k: int(sum(r[k] < r["model"] - 0.5 for r in rows)) for k in methods[1:]},
        }
    head = "| level | n | median dark channel | input | " + " | ".join(methods) + " |"
    lines = [head, "|---" * (4 + len(methods)) + "|"]
    for lev, v in res.items():
        cells = [f"{v['mean'][k]:.2f}" + (f" ({v['below_model'][k]} worse)" if k != "model" else "") for k in methods]
        lines.append(f"| {lev} | {v['n']} | {v['dark_median'][0]:.2f}-{v['dark_median'][1]:.2f} | "
                     f"{v['mean']['input']:.2f} | " + " | ".join(cells) + " |")
    md = "\n".join(lines) + "\n\n(mean RGB PSNR in dB; in brackets: images more than 0.5 dB below the model alone)\n"
    print(md)
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "prior.json").write_text(json.dumps({"max_weight": a.max_weight, "levels": res}, indent=1))
        (a.out / "prior.md").write_text(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
