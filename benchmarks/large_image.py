"""Large images, side by side: a 2000x1500 blind restore per checkout, each in a fresh process.

    python benchmarks/large_image.py --checkouts ../wt_before . --threads 2 --out benchmarks/results/large_image

For every checkout (a folder holding a ``uare`` package: the old code and this one, in one run on one
machine) and every case -- the first Kodak24 photo enlarged to 2000x1500 (bicubic), as is (``photo``)
and with Gaussian noise sigma 25 (``noisy``, seed 0) -- a fresh ``python`` restores it blind with the
shipped model of that checkout (``UARE.restore(image, seed=0)``, the CLI's defaults) and reports the
seconds of the call (model already loaded), the peak resident memory of the process, the tiles, whether
the output is the input, and the output's PSNR (RGB) against the input and, for ``noisy``, against the
clean photo. Writes ``large_image.json`` and ``large_image.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT.parent / "shared" / "datasets" / "test" / "Kodak24"

CHILD = r"""
import json, resource, sys, time
import numpy as np
import torch
from PIL import Image
torch.set_num_threads(int(sys.argv[3]))
from uare.infer import UARE
img = np.asarray(Image.open(sys.argv[1]).convert("RGB").resize((2000, 1500), Image.BICUBIC))
clean = img
if sys.argv[2] == "noisy":
    img = np.clip(img + np.random.default_rng(0).normal(0, 25, img.shape), 0, 255).astype(np.uint8)
m = UARE.from_pretrained()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
r = m.restore(img, seed=0)
secs = time.perf_counter() - t
def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))
print(json.dumps({"seconds": round(secs, 2), "tiles": r.tiles, "rss_after_load_mb": round(base / 1024),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                  "unchanged": bool(np.array_equal(r.image, img)), "psnr_vs_input": round(psnr(r.image, img), 2),
                  "psnr_vs_clean": round(psnr(r.image, clean), 2) if sys.argv[2] == "noisy" else None,
                  "input_psnr_vs_clean": round(psnr(img, clean), 2) if sys.argv[2] == "noisy" else None}))
"""


def run_case(checkout: Path, case: str, threads: int, photo: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout), OMP_NUM_THREADS=str(threads))
    p = subprocess.run([sys.executable, "-c", CHILD, str(photo), case, str(threads)], capture_output=True, text=True,
                       env=env, cwd=str(checkout), timeout=1800)
    if p.returncode:
        raise SystemExit(f"{checkout} {case}: failed: {p.stderr.strip().splitlines()[-1:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def markdown(result: dict) -> str:
    lines = ["| checkout | case | seconds | peak RSS MB | tiles | unchanged | PSNR vs input | PSNR vs clean (input) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, cases in result["runs"].items():
        for case, r in cases.items():
            clean = f"{r['psnr_vs_clean']} ({r['input_psnr_vs_clean']})" if r["psnr_vs_clean"] is not None else "-"
            lines.append(f"| {name} | {case} | {r['seconds']:.1f} | {r['peak_rss_mb']} | {r['tiles']} | "
                         f"{'yes' if r['unchanged'] else 'no'} | {r['psnr_vs_input']} | {clean} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkouts", nargs="+", type=Path, default=[ROOT])
    ap.add_argument("--cases", default="photo,noisy")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    photo = sorted(PHOTO.iterdir())[0]
    result: dict = {"threads": a.threads, "photo": f"Kodak24/{photo.name} enlarged to 2000x1500", "runs": {}}
    for c in a.checkouts:
        rev = subprocess.run(["git", "-C", str(c), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(c), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        name = f"{rev}{' + changes' if dirty else ''}"
        result["runs"][name] = {}
        for case in a.cases.split(","):
            result["runs"][name][case] = r = run_case(c.resolve(), case, a.threads, photo)
            print(f"{name} {case}: {r}", file=sys.stderr, flush=True)
    print(json.dumps(result, indent=1))
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "large_image.json").write_text(json.dumps(result, indent=1) + "\n")
        (a.out / "large_image.md").write_text(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
