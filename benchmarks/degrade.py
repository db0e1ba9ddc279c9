"""Throughput of the Real-ESRGAN degradation pipeline on one core, against a plain OpenCV reference.

The reference does the same sequence of operations (blur, resize, noise, JPEG, blur, resize, noise,
resize + sinc, JPEG) with fixed parameters and plain cv2 / numpy calls, no records, no random
draws: the floor of what the work costs. Prints JSON, then a Markdown table.

    python benchmarks/degrade.py [--images DIR] [--n 200] [--sizes 256 512]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from uare.degrade import realesrgan  # noqa: E402
from uare.degrade.kernels import gaussian_kernel, sinc_kernel  # noqa: E402


def load_crops(images: Path | None, size: int, n: int) -> list[np.ndarray]:
    """``n`` random crops of ``size``² from a folder, or from scikit-image's bundled photos."""
    rng = np.random.default_rng(0)
    if images is not None:
        files = sorted(p for p in images.iterdir() if p.suffix.lower() in {".png", ".jpg", ".bmp"})
        pool = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in files]
    else:
        from skimage import data

        pool = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    pool = [cv2.resize(p, None, fx=2, fy=2) if min(p.shape[:2]) < size else p for p in pool]
    crops = []
    for i in range(n):
        p = pool[i % len(pool)]
        y = int(rng.integers(0, p.shape[0] - size + 1))
        x = int(rng.integers(0, p.shape[1] - size + 1))
        crops.append(np.ascontiguousarray(p[y : y + size, x : x + size]))
    return crops


def reference(img: np.ndarray, k1: np.ndarray, k2: np.ndarray, ks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same operations with fixed parameters in plain OpenCV / numpy."""
    h, w = img.shape[:2]
    f = img.astype(np.float32) / 255
    f = cv2.filter2D(f, -1, k1, borderType=cv2.BORDER_REFLECT_101)
    f = cv2.resize(f, (int(w * 0.6), int(h * 0.6)), interpolation=cv2.INTER_AREA)
    f = f + rng.standard_normal(f.shape, dtype=np.float32) * (15 / 255)
    u8 = np.clip(np.rint(f * 255), 0, 255).astype(np.uint8)
    f = cv2.imdecode(cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, 60])[1], cv2.IMREAD_COLOR).astype(np.float32) / 255
    f = cv2.filter2D(f, -1, k2, borderType=cv2.BORDER_REFLECT_101)
    f = cv2.resize(f, (int(w / 4 * 0.8), int(h / 4 * 0.8)), interpolation=cv2.INTER_LINEAR)
    f = f + rng.standard_normal(f.shape, dtype=np.float32) * (10 / 255)
    f = cv2.resize(f, (w // 4, h // 4), interpolation=cv2.INTER_CUBIC)
    f = cv2.filter2D(f, -1, ks, borderType=cv2.BORDER_REFLECT_101)
    u8 = np.clip(np.rint(f * 255), 0, 255).astype(np.uint8)
    return cv2.imdecode(cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, 60])[1], cv2.IMREAD_COLOR)


def bench(fn, crops: list[np.ndarray]) -> float:
    fn(crops[0], 0)  # warm-up
    t = time.perf_counter()
    for i, c in enumerate(crops):
        fn(c, i)
    return len(crops) / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=None, help="folder of clean images (default: skimage photos)")
    ap.add_argument("--n", type=int, default=200, help="crops per size")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args(argv)

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    k1, k2 = gaussian_kernel(21, 1.5), gaussian_kernel(21, 0.8)
    ks = sinc_kernel(11, np.pi / 2, pad_to=21)

    rows = []
    for size in args.sizes:
        crops = load_crops(args.images, size, args.n)
        ours = bench(lambda c, i: realesrgan(c, scale=4, seed=i), crops)
        ref_rng = np.random.default_rng(0)
        ref = bench(lambda c, i, r=ref_rng: reference(c, k1, k2, ks, r), crops)
        rows.append({"size": size, "n": args.n, "uare_realesrgan_img_per_s": round(ours, 1),
                     "opencv_reference_img_per_s": round(ref, 1), "ratio": round(ours / ref, 3)})
    result = {
        "benchmark": "degrade", "cores": 1, "machine": platform.processor() or platform.machine(),
        "python": sys.version.split()[0], "opencv": cv2.__version__, "numpy": np.__version__, "rows": rows,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print("\n| crop | uare realesrgan (img/s, 1 core) | plain OpenCV reference (img/s) | ratio |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']}² | {r['uare_realesrgan_img_per_s']} | {r['opencv_reference_img_per_s']} | {r['ratio']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
