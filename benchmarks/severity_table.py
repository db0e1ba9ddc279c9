"""Mean PSNR (RGB, 8-bit) of every single degradation type at every severity level on a folder.

The calibration check of :mod:`uare.degrade.severity`: each row must fall strictly with the level.
Every type of the degradation table (uare/degrade/types.py), opt-in ones too.
Default folder: ../shared/datasets/test/Kodak24 (scikit-image photos when it is absent).

    python benchmarks/severity_table.py [--images DIR] [--seed 0] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from uare.degrade import TYPES, single

DEFAULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "test" / "Kodak24"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def load(folder: Path) -> dict[str, np.ndarray]:
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".bmp", ".jpg", ".tif"})
        return {p.name: np.asarray(Image.open(p).convert("RGB")) for p in files}
    from skimage import data

    return {n: getattr(data, n)() for n in ("astronaut", "chelsea", "coffee", "rocket")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=DEFAULT)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    images = load(args.images)
    t0 = time.perf_counter()
    table: dict[str, list[float]] = {}
    for t in TYPES:
        table[t] = []
        for level in range(1, 6):
            vals = [psnr(single(img, t, level, seed=args.seed + i)[0], img) for i, img in enumerate(images.values())]
            table[t].append(round(float(np.mean(vals)), 2))
    result = {"benchmark": "severity_table", "images": str(args.images), "n_images": len(images),
              "seconds": round(time.perf_counter() - t0, 1), "mean_psnr_db": table,
              "monotonic": {t: all(a > b for a, b in zip(v, v[1:], strict=False)) for t, v in table.items()}}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(f"\nMean PSNR (dB, RGB) on {len(images)} images of {args.images.name}:\n")
    print("| type | level 1 | level 2 | level 3 | level 4 | level 5 |")
    print("|---|---|---|---|---|---|")
    for t, v in table.items():
        print(f"| {t} | " + " | ".join(f"{x:.2f}" for x in v) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
