"""Where to draw the measured-underexposure line (``lowlight_headroom`` in ``inference.json``).

    python benchmarks/lowlight_headroom.py --out benchmarks/results/lowlight_headroom

The statistic (:func:`uare.metrics.exposure.lowlight_headroom`) is the 99.5th percentile of max(R, G, B): how
bright the brightest pixels are. It is computed on every clean training image (BSD200, T91, gray400), on
every clean test image (CBSD68, Kodak24, Set14, Urban100's first 20 and the gray test sets: never used to
choose anything), and on every third training image darkened by the degradation engine's low light at
levels 1-5 (exposure and gamma in linear light plus sensor noise, one seed per image). Prints and writes
``headroom.json`` and ``headroom.md``: per group min / median / max, and for each candidate threshold how
many clean images and what share of each level fall below it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the uare of this checkout
sys.path.insert(0, str(ROOT / "benchmarks"))

from _statistics import DATA, TRAIN, group_table, load_folders, statistic_groups, write_outputs  # noqa: E402

from uare.metrics.exposure import lowlight_headroom  # noqa: E402

#: the clean test folders, gray ones included (a gray image has max(R, G, B) = its luma)
TEST = ("CBSD68", "Kodak24", "Set14", "Urban100_first20", "BSD68_gray", "Set12_gray", "classic5_gray")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--thresholds", default="0.5,0.52,0.55")
    ap.add_argument("--every", type=int, default=3, help="darken every N-th training image (default 3)")
    ap.add_argument("--limit", type=int, default=None, help="at most this many images per folder (a quick run)")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    ths = [float(t) for t in a.thresholds.split(",")]

    train, test = load_folders(DATA / "train", TRAIN, a.limit), load_folders(DATA / "test", TEST, a.limit)
    groups = statistic_groups(lowlight_headroom, train, test, "lowlight", "low light", a.every)
    res, md = group_table(groups, ths, above=False)
    write_outputs(a.out, "headroom", {"thresholds": ths, "groups": res}, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
