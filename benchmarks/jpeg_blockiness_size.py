"""How reliable the JPEG grid statistic is on small images (``JPEG_MEASURE_MIN_SIDE`` in :mod:`uare.infer.pipeline`).

    python benchmarks/jpeg_blockiness_size.py --out benchmarks/results/jpeg_blockiness_size

:func:`uare.metrics.grid.jpeg_blockiness` compares gradients across the 8-px grid with those elsewhere; on a
small image it averages over few blocks. For each side, one random square crop of every colour training image
(BSD200, T91) that is large enough: the share of clean crops at or above the threshold (a false JPEG finding)
and the share of the same crops saved as JPEG quality 20 (the engine's level 4) that reach it. Prints and writes
``size.json`` and ``size.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the uare of this checkout
sys.path.insert(0, str(ROOT / "benchmarks"))

from _statistics import DATA, load_folders, write_outputs  # noqa: E402

from uare.degrade import degrade  # noqa: E402
from uare.metrics.grid import jpeg_blockiness  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sides", default="24,32,48,64,96,128,192,256")
    ap.add_argument("--threshold", type=float, default=1.25, help="uare-tiny's jpeg_blockiness (default 1.25)")
    ap.add_argument("--data", type=Path, default=DATA, help="the datasets folder (default ../shared/datasets)")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    try:
        sides = [int(s) for s in a.sides.split(",")]
    except ValueError:
        ap.error(f"--sides takes comma-separated integers, got {a.sides!r}")
    if min(sides) <= 16 or a.threshold <= 0:
        ap.error("--sides must be > 16 px and --threshold > 0")
    images = load_folders(a.data / "train", ("bsd200", "t91"))
    if not images:
        print(f"jpeg_blockiness_size: no training images under {a.data / 'train'}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    rows = {}
    for side in sides:
        clean, jpeg = [], []
        for i, im in enumerate(images):
            h, w = im.shape[:2]
            if min(h, w) < side:
                continue
            y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            c = np.ascontiguousarray(im[y:y + side, x:x + side])
            clean.append(jpeg_blockiness(c.astype(np.float32) / 255))
            j, _ = degrade(c, "single", types=["jpeg"], severity=4, seed=i)
            jpeg.append(jpeg_blockiness(j.astype(np.float32) / 255))
        rows[side] = {"n": len(clean), "clean_at_or_above": round(float(np.mean(np.array(clean) >= a.threshold)), 4),
                      "clean_q99": round(float(np.quantile(clean, 0.99)), 3),
                      "jpeg_q20_at_or_above": round(float(np.mean(np.array(jpeg) >= a.threshold)), 4)}
    lines = [f"| side (px) | crops | clean ≥ {a.threshold:g} | clean 99th percentile | JPEG q20 ≥ {a.threshold:g} |",
             "|---|---|---|---|---|"]
    lines += [f"| {s} | {r['n']} | {100 * r['clean_at_or_above']:.1f} % | {r['clean_q99']:.2f} | "
              f"{100 * r['jpeg_q20_at_or_above']:.1f} % |" for s, r in rows.items()]
    write_outputs(a.out, "size", {"threshold": a.threshold, "sides": rows}, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
