"""``uare bench iqa``: how well no-reference scorers agree with ground-truth quality.

Three sources, each reported as SRCC / PLCC (raw and logistic) / KRCC per scorer:

(a) ``synthetic``: every test image x every single degradation type x levels 1..5 (seeded as in
    :func:`uare.eval.settings.image_seed`); the ground truth is :func:`uare.quality.summarize` of the
    degradation record *with* the clean image (severity + SSIM fidelity, the 1-5 score the model is
    trained to say). Per-type SRCC is reported too: within one type it measures whether a scorer
    orders the five levels and the images consistently.
(b) ``tid2013``: the 5 TID2013 distorted images of ``iqa/pyiqa_calibration`` with their MOS
    (``tid2013_identity.csv``, MOS 0-9) -- only 5 points, a smoke test, not a benchmark.
(c) ``--mos CSV``: any MOS file in the layouts of :mod:`uare.eval.iqa` (KonIQ-10k, SPAQ, KADID-10k),
    its images in ``--mos-images`` (default: the CSV's folder, then its ``images/`` sub-folder).
(d) ``--set NAME``: the paper's IQA sets by name (KADID-10k, SPAQ, CSIQ) in their public layouts,
    read by :mod:`uare.eval.sets`; they replace (a) and (b).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from uare.baselines import Scorer
from uare.degrade import SINGLE_TYPES, degrade
from uare.errors import UareError
from uare.eval.bench_restore import load_clean
from uare.eval.iqa import correlations, read_mos
from uare.eval.report import markdown_table, scatter_plot, write_csv, write_json, write_text
from uare.eval.settings import image_seed
from uare.io import iter_inputs
from uare.quality import summarize

LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)


def default_tid2013() -> Path | None:
    """``<repo>/../shared/datasets/iqa/pyiqa_calibration`` when present."""
    p = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "iqa" / "pyiqa_calibration"
    return p if (p / "tid2013_identity.csv").is_file() else None


@dataclass
class IQAItem:
    """One image to score, with its ground-truth quality."""

    source: str
    name: str
    image: np.ndarray
    truth: float
    group: str = ""


def synthetic_items(folders: list[Path], limit: int | None = None, seed: int = 0,
                    types: tuple[str, ...] = SINGLE_TYPES, levels: tuple[int, ...] = LEVELS):
    """Yield the synthetic set's items (see the module doc), one clean image at a time."""
    for folder in folders:
        for p in iter_inputs(folder)[: limit or None]:
            clean = load_clean(p)
            for t in types:
                for lv in levels:
                    s = image_seed(seed, f"iqa/{t}/{lv}", f"{folder.name}/{p.stem}")
                    deg, rec = degrade(clean, "single", types=[t], severity=lv, seed=s)
                    score = float(summarize(rec, clean=clean, degraded=deg).score)
                    yield IQAItem("synthetic", f"{folder.name}/{p.stem}/{t}/L{lv}", deg, score, t)


def tid2013_items(root: Path) -> list[IQAItem]:
    """The TID2013 calibration images with their MOS (0-9)."""
    mos = read_mos(root / "tid2013_identity.csv", score_column="mos_0_9")
    # The CSV names the TID2013 file; the image on disk is the calib_file in dist_dir.
    import csv

    with open(root / "tid2013_identity.csv", newline="", encoding="utf-8") as fh:
        ident = {r["tid2013_dist"]: r for r in csv.DictReader(fh)}
    items = []
    for name, m in mos.items():
        r = ident[name]
        items.append(IQAItem("tid2013", name, load_clean(root / "dist_dir" / r["calib_file"]), m,
                             r["distortion_name"]))
    return items


