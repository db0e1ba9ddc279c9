"""What the image-statistics scripts share (``haze_contrast.py``, ``lowlight_headroom.py``,
``jpeg_blockiness_size.py``): the image folders, their loading, the per-group threshold table and the output files.
These scripts draw the lines that ``inference.json`` and ``uare.infer.pipeline`` use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"
#: the clean training folders the lines are drawn on, and the clean test folders that only check them
TRAIN = ("bsd200", "t91", "gray400")
TEST = ("CBSD68", "Kodak24", "Set14", "Urban100_first20")


def load_folders(base: Path, names: tuple[str, ...], limit: int | None = None) -> list[np.ndarray]:
    """The images of the folders ``names`` under ``base`` that exist, in file order (at most ``limit`` each)."""
    from uare.data.images import load_rgb
    from uare.io import iter_inputs

    return [load_rgb(p) for n in names if (base / n).is_dir() for p in iter_inputs(base / n)[:limit]]


def statistic_groups(stat, train: list[np.ndarray], test: list[np.ndarray], degradation: str, label: str,
                     every: int) -> dict[str, list[float]]:
    """``stat`` per image group: the clean training images, the clean test images (when there are any) and every
    ``every``-th training image degraded by ``degradation`` alone at the engine's levels 1-5 (seed = its index),
    the last groups named ``"<label> L<level>"``."""
    from uare.degrade import degrade

    groups = {"clean training": [stat(im) for im in train]}
    if test:
        groups["clean test"] = [stat(im) for im in test]
    for lev in range(1, 6):
        groups[f"{label} L{lev}"] = [stat(degrade(im, "single", types=[degradation], severity=lev, seed=i)[0])
                                     for i, im in enumerate(train[::every])]
    return groups


def group_table(groups: dict[str, list[float]], thresholds: list[float], above: bool) -> tuple[dict, str]:
    """(per-group summary, Markdown table) of a statistic per image group: n, min, median, max and, for each
    threshold, how many values lie at or above it (``above``) or below it, with their share."""
    key, word = ("at_or_above", "≥") if above else ("below", "below")
    res = {k: {"n": len(v), "min": round(min(v), 4), "median": round(float(np.median(v)), 4),
               "max": round(max(v), 4), key: {str(t): int(sum((x >= t) if above else (x < t) for x in v))
                                              for t in thresholds}}
           for k, v in groups.items()}
    head = "| group | n | min | median | max | " + " | ".join(f"{word} {t:g}" for t in thresholds) + " |"
    lines = [head, "|---" * (5 + len(thresholds)) + "|"]
    lines += [f"| {k} | {v['n']} | {v['min']:.3f} | {v['median']:.3f} | {v['max']:.3f} | "
              + " | ".join(f"{v[key][str(t)]} ({100 * v[key][str(t)] / v['n']:.1f} %)" for t in thresholds) + " |"
              for k, v in res.items()]
    return res, "\n".join(lines) + "\n"


def write_outputs(out: Path | None, stem: str, payload: dict, md: str) -> None:
    """``md`` printed; ``<stem>.json`` (``payload``) and ``<stem>.md`` written under ``out`` when given."""
    print(md)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{stem}.json").write_text(json.dumps(payload, indent=1))
        (out / f"{stem}.md").write_text(md)
