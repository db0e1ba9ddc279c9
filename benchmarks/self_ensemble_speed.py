"""What the heads' self-ensemble costs: seconds of ``UARE.restore`` at each view count, in one process.

    python benchmarks/self_ensemble_speed.py --threads 2 --out benchmarks/results/release12

On a 512x512 and a 128x128 crop of Kodak24/kodim03: a blind restore forced past the gate (512²), a named
``--task jpeg`` (512²) and a named x4 up-scale (128²), each with ``self_ensemble`` 1, 2, 4 and 8 (median of 3
after a warm-up; the model loaded once, as a server or a folder run would). Writes ``self_ensemble_speed.json``
and ``self_ensemble_speed.md``. Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's uare, not another worktree's
from side_by_side import _timed  # noqa: E402  (median of 3 after a warm-up; this script's folder is on sys.path)

PHOTO = REPO.parent / "shared" / "datasets" / "test" / "Kodak24" / "kodim03.png"


def measure(model_dir: str | None, views: list[int]) -> dict[str, dict[int, float]]:
    """{case: {views: seconds}} for the three cases of the module docstring."""
    import numpy as np

    from uare.eval.bench_restore import load_clean
    from uare.infer import UARE

    model = UARE.from_pretrained(model_dir)
    img = load_clean(PHOTO)
    c512 = np.ascontiguousarray(img[:512, 128:640])
    c128 = np.ascontiguousarray(img[192:320, 320:448])
    cases = {
        "restore 512² (blind, forced)": lambda v: model.restore(c512, force=True, self_ensemble=v),
        "restore 512² (--task jpeg)": lambda v: model.restore(c512, task="jpeg", self_ensemble=v),
        "x4 of 128² (--task sr)": lambda v: model.restore(c128, scale=4, task="sr", self_ensemble=v),
    }
    out: dict[str, dict[int, float]] = {}
    for name, fn in cases.items():
        out[name] = {}
        for v in views:
            out[name][v] = round(_timed(lambda fn=fn, v=v: fn(v)), 3)
    return out


def markdown(res: dict[str, dict[int, float]]) -> str:
    views = sorted({v for row in res.values() for v in row})
    lines = ["| case | " + " | ".join(f"{v} view{'s' if v > 1 else ''} (s)" for v in views) + " |",
             "|---|" + "---|" * len(views)]
    for name, row in res.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[v]:.2f}" for v in views) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model folder (default: the shipped uare-tiny)")
    ap.add_argument("--views", default="1,2,4,8", help="view counts to time (default 1,2,4,8)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("results/self_ensemble_speed"))
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    res = measure(args.model, [int(v) for v in args.views.split(",")])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "self_ensemble_speed.json").write_text(json.dumps(
        {"threads": args.threads, "model": args.model or "uare/weights/uare-tiny", "seconds": res}, indent=1) + "\n")
    (args.out / "self_ensemble_speed.md").write_text(markdown(res))
    print(markdown(res), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