def user_items(csv_path: Path, images: Path | None = None) -> list[IQAItem]:
    """Items of a user MOS CSV; every listed image must exist."""
    mos = read_mos(csv_path)
    roots = [images] if images else [csv_path.parent, csv_path.parent / "images"]
    items, missing = [], []
    for name, m in mos.items():
        p = next((r / name for r in roots if (r / name).is_file()), None)
        if p is None:
            missing.append(name)
            continue
        items.append(IQAItem(csv_path.stem, name, load_clean(p), m))
    if missing:
        raise UareError(f"{len(missing)} image(s) of {csv_path} not found in {', '.join(map(str, roots))}: "
                        f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}; pass --mos-images DIR")
    return items


@dataclass
class IQABenchResult:
    """Per-item rows, correlations per (source, scorer) and per-type SRCC."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    per_group: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)


def run_iqa_bench(sources: dict[str, Any], scorers: dict[str, Scorer],
                  log: Callable[[str], None] | None = None) -> IQABenchResult:
    """Score every item of every source with every scorer and correlate with the truth."""
    log = log or (lambda s: print(s, file=sys.stderr))
    res = IQABenchResult()
    for src, items in sources.items():
        t0 = time.perf_counter()
        rows = []
        for it in items:
            row: dict[str, Any] = {"source": src, "image": it.name, "group": it.group, "truth": it.truth}
            for n, sc in scorers.items():
                row[n] = float(sc(it.image))
            rows.append(row)
        res.rows += rows
        truth = [r["truth"] for r in rows]
        res.summary[src] = {n: correlations([r[n] for r in rows], truth) for n in scorers}
        groups = sorted({r["group"] for r in rows if r["group"]})
        if src == "synthetic":
            res.per_group[src] = {
                g: {n: correlations([r[n] for r in rows if r["group"] == g],
                                    [r["truth"] for r in rows if r["group"] == g])["srcc"] for n in scorers}
                for g in groups}
        log(f"bench iqa: {src}: {len(rows)} images x {len(scorers)} scorers in {time.perf_counter() - t0:.1f} s")
    return res


def markdown(res: IQABenchResult) -> str:
    """Correlation tables (scorers as signed: -NIQE and -BRISQUE, higher = better)."""
    return markdown_tables(res.summary, res.per_group)


def markdown_tables(summary: dict[str, dict[str, dict[str, float]]],
                    per_group: dict[str, dict[str, dict[str, float]]]) -> str:
    """The tables of :func:`markdown` from their JSON (``summary`` and ``per_type_srcc`` of a report)."""
    parts = []
    for src, by_scorer in summary.items():
        rows = [[_label(n), v["n"], v["srcc"], v["plcc"], v["plcc_logistic"], v["krcc"]] for n, v in by_scorer.items()]
        parts.append(f"#### {src}\n\n" + markdown_table(["scorer", "n", "SRCC", "PLCC", "PLCC (logistic)", "KRCC"],
                                                        rows, [0, 0, 4, 4, 4, 4]))
    for src, by_group in per_group.items():
        scorers = list(next(iter(by_group.values()), {}))
        rows = [[g, *[v[n] for n in scorers]] for g, v in by_group.items()]
        parts.append(f"#### {src}: SRCC within each degradation type\n\n"
                     + markdown_table(["type", *[_label(n) for n in scorers]], rows, [0, *[4] * len(scorers)]))
    return "\n".join(parts)


def _label(name: str) -> str:
    return f"-{name.upper()}" if name in ("niqe", "brisque") else name


def write_reports(res: IQABenchResult, out: Path, meta: dict[str, Any]) -> list[Path]:
    """per_image.csv, summary.json, summary.md and score-vs-truth scatter plots under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = [write_csv(out / "per_image.csv", res.rows),
               write_json(out / "summary.json", {**meta, "summary": res.summary, "per_type_srcc": res.per_group}),
               write_text(out / "summary.md", markdown(res))]
    for src in res.summary:
        rows = [r for r in res.rows if r["source"] == src]
        for n in res.summary[src]:
            p = out / f"scatter_{src}_{n}.png"
            if scatter_plot(p, [r["truth"] for r in rows], [r[n] for r in rows], "ground truth", _label(n),
                            f"{src}: {_label(n)}"):
                written.append(p)
    return written
