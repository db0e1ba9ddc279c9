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
csiq      built from      dmos     dmos_std              (csiq.DMOS.xlsx, or its sheet as CSV / tab-separated
          image, dst_idx,                                text; DMOS 0–1, *lower* = better; names
          dst_lev                                        ``<image>.<TAG>.<dst_lev>.png``, TAG by dst_idx
                                                         1-6: AWGN, JPEG, jpeg2000, fnoise, BLUR, contrast)
generic   column 0        col. 1   col. 2 if present; a header row is detected and skipped
========  ==============  =======  ======================================================

Files (:func:`table_rows`, the one reader of every table format): ``.csv`` (UTF-8, BOM or not);
``.txt`` / ``.dat`` (tab-separated when a line holds a tab, else whitespace-separated, e.g. pyiqa's
``csiq_label.txt``: ``1600.AWGN.1.png 0.062``); ``.xlsx`` (Excel, e.g. SPAQ's ``MOS and Image
attribute scores.xlsx``; needs ``openpyxl``). For the lower-is-better ``csiq`` layout the mapped score
is flipped (``score = 1 + 4 (hi - mos) / (hi - lo)``) so that 5 is still the best; ``MOSRow.mos`` keeps
the raw DMOS. For CSIQ's official folders, ``<image_root>/<type>/<name>`` (``awgn/1600.AWGN.1.png``) is
used when that file exists, else ``<image_root>/<name>``.
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
#: CSIQ ``dst_idx`` -> (folder of the official ``dst_imgs/``, tag in the file name)
CSIQ_TYPES: dict[int, tuple[str, str]] = {
    1: ("awgn", "AWGN"), 2: ("jpeg", "JPEG"), 3: ("jpeg2000", "jpeg2000"), 4: ("fnoise", "fnoise"),
    5: ("blur", "BLUR"), 6: ("contrast", "contrast"),
}
#: layouts whose MOS is lower-is-better (a DMOS)
LOWER_BETTER: frozenset[str] = frozenset({"csiq"})
XLSX_HINT = "reading .xlsx needs openpyxl: pip install openpyxl (or save the sheet as CSV and pass that)"


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


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # Excel stores 1600 as 1600.0
    return str(v)


def _xlsx_sheets(path: Path) -> list[list[list[str]]]:
    try:
        import openpyxl
    except ImportError:
        raise DataError(f"{path}: {XLSX_HINT}") from None
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # noqa: BLE001 - zip / XML errors of a damaged or mislabelled file
        raise DataError(f"{path}: not a readable .xlsx file ({' '.join(str(e).split())})") from None
    try:
        return [[[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets]
    finally:
        wb.close()


def table_rows(path: str | Path, header: tuple[str, ...] = ()) -> list[list[str]]:
    """The non-empty rows of a table file as stripped text cells (formats in the module doc).

    With ``header`` (lower-case names), rows before the first row holding all of them are dropped,
    and of an ``.xlsx`` the first sheet with such a row is read (else the first sheet).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: MOS table not found")
    suffix = p.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            sheets = _xlsx_sheets(p)
        elif suffix in (".txt", ".dat"):
            lines = p.read_text(encoding="utf-8-sig").splitlines()
            sheets = [[ln.split("\t") if "\t" in ln else ln.split() for ln in lines]]
        else:
            with p.open(newline="", encoding="utf-8-sig") as fh:
                sheets = [list(csv.reader(fh))]
    except UnicodeDecodeError:
        raise DataError(f"{p}: not a UTF-8 text table; save it as CSV (UTF-8) or .xlsx") from None
    tables = [[[c.strip() for c in r] for r in rows if r and any(c.strip() for c in r)] for rows in sheets]
    if header:
        for rows in tables:
            for i, r in enumerate(rows):
                if all(h in [c.lower() for c in r] for h in header):
                    return rows[i:]
    return tables[0] if tables else []


def _csiq_rows(table: Path, rows: list[list[str]], root: Path) -> list[tuple[str, float, float | None]]:
    header = [h.lower() for h in rows[0]]
    for col in ("image", "dst_idx", "dst_lev", "dmos"):
        if col not in header:
            raise DataError(f"{table}: no column {col!r} for layout csiq (columns: {', '.join(rows[0])})")
    ii, ti, li, mi = (header.index(c) for c in ("image", "dst_idx", "dst_lev", "dmos"))
    si = header.index("dmos_std") if "dmos_std" in header else None
    raw: list[tuple[str, float, float | None]] = []
    for i, r in enumerate(rows[1:], 2):
        cells = [r[k] if k < len(r) else "" for k in (ii, ti, li, mi)]
        if not all(cells):
            continue  # spreadsheet padding: a row without a stimulus
        kind = CSIQ_TYPES.get(int(_float(cells[1], f"{table}:{i}")))
        if kind is None:
            raise DataError(f"{table}:{i}: dst_idx {cells[1]!r} is not 1-6")
        name = f"{cells[0]}.{kind[1]}.{int(_float(cells[2], f'{table}:{i}'))}.png"
        rel = f"{kind[0]}/{name}" if (root / kind[0] / name).is_file() else name
        std = _float(r[si], f"{table}:{i}") if si is not None and si < len(r) and r[si] else None
        raw.append((rel, _float(cells[3], f"{table}:{i}"), std))
    return raw


def read_mos_table(table: str | Path, image_root: str | Path | None = None, layout: str = "generic",
                   mos_range: tuple[float, float] | None = None) -> list[MOSRow]:
    """Read a MOS table (CSV, text or .xlsx); image paths are relative to ``image_root`` (default: the
    table's folder)."""
    table = Path(table)
    if layout not in (*LAYOUTS, "csiq", "generic"):
        raise DataError(f"unknown MOS layout {layout!r}; choose from {', '.join([*LAYOUTS, 'csiq', 'generic'])}")
    if not table.is_file():
        raise DataError(f"{table}: MOS table not found")
    root = Path(image_root) if image_root else table.parent
    need = ("image", "dst_idx", "dmos") if layout == "csiq" else LAYOUTS[layout][:2] if layout in LAYOUTS else ()
    rows = table_rows(table, need)
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
    elif layout == "csiq":
        raw = _csiq_rows(table, rows, root)
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
        if layout in LOWER_BETTER:
            score = 6.0 - score  # a DMOS: the best image still maps to 5
        out.append(MOSRow(root / name, m, std, score, level_from_score(score)))
    return out
