"""Training throughput on the CPU: tokens/s and samples/s of the tiny config, 1 and 2 processes (gloo DDP).

Runs ``configs/tiny/stage1.yaml`` (or ``--config``) for ``--steps`` steps from a random tiny model with
``--procs`` processes each (torchrun; default one thread per process: ``1:1,2:1``), on
synthetic images (skimage crops) unless ``--data`` names a folder, and reads the JSON-lines log. The
first ``--warmup`` steps are excluded (imports, first allocations). Writes JSON and a Markdown table.

    python benchmarks/train.py --steps 12 --out results/bench_train
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _images(folder: Path) -> None:
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate([data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]):
        Image.fromarray(im[:256, :256]).save(folder / f"{i}.png")


def run_one(config: Path, procs: int, steps: int, data: Path, work: Path, extra: list[str],
            threads: int = 0) -> dict:
    out = work / f"p{procs}t{threads}"
    threads = threads or max(1, (os.cpu_count() or 2) // procs)
    sets = ["--set", f"data.sources.0.folders=[{data}]", "--set", "log.every=1", "--set", "log.progress=false",
            "--set", f"checkpoint.every={10 * steps}", "--set", f"train.threads={threads}",
            "--set", "init.seed=0", "--set", "log.tensorboard=false"]
    for e in extra:
        sets += ["--set", e]
    args = ["train", str(config), "--out", str(out), "--max-steps", str(steps), *sets]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    if procs == 1:
        cmd = [sys.executable, "-m", "uare", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs), "--master_addr",
               "127.0.0.1", "--master_port", str(_free_port()), "-m", "uare", *args]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(f"training failed ({procs} procs):\n{r.stderr[-3000:]}")
    return {"procs": procs, "threads_per_proc": threads, "wall_s": wall,
            "log": [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]}


def summarize(run: dict, warmup: int) -> dict:
    log = [r for r in run["log"] if r["step"] > warmup]
    t = sum(r["step_s"] for r in log)
    return {"procs": run["procs"], "threads_per_proc": run["threads_per_proc"], "steps": len(log),
            "tokens_per_s": sum(r["tokens"] for r in log) / t, "samples_per_s": sum(r["samples"] for r in log) / t,
            "image_tokens_per_s": sum(r["image_tokens"] for r in log) / t, "step_s": t / len(log),
            "wall_s": run["wall_s"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(REPO / "configs/tiny/stage1.yaml"))
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--procs", default="1:1,2:1", help="comma-separated process counts, e.g. 1,2 or 1:1 (procs:threads)")
    ap.add_argument("--data", default=None, help="image folder (default: 4 synthetic 256x256 images)")
    ap.add_argument("--set", dest="extra", action="append", default=[], help="extra config overrides")
    ap.add_argument("--out", default="results/bench_train")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = Path(a.data) if a.data else work / "imgs"
        if not a.data:
            _images(data)
        rows = []
        for spec in a.procs.split(","):
            p, _, t = spec.partition(":")
            rows.append(summarize(run_one(Path(a.config), int(p), a.steps, data, work, a.extra, int(t or 0)),
                                  a.warmup))
    import torch

    meta = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "config": a.config, "steps": a.steps,
            "warmup_excluded": a.warmup, "load_average": os.getloadavg()}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [f"# Training throughput ({meta['date']}, {meta['cpus']} CPUs, torch {meta['torch']})", "",
             f"config {Path(a.config).name}, {a.steps} steps, first {a.warmup} excluded; "
             f"load average at the end {meta['load_average'][0]:.1f}", "",
             "| processes | threads each | step (s) | tokens/s | samples/s | noisy image tokens/s |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['procs']} | {r['threads_per_proc']} | {r['step_s']:.2f} | {r['tokens_per_s']:.0f} | "
                     f"{r['samples_per_s']:.2f} | {r['image_tokens_per_s']:.0f} |")
    (out / "train.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
