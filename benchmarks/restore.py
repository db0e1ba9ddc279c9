"""Restoration benchmark: ten fixed, seeded degradation settings x classical baselines (and the model).

Calls :func:`uare.eval.bench.run_bench_restore` (the same code as ``uare bench restore``), writes
the reports under ``--out`` and prints the summary JSON, then the Markdown tables.

    python benchmarks/restore.py [--images DIR ...] [--limit N] [--model DIR] [--settings all]
        [--baselines all] [--out results/bench_restore]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from uare.eval.bench import run_bench_restore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", nargs="+", default=None, help="clean image folders (default: CBSD68, Kodak24)")
    ap.add_argument("--limit", type=int, default=None, help="first N images per folder")
    ap.add_argument("--model", default=None, help="UARE checkpoint folder to add as a row")
    ap.add_argument("--settings", default="all")
    ap.add_argument("--baselines", default="all")
    ap.add_argument("--metrics", default="psnr,ssim,niqe,brisque")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/bench_restore")
    a = ap.parse_args()
    t = time.perf_counter()
    r = run_bench_restore(a.images, a.model, a.baselines.split(","), a.settings, a.metrics, a.limit, a.seed,
                          "cpu", a.out)
    r["meta"]["wall_seconds"] = round(time.perf_counter() - t, 1)
    r["meta"]["machine"] = f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"
    md = r.pop("markdown")
    print(json.dumps(r, indent=2, default=str))
    print()
    print(md)


if __name__ == "__main__":
    main()
