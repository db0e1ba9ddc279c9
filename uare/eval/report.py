"""Writing results: per-row CSV, summary JSON, Markdown tables and matplotlib figures."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from uare.io import atomic_path, write_json_atomic


def fmt(v: Any, digits: int = 4) -> str:
    """A table cell: floats rounded, NaN / None as an en dash."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float | np.floating):
        return f"{float(v):.{digits}f}"
    return str(v)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int | Sequence[int] = 4) -> str:
    """A GitHub Markdown table; ``digits`` per column or one for all."""
    ds = [digits] * len(header) if isinstance(digits, int) else list(digits)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(fmt(v, d) for v, d in zip(r, ds, strict=True)) + " |")
    return "\n".join(lines) + "\n"


def write_csv(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Write dict rows as CSV (columns in first-seen order), atomically, replacing an old file."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically, replacing an old file."""
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write JSON atomically, replacing an old file."""
    return write_json_atomic(path, obj, overwrite=True)


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a window
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def bar_plot(path: str | Path, groups: list[str], series: dict[str, list[float]], ylabel: str, title: str) -> bool:
    """Grouped bars: one group per entry of ``groups``, one bar per series. False without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return False
    n = max(1, len(series))
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(groups) + 2), 4.0))
    x = np.arange(len(groups))
    for i, (name, vals) in enumerate(series.items()):
        ax.bar(x + (i - (n - 1) / 2) * width, [np.nan if v is None else v for v in vals], width, label=name)
    ax.set_xticks(x, groups, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=min(n, 4))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return True


def crop_grid(path: str | Path, rows: list[tuple[str, list[tuple[str, np.ndarray]]]]) -> bool:
    """A grid of image crops: one row per (label, [(column title, crop)]). False without matplotlib."""
    plt = _pyplot()
    if plt is None or not rows:
        return False
    ncol = max(len(c) for _, c in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(2.0 * ncol, 2.1 * len(rows)), squeeze=False)
    for i, (label, cells) in enumerate(rows):
        for j in range(ncol):
            ax = axes[i][j]
            ax.axis("off")
            if j < len(cells):
                title, img = cells[j]
                ax.imshow(img)
                ax.set_title(title if i == 0 or j > 0 else f"{title}", fontsize=7)
        axes[i][0].text(-0.05, 0.5, label, transform=axes[i][0].transAxes, rotation=90, ha="right",
                        va="center", fontsize=7)
    fig.tight_layout()
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return True


def scatter_plot(path: str | Path, x: Sequence[float], y: Sequence[float], xlabel: str, ylabel: str,
                 title: str) -> bool:
    """A scatter of predicted score against ground truth. False without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(4.0, 3.6))
    ax.scatter(x, y, s=6, alpha=0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return True
