"""IQA benchmark: SRCC / PLCC / KRCC of no-reference scorers on synthetic, TID2013 and user MOS sets.

Calls :func:`uare.eval.bench.run_bench_iqa` (the same code as ``uare bench iqa``), writes the
reports under ``--out`` and prints the summary JSON, then the Markdown tables.

    python benchmarks/iqa.py [--scorers niqe,brisque] [--limit N] [--mos CSV] [--out results/bench_iqa]
"""

from __future__ import annotations

import argparse
import json
import time

from uare.eval.bench import run_bench_iqa


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scorers", default="niqe,brisque")
    ap.add_argument("--model", default=None, help="UARE checkpoint folder (for the uare scorer)")
    ap.add_argument("--images", nargs="+", default=None)
    ap.add_argument("--limit", type=int, default=None, help="first N images per folder of the synthetic set")
    ap.add_argument("--mos", default=None)
    ap.add_argument("--mos-images", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/bench_iqa")
    a = ap.parse_args()
    t = time.perf_counter()
    r = run_bench_iqa(a.scorers.split(","), a.model, a.images, a.limit, True, True, a.mos, a.mos_images, a.seed,
                      "cpu", a.out)
    r["meta"]["wall_seconds"] = round(time.perf_counter() - t, 1)
    md = r.pop("markdown")
    print(json.dumps(r, indent=2, default=str))
    print()
    print(md)


if __name__ == "__main__":
    main()
