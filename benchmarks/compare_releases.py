"""Two releases of uare-tiny side by side, from the JSON that ``uare bench restore`` and
``benchmarks/uare_tiny.py --parts colour`` wrote for each (the table a release section of the model card shows).

    python benchmarks/compare_releases.py --dir benchmarks/results/release5 --before release4 --after release5

reads ``*_settings_<name>.json`` (bench summaries), ``colour_<name>.json`` (the
saturated-colour part) and, where present, ``colour_named_<name>.json`` (the same with single-task settings named) of
both names and prints one Markdown table: PSNR per setting and folder (input,
before, after, difference) and the colour set's count of crops more than 0.5 dB below their input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def bench_psnr(folder: Path, name: str) -> dict[tuple[str, str], tuple[float, float]]:
    """{(setting, dataset): (input PSNR, uare PSNR)} of one release's bench summaries."""
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for path in sorted(folder.glob(f"*_settings_{name}.json")):
        for dataset, settings in json.loads(path.read_text())["summary"].items():
            for setting, methods in settings.items():
                out[(setting, dataset)] = (methods["input"]["psnr"], methods["uare"]["psnr"])
    if not out:
        raise SystemExit(f"{folder}: no *_settings_{name}.json")
    return out


def colour_summary(folder: Path, name: str, part: str = "colour") -> dict | None:
    """The ``part`` (``colour``: blind; ``colour_named``: single-task settings named) of ``<part>_<name>.json``."""
    path = folder / f"{part}_{name}.json"
    return json.loads(path.read_text())[part] if path.is_file() else None


def table(folder: Path, before: str, after: str) -> str:
    """The Markdown comparison of release ``before`` and ``after`` (settings in the order the bench ran them)."""
    a, b = bench_psnr(folder, before), bench_psnr(folder, after)
    keys = [k for k in b if k in a]
    lines = [f"| setting | folder | input | {before} | {after} | difference |", "|---|---|---|---|---|---|"]
    rank = {s: i for i, s in enumerate(dict.fromkeys(s for s, _ in keys))}  # first-seen order of the settings
    for setting, dataset in sorted(keys, key=lambda k: (rank[k[0]], k[1])):
        inp, x = a[(setting, dataset)]
        y = b[(setting, dataset)][1]
        lines.append(f"| {setting} | {dataset} | {inp:.2f} | {x:.2f} | {y:.2f} | {y - x:+.2f} |")
    for part, label in (("colour", "saturated colour"), ("colour_named", "saturated colour, tasks named")):
        ca, cb = colour_summary(folder, before, part), colour_summary(folder, after, part)
        if not (ca and cb):
            continue
        diff = {s: cb["settings"][s]["psnr"] - ca["settings"][s]["psnr"] for s in cb["settings"] if s in ca["settings"]}
        lo, hi = min(diff, key=diff.get), max(diff, key=diff.get)
        lines.append(f"| {label} ({cb['crops']} crops x {len(cb['settings'])} settings): crops > 0.5 dB "
                     f"below input | | | {ca['images_below_input_by_0.5db']} | {cb['images_below_input_by_0.5db']} "
                     f"| setting means {diff[lo]:+.2f} ({lo}) to {diff[hi]:+.2f} ({hi}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, required=True, help="folder of the JSON files")
    ap.add_argument("--before", required=True, help="name of the earlier release (file suffix)")
    ap.add_argument("--after", required=True, help="name of the later release (file suffix)")
    args = ap.parse_args(argv)
    print(table(args.dir, args.before, args.after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
