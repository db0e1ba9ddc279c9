"""Where to draw the measured-underexposure line (``lowlight_headroom`` in ``inference.json``).

    python benchmarks/lowlight_headroom.py --out benchmarks/results/lowlight_headroom

The statistic (:func:`uare.metrics.exposure.lowlight_headroom`) is the 99.5th percentile of max(R, G, B): how
bright the brightest pixels are. It is computed on every clean training image (BSD200, T91, gray400), on
every clean test image (CBSD68, Kodak24, Set14, Urban100's first 20 and the gray test sets: never used to
choose anything), and on every third training image darkened by the degradation engine's low light at
levels 1-5 (exposure and gamma in linear light plus sensor noise, one seed per image). Prints and writes
``headroom.json`` and ``headroom.md``: per group min / median / max, and for each candidate threshold how
many clean images and what share of each level fall below it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the uare of this checkout

from uare.data.images import load_rgb  # noqa: E402
from uare.degrade import degrade  # noqa: E402
from uare.io import iter_inputs  # noqa: E402
from uare.metrics.exposure import lowlight_headroom  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
TRAIN = ("bsd200", "t91", "gray400")
TEST = ("CBSD68", "Kodak24", "Set14", "Urban100_first20", "BSD68_gray", "Set12_gray", "classic5_gray")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--thresholds", default="0.5,0.52,0.55")
    ap.add_argument("--every", type=int, default=3, help="darken every N-th training image (default 3)")
    ap.add_argument("--limit", type=int, default=None, help="at most this many images per folder (a quick run)")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    ths = [float(t) for t in a.thresholds.split(",")]

    def images(base: Path, names) -> list[np.ndarray]:
        return [load_rgb(p) for n in names if (base / n).is_dir() for p in iter_inputs(base / n)[:a.limit]]

    train, test = images(DATA / "train", TRAIN), images(DATA / "test", TEST)
    groups = {"clean training": [lowlight_headroom(im) for im in train],
              "clean test": [lowlight_headroom(im) for im in test]}
    for lev in range(1, 6):
        groups[f"low light L{lev}"] = [
            lowlight_headroom(degrade(im, "single", types=["lowlight"], severity=lev, seed=i)[0])
            for i, im in enumerate(train[::a.every])]
    res = {k: {"n": len(v), "min": round(min(v), 4), "median": round(float(np.median(v)), 4),
               "max": round(max(v), 4), "below": {str(t): int(sum(x < t for x in v)) for t in ths}}
           for k, v in groups.items()}
    head = "| group | n | min | median | max | " + " | ".join(f"below {t:g}" for t in ths) + " |"
    lines = [head, "|---" * (5 + len(ths)) + "|"]
    lines += [f"| {k} | {v['n']} | {v['min']:.3f} | {v['median']:.3f} | {v['max']:.3f} | "
              + " | ".join(f"{v['below'][str(t)]} ({100 * v['below'][str(t)] / v['n']:.1f} %)" for t in ths) + " |"
              for k, v in res.items()]
    md = "\n".join(lines) + "\n"
    print(md)
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "headroom.json").write_text(json.dumps({"thresholds": ths, "groups": res}, indent=1))
        (a.out / "headroom.md").write_text(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
