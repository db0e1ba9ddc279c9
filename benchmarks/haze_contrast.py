"""Where to draw the haze-contrast line (``HAZE_MAX_CONTRAST`` in :mod:`uare.infer.pipeline`).

    python benchmarks/haze_contrast.py --out benchmarks/results/haze_contrast

The statistic (:func:`uare.metrics.exposure.luma_contrast`) is the standard deviation of BT.601 luma. Haze
scales every difference by its transmission, so a hazy image keeps little contrast. It is computed on every
clean training image (BSD200, T91, gray400), on every clean colour test image (CBSD68, Kodak24, Set14,
Urban100's first 20: never used to choose anything), and on every third training image hazed by the
degradation engine at levels 1-5 (one seed per image). Prints and writes ``contrast.json`` and
``contrast.md``: per group min / median / max, and for each candidate threshold how many images of each
group reach it (a blind "haze" diagnosis of such an image is not treated).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the uare of this checkout
sys.path.insert(0, str(ROOT / "benchmarks"))

from _statistics import DATA, TEST, TRAIN, group_table, load_folders, statistic_groups, write_outputs  # noqa: E402

from uare.metrics.exposure import luma_contrast  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--thresholds", default="0.2,0.21,0.22")
    ap.add_argument("--every", type=int, default=3, help="haze every N-th training image (default 3)")
    ap.add_argument("--limit", type=int, default=None, help="at most this many images per folder (a quick run)")
    ap.add_argument("--data", type=Path, default=DATA, help="the datasets folder (default ../shared/datasets)")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    try:
        ths = [float(t) for t in a.thresholds.split(",")]
    except ValueError:
        ap.error(f"--thresholds takes comma-separated numbers, got {a.thresholds!r}")
    if a.every < 1 or (a.limit is not None and a.limit < 1):
        ap.error("--every and --limit take integers >= 1")

    train, test = load_folders(a.data / "train", TRAIN, a.limit), load_folders(a.data / "test", TEST, a.limit)
    if not train:
        print(f"haze_contrast: no training images under {a.data / 'train'}", file=sys.stderr)
        return 2
    groups = statistic_groups(luma_contrast, train, test, "haze", "haze", a.every)
    res, md = group_table(groups, ths, above=True)
    write_outputs(a.out, "contrast", {"thresholds": ths, "groups": res}, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
