"""IQA correlation: predicted scores against MOS, and the files they come in.

Scores JSON (``--pred``): ``{"name": score, ...}``, or ``{"scores": {...}}``, or a list of
``{"image": name, "score": value}``. MOS CSV (``--mos``): the first matching column of each kind
(case-insensitive):

- image name: ``image_name`` (KonIQ-10k), ``image name`` / ``image`` (SPAQ exports), ``dist_img``
  (KADID-10k), ``tid2013_dist``, ``filename``, ``file``, ``name``, ``path``;
- score: ``mos`` (KonIQ, SPAQ), ``dmos`` (KADID-10k, where higher is better despite the name),
  ``mos_zscore``, ``mos_0_9`` (TID2013), ``score``.

Names are matched exactly, then by stem (``a.jpg`` in the CSV matches ``a.png`` in the scores).
PLCC is reported raw and after the 4-parameter logistic fit (the VQEG practice most papers
follow); SRCC and KRCC are rank statistics and need no fit.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from uare.errors import UareError
from uare.eval.metricset import metrics_module

NAME_COLUMNS: tuple[str, ...] = ("image_name", "image name", "image", "dist_img", "tid2013_dist", "filename",
                                 "file", "name", "path")
SCORE_COLUMNS: tuple[str, ...] = ("mos", "dmos", "mos_zscore", "mos_0_9", "score")


def read_scores(path: str | Path) -> dict[str, float]:
    """Read predicted scores (see the module doc for the accepted layouts)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UareError(f"{p}: scores file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UareError(f"{p}: not a readable JSON file ({' '.join(str(e).split())})") from None
    if isinstance(data, dict) and isinstance(data.get("scores"), dict | list):
        data = data["scores"]
    items: list[tuple[Any, Any]]
    if isinstance(data, dict):
        items = list(data.items())
    elif isinstance(data, list) and all(isinstance(d, dict) and "score" in d for d in data):
        items = [(d.get("image", d.get("name")), d["score"]) for d in data]
    else:
        raise UareError(f"{p}: expected {{name: score}} or a list of {{\"image\": ..., \"score\": ...}}")
    out: dict[str, float] = {}
    for k, v in items:
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            raise UareError(f"{p}: score of {k!r} is not a number: {v!r}") from None
    if not out:
        raise UareError(f"{p}: no scores in the file")
    return out


def _column(header: list[str], choices: tuple[str, ...]) -> int | None:
    low = [h.strip().lower() for h in header]
    for c in choices:
        if c in low:
            return low.index(c)
    return None


def read_mos(path: str | Path, score_column: str | None = None) -> dict[str, float]:
    """Read a MOS table (see the module doc for the accepted columns): name -> MOS.

    A CSV is read here; tab- or space-separated ``.txt`` and ``.xlsx`` (with openpyxl) by
    :func:`uare.data.mos.table_rows` (imported only then: :mod:`uare.data` loads torch).
    """
    p = Path(path)
    try:
        if p.suffix.lower() in (".xlsx", ".xlsm", ".txt", ".dat"):
            from uare.data.mos import table_rows

            if not p.is_file():
                raise FileNotFoundError(p)
            rows = table_rows(p)
        else:
            with open(p, newline="", encoding="utf-8-sig") as fh:
                rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise UareError(f"{p}: MOS file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UareError(f"{p}: cannot read the MOS file ({' '.join(str(e).split())})") from None
    if len(rows) < 2:
        raise UareError(f"{p}: MOS file has no data rows")
    header = rows[0]
    ni = _column(header, NAME_COLUMNS)
    si = _column(header, (score_column.lower(),) if score_column else SCORE_COLUMNS)
    if ni is None or si is None:
        raise UareError(f"{p}: cannot find the {'image name' if ni is None else 'score'} column in "
                        f"{header}; expected one of {NAME_COLUMNS if ni is None else SCORE_COLUMNS}")
    out: dict[str, float] = {}
    for i, r in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in r):
            continue
        try:
            out[r[ni].strip()] = float(r[si])
        except (IndexError, ValueError):
            raise UareError(f"{p}: line {i}: no numeric score in column {header[si]!r}") from None
    return out


def match(pred: dict[str, float], mos: dict[str, float]) -> list[tuple[str, float, float]]:
    """(name, predicted, MOS) for every MOS entry; any MOS entry without a prediction raises."""
    by_stem = {Path(k).stem: v for k, v in pred.items()}
    out, missing = [], []
    for name, m in mos.items():
        v = pred.get(name, by_stem.get(Path(name).stem))
        if v is None:
            missing.append(name)
        else:
            out.append((name, float(v), float(m)))
    if missing:
        more = f" (and {len(missing) - 8} more)" if len(missing) > 8 else ""
        raise UareError(f"{len(missing)} MOS entr{'y has' if len(missing) == 1 else 'ies have'} no predicted "
                        f"score: {', '.join(missing[:8])}{more}")
    return out


def correlations(pred: np.ndarray | list[float], mos: np.ndarray | list[float]) -> dict[str, float]:
    """SRCC, PLCC (raw), PLCC after the 4-parameter logistic fit, KRCC, and n."""
    a, b = np.asarray(pred, np.float64), np.asarray(mos, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("predictions and MOS must be 1-D of the same length")
    n = int(a.size)
    nan = float("nan")
    if n < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:  # correlations undefined: say so rather than crash
        return {"n": n, "srcc": nan, "plcc": nan, "plcc_logistic": nan, "krcc": nan}
    m = metrics_module()
    try:
        logistic = float(m.plcc(a, b, fit="logistic4"))
    except (RuntimeError, TypeError, ValueError):  # no convergence, or fewer points than the 4 parameters
        logistic = nan
    return {"n": n, "srcc": float(m.srcc(a, b)), "plcc": float(m.plcc(a, b)), "plcc_logistic": logistic,
            "krcc": float(m.krcc(a, b))}


def finite(v: float) -> bool:
    """True for a finite number."""
    return not (isinstance(v, float) and math.isnan(v))
