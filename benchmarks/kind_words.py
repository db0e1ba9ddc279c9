"""Which sub-type words a model can back: its accuracy per written kind word on held-out images.

    python benchmarks/kind_words.py                       # the shipped model, 12 held-out crops
    python benchmarks/kind_words.py --model DIR --limit 6 --out benchmarks/results

Each held-out image (the first ``--limit`` of CBSD68 and Kodak24, a central 192-px crop) is degraded by
the engine with every kind of the categories that have several (noise: Gaussian, Poisson, and the sensor
noise of low light; blur: Gaussian, motion, defocus) at levels 2, 3 and 4, and assessed. For every word
the model writes (``noise:poisson`` = it wrote "Poisson noise") the table counts the true kinds behind
it. A word is *reliable* when it is right at least ``--threshold`` of the time (default 0.8) over at
least ``--min-n`` writings (default 10); :func:`reliable_kinds` turns the counts into the
``kind_words`` entry of ``inference.json`` (other kinds are then written with the category's word).
Writes ``kind_words.json`` and ``kind_words.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "datasets" / "test"
#: engine type -> (category, true kind)
PROBES = {"noise": ("noise", "gaussian"), "poisson_noise": ("noise", "poisson"), "lowlight": ("noise", "sensor"),
          "blur": ("blur", "gaussian"), "motion_blur": ("blur", "motion"), "defocus_blur": ("blur", "defocus")}
THRESHOLD, MIN_N = 0.8, 10


def reliable_kinds(counts: dict[str, dict[str, int]], threshold: float = THRESHOLD, min_n: int = MIN_N
                   ) -> dict[str, list[str]]:
    """``kind_words`` from the counts ``{"noise:poisson": {"poisson": 23, "gaussian": 20}, ...}``: per
    probed category, the kinds whose word was right >= ``threshold`` of >= ``min_n`` writings."""
    out: dict[str, list[str]] = {c: [] for c, _ in PROBES.values()}
    for word, truth in sorted(counts.items()):
        cat, kind = word.split(":")
        n = sum(truth.values())
        if kind in ("missed", "none") or cat not in out or n < min_n:
            continue
        if truth.get(kind, 0) / n >= threshold:
            out[cat].append(kind)
    return out


def measure(model, limit: int, log=print) -> dict[str, dict[str, int]]:
    import numpy as np

    from uare.data.images import load_rgb
    from uare.degrade import degrade
    from uare.io import iter_inputs

    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for folder in (DATA / "CBSD68", DATA / "Kodak24"):
        for i, p in enumerate(iter_inputs(folder)[:limit]):
            im = load_rgb(p)
            h, w = im.shape[:2]
            crop = np.ascontiguousarray(im[h // 2 - 96:h // 2 + 96, w // 2 - 96:w // 2 + 96])
            for t, (cat, kind) in PROBES.items():
                for sev in (2, 3, 4):
                    lq, rec = degrade(crop, "single", types=[t], severity=sev, seed=i * 10 + sev)
                    if not any(s.category == cat for s in rec.steps):
                        continue  # low light at a level that added no sensor noise
                    found = [d for d in model.assess(lq).degradations if d["type"] == cat]
                    counts[f"{cat}:{found[0].get('kind') or 'none' if found else 'missed'}"][kind] += 1
            log(f"kind words: {folder.name}/{p.name} done")
    return {k: dict(v) for k, v in sorted(counts.items())}


def markdown(counts: dict[str, dict[str, int]], threshold: float, min_n: int) -> str:
    lines = ["| word written | times | right | true kinds behind it | reliable |", "|---|---|---|---|---|"]
    for word, truth in counts.items():
        n = sum(truth.values())
        kind = word.split(":")[1]
        right = truth.get(kind, 0) / n if n else 0.0
        ok = kind not in ("missed", "none") and n >= min_n and right >= threshold
        lines.append(f"| {word} | {n} | {right:.2f} | {', '.join(f'{k} {v}' for k, v in truth.items())} | "
                     f"{'yes' if ok else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: the shipped uare-tiny)")
    ap.add_argument("--limit", type=int, default=6, help="held-out images per folder")
    ap.add_argument("--threshold", type=float, default=THRESHOLD)
    ap.add_argument("--min-n", type=int, default=MIN_N)
    ap.add_argument("--all-words", action="store_true",
                    help="measure with every word allowed (kind_words of the model folder ignored)")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    import dataclasses

    import torch

    from uare.infer import UARE

    torch.set_num_threads(1)
    model = UARE.from_pretrained(a.model)
    if a.all_words:
        model.defaults = dataclasses.replace(model.defaults, kind_words={})
    counts = measure(model, a.limit, log=lambda s: print(s, file=sys.stderr, flush=True))
    result = {"limit": a.limit, "threshold": a.threshold, "min_n": a.min_n, "all_words": a.all_words,
              "counts": counts, "kind_words": reliable_kinds(counts, a.threshold, a.min_n)}
    print(json.dumps(result, indent=1))
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "kind_words.json").write_text(json.dumps(result, indent=1) + "\n")
        (a.out / "kind_words.md").write_text(markdown(counts, a.threshold, a.min_n))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
