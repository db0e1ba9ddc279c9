"""Inference latency and memory: assess and restore at several sizes on the CPU, each in a fresh process.

Every measurement runs in its own subprocess so its peak RSS is its own. Restore uses a fixed number
of flow steps, with and without the assessment; 2048² and 4096² inputs are restored tiled (the
default 512-px tiles with 64-px overlap) to show that memory stays bounded.

    python benchmarks/infer.py [--model DIR] [--steps 10] [--sizes 256 512 1024] [--large 2048 4096]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
from uare.infer import UARE
args = json.loads(sys.argv[1])
m = UARE.from_pretrained(args["model"])
rng = np.random.default_rng(0)
s = args["size"]
small = rng.integers(0, 256, (s // 16 + 1, s // 16 + 1, 3), dtype=np.uint8)
import cv2
img = cv2.resize(small, (s, s), interpolation=cv2.INTER_CUBIC)
out = {"size": s, "what": args["what"]}
t = time.perf_counter()
if args["what"] == "assess":
    m.assess(img)
else:
    r = m.restore(img, steps=args["steps"], assess=args["what"] == "restore+assess", seed=0)
    out["tiles"] = r.tiles
out["seconds"] = round(time.perf_counter() - t, 3)
out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
print(json.dumps(out))
"""


def run(model: str | None, what: str, size: int, steps: int) -> dict:
    payload = json.dumps({"model": model, "what": what, "size": size, "steps": steps})
    r = subprocess.run([sys.executable, "-c", CHILD, payload], capture_output=True, text=True)
    if r.returncode != 0:
        return {"size": size, "what": what, "error": r.stderr.strip().splitlines()[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint folder (default: the shipped / stand-in uare-tiny)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--large", type=int, nargs="*", default=[2048, 4096])
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = []
    for s in args.sizes:
        for what in ("assess", "restore", "restore+assess"):
            rows.append(run(args.model, what, s, args.steps))
    for s in args.large:
        rows.append(run(args.model, "restore", s, args.steps))
    result = {"benchmark": "infer", "machine": platform.processor() or platform.machine(), "steps": args.steps,
              "model": args.model or "default", "rows": rows, "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    print("\n| task | size | tiles | latency (s) | peak RSS (MiB) |\n|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['what']} | {r['size']}² | - | error: {r['error']} | - |")
        else:
            print(f"| {r['what']} | {r['size']}² | {r.get('tiles', '-')} | {r['seconds']} | {r['peak_rss_mib']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
