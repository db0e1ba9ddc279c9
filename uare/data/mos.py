"""MOS tables (KonIQ-10k, SPAQ, KADID-10k or a generic CSV) mapped to the five Q-Align levels.

Mapping (documented choice): per dataset, ``score = 1 + 4 (mos - lo) / (hi - lo)``, where ``lo``/``hi`` are
the minimum and maximum MOS of the table (or a fixed ``mos_range`` when given, e.g. [1, 5] for KonIQ's
five-point scale). The 1–5 score then becomes a level with :func:`uare.quality.level_from_score` (bins of
0.8), and the answer is Q-Align's ``"The quality of the image is <level>."``. Min-max per dataset keeps
each dataset's whole range in use; it does not make scores comparable across datasets, which is why the
answers are coarse levels rather than numbers.

Layouts (column names, case-insensitive; ``std`` is optional):

========  ==============  =======  ======================================================
layout    image column    MOS      std
========  ==============  =======  ======================================================
koniq     image_name      MOS      SD                    (koniq10k_scores_and_distributions.csv)
spaq      Image name      MOS      -                     (the MOS sheet exported to CSV; 0–100)
kadid     dist_img        dmos     var (variance; std = sqrt(var))  (dmos.csv; 1–5)
generic   column 0        col. 1   col. 2 if present; a header row is detected and skipped
========  ==============  =======  ======================================================
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from uare.data.images import DataError
from uare.quality import level_from_score

LAYOUTS: dict[str, tuple[str, str, str | None, bool]] = {
    # layout -> (image column, MOS column, std column, std column holds a variance)
    "koniq": ("image_name", "mos", "sd", False),
    "spaq": ("image name", "mos", None, False),
    "kadid": ("dist_img", "dmos", "var", True),
}


@dataclass(frozen=True)
class MOSRow:
    """One rated image: its path, MOS, standard deviation (or None), and the mapped 1–5 score and level."""

    path: Path
    mos: float
    std: float | None
    score: float
    level: str


def _float(text: str, where: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise DataError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(v):
        raise DataError(f"{where}: {text!r} is not a finite number")
    return v


def read_mos_table(table: str | Path, image_root: str | Path | None = None, layout: str = "generic",
                   mos_range: tuple[float, float] | None = None) -> list[MOSRow]:
    """Read a MOS CSV; image paths are relative to ``image_root`` (default: the table's folder)."""
    table = Path(table)
    if layout not in (*LAYOUTS, "generic"):
        raise DataError(f"unknown MOS layout {layout!r}; choose from {', '.join([*LAYOUTS, 'generic'])}")
    if not table.is_file():
        raise DataError(f"{table}: MOS table not found")
    root = Path(image_root) if image_root else table.parent
    with table.open(newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{table}: empty MOS table")
    raw: list[tuple[str, float, float | None]] = []
    if layout == "generic":
        start = 0
        try:
            float(rows[0][1])
        except (ValueError, IndexError):
            start = 1  # a header row
        for i, r in enumerate(rows[start:], start + 1):
            if len(r) < 2:
                raise DataError(f"{table}:{i}: expected image,MOS[,std], got {r}")
            std = _float(r[2], f"{table}:{i}") if len(r) > 2 and r[2].strip() else None
            raw.append((r[0].strip(), _float(r[1], f"{table}:{i}"), std))
    else:
        img_col, mos_col, std_col, is_var = LAYOUTS[layout]
        header = [h.strip().lower() for h in rows[0]]
        for col in (img_col, mos_col):
            if col not in header:
                raise DataError(f"{table}: no column {col!r} for layout {layout} (columns: {', '.join(rows[0])})")
        ii, mi = header.index(img_col), header.index(mos_col)
        si = header.index(std_col) if std_col and std_col in header else None
        for i, r in enumerate(rows[1:], 2):
            std = None
            if si is not None and si < len(r) and r[si].strip():
                std = _float(r[si], f"{table}:{i}")
                std = math.sqrt(max(std, 0.0)) if is_var else std
            raw.append((r[ii].strip(), _float(r[mi], f"{table}:{i}"), std))
    if not raw:
        raise DataError(f"{table}: no rows")
    lo, hi = mos_range if mos_range else (min(m for _, m, _ in raw), max(m for _, m, _ in raw))
    if hi <= lo:
        raise DataError(f"{table}: MOS range [{lo}, {hi}] is empty; give mos_range")
    out = []
    for name, m, std in raw:
        score = 1.0 + 4.0 * (min(max(m, lo), hi) - lo) / (hi - lo)
        out.append(MOSRow(root / name, m, std, score, level_from_score(score)))
    return out
