"""The model's own IQA checks beyond correlation, run by ``uare bench iqa`` when the ``uare`` scorer is chosen.

- ``type_id``: on single-type synthetic images (levels 2-5; level 1 is barely visible by design) the
  model's description must name the degradation's category (blur / noise / jpeg / lowres / lowlight /
  haze / rain) as its most severe one. Motion vs defocus blur or Gaussian vs Poisson noise are not
  told apart here, only the category the restoration plan acts on.
- ``pairwise``: pairs of the same clean image under two degradations whose ground-truth quality
  levels (:func:`uare.quality.level_from_score`) differ by at least one; ``compare`` must prefer the
  better one. Pairs are drawn with a fixed seed.
- ``tid2013_pairs``: every TID2013 calibration image must score below its reference.
- ``monotonicity``: per type (noise, blur, JPEG) and image, Kendall tau between the level (1..5) and
  minus the score; the accuracy column is the mean tau over images and types.
- ``size_invariance``: the same clean content at four sizes (a 192-px crop resized to 112, 140, 168, 192 px):
  the SRCC between score and size per image, averaged (near 0 = the score does not follow the size);
  the accuracy column reports 1 - |mean SRCC|.
- ``compare_symmetry``: ``compare(a, b)`` and ``compare(b, a)`` must name the same image as the better
  one with the same probability.
- ``text_consistency``: the description's ``X.XX/5`` and level word must equal the printed score and
  level, and the level must be the documented bin of the score.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from uare.degrade.types import TYPE_CATEGORY
from uare.eval.bench_restore import load_clean
from uare.quality import LEVELS, level_from_score
from uare.quality.words import SEVERITY_WORDS

__all__ = ["IQATaskResult", "compare_symmetry", "dominant_category", "monotonicity", "pairwise_accuracy",
           "size_invariance", "text_consistency", "tid2013_pairs", "type_identification"]


@dataclass
class IQATaskResult:
    """Accuracy of one check, with its count and the per-item rows."""

    name: str
    accuracy: float
    n: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    per_group: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"accuracy": round(self.accuracy, 4), "n": self.n, "per_group": self.per_group}


def dominant_category(degradations: list[dict[str, str]]) -> str | None:
    """The most severe category of a parsed description (the first one on ties); ``None`` if it names none."""
    best, rank = None, -1
    for d in degradations:
        r = SEVERITY_WORDS.index(d["severity"]) if d.get("severity") in SEVERITY_WORDS else 0
        if r > rank:
            best, rank = d["type"], r
    return best


def _per_group(rows: list[dict[str, Any]]) -> dict[str, float]:
    groups = sorted({r["group"] for r in rows})
    return {g: round(float(np.mean([r["correct"] for r in rows if r["group"] == g])), 4) for g in groups}


def type_identification(model: Any, items: Iterable[Any], levels: tuple[int, ...] = (2, 3, 4, 5),
                        log: Callable[[str], None] | None = None) -> IQATaskResult:
    """Describe each single-type item (``IQAItem`` with ``group`` = type, name ending in ``/L<level>``)."""
    rows = []
    for it in items:
        if int(it.name.rsplit("/L", 1)[1]) not in levels:
            continue
        a = model.assess(it.image, describe=True)
        pred = dominant_category(a.degradations)
        truth = TYPE_CATEGORY[it.group]
        rows.append({"image": it.name, "group": truth, "predicted": pred, "correct": pred == truth,
                     "text": a.text})
    if log:
        log(f"iqa tasks: type identification on {len(rows)} images")
    acc = float(np.mean([r["correct"] for r in rows])) if rows else float("nan")
    return IQATaskResult("type_id", acc, len(rows), rows, _per_group(rows))


def pairwise_accuracy(model: Any, items: list[Any], pairs_per_image: int = 4, seed: int = 0,
                      log: Callable[[str], None] | None = None) -> IQATaskResult:
    """``compare`` on pairs of one clean image's degraded versions at least one quality level apart."""
    rng = np.random.default_rng(seed)
    by_image: dict[str, list[Any]] = {}
    for it in items:
        by_image.setdefault(it.name.rsplit("/", 2)[0], []).append(it)
    rows = []
    for key in sorted(by_image):
        group = by_image[key]
        lv = [LEVELS.index(level_from_score(it.truth)) for it in group]
        cand = [(i, j) for i in range(len(group)) for j in range(i + 1, len(group)) if abs(lv[i] - lv[j]) >= 1]
        if not cand:
            continue
        for k in rng.permutation(len(cand))[:pairs_per_image]:
            i, j = cand[int(k)]
            if rng.random() < 0.5:  # either order, so a first/second bias cannot pass the test
                i, j = j, i
            a, b = group[i], group[j]
            c = model.compare(a.image, b.image)
            truth = "first" if a.truth > b.truth else "second"
            rows.append({"first": a.name, "second": b.name, "group": f"{abs(lv[i] - lv[j])} level(s) apart",
                         "truth": truth, "predicted": c.preferred, "probability": c.probability,
                         "correct": c.preferred == truth})
    if log:
        log(f"iqa tasks: {len(rows)} comparisons")
    acc = float(np.mean([r["correct"] for r in rows])) if rows else float("nan")
    return IQATaskResult("pairwise", acc, len(rows), rows, _per_group(rows))


def tid2013_pairs(score: Callable[[np.ndarray], float], root: Path) -> IQATaskResult:
    """Each TID2013 calibration image (``dist_dir``) against its reference (``ref_dir``): distorted must score lower."""
    import csv

    rows = []
    with open(root / "tid2013_identity.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            s_ref = float(score(load_clean(root / "ref_dir" / r["calib_file"])))
            s_dist = float(score(load_clean(root / "dist_dir" / r["calib_file"])))
            rows.append({"image": r["tid2013_dist"], "group": r["distortion_name"], "reference": s_ref,
                         "distorted": s_dist, "correct": s_dist < s_ref})
    acc = float(np.mean([r["correct"] for r in rows])) if rows else float("nan")
    return IQATaskResult("tid2013_pairs", acc, len(rows), rows, _per_group(rows))


def _crop192(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(192, h, w)
    return np.ascontiguousarray(img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s])


def monotonicity(model: Any, items: Iterable[Any], types: tuple[str, ...] = ("noise", "blur", "jpeg"),
                 max_images: int = 12) -> IQATaskResult:
    """Mean Kendall tau between severity level and minus the score, per type, over the items' images."""
    from scipy.stats import kendalltau

    by: dict[tuple[str, str], dict[int, float]] = {}
    for it in items:
        if it.group not in types:
            continue
        key, lv = it.name.rsplit("/", 2)[0], int(it.name.rsplit("/L", 1)[1])
        if len({k for k, t in by if t == it.group} | {key}) > max_images:
            continue
        by.setdefault((key, it.group), {})[lv] = model.assess(it.image, describe=False).score
    rows = []
    for (key, t), scores in sorted(by.items()):
        lv = sorted(scores)
        if len(lv) < 3:
            continue
        tau = float(kendalltau(lv, [-scores[v] for v in lv]).statistic)
        rows.append({"image": key, "group": t, "tau": tau, "scores": [round(scores[v], 3) for v in lv],
                     "correct": tau})
    per = {t: round(float(np.mean([r["tau"] for r in rows if r["group"] == t])), 4)
           for t in types if any(r["group"] == t for r in rows)}
    mean = float(np.mean(list(per.values()))) if per else float("nan")
    return IQATaskResult("monotonicity", mean, len(rows), rows, per)


def size_invariance(model: Any, images: Iterable[tuple[str, np.ndarray]],
                    sizes: tuple[int, ...] = (112, 140, 168, 192)) -> IQATaskResult:
    """SRCC between score and size for the same content at several sizes (mean over images)."""
    import cv2
    from scipy.stats import spearmanr

    rows = []
    for name, img in images:
        c = _crop192(img)
        scores = [model.assess(cv2.resize(c, (s, s), interpolation=cv2.INTER_AREA), describe=False).score
                  for s in sizes]
        rho = float(spearmanr(sizes, scores).statistic) if len(set(scores)) > 1 else 0.0
        rows.append({"image": name, "group": "all", "srcc": rho, "scores": [round(x, 3) for x in scores],
                     "correct": 1.0 - abs(rho)})
    mean_rho = float(np.mean([r["srcc"] for r in rows])) if rows else float("nan")
    return IQATaskResult("size_invariance", 1.0 - abs(mean_rho), len(rows), rows,
                         {"mean_srcc": round(mean_rho, 4),
                          "mean_range": round(float(np.mean([max(r["scores"]) - min(r["scores"]) for r in rows])), 4)
                          if rows else float("nan")})


def compare_symmetry(model: Any, items: list[Any], pairs: int = 12, seed: int = 0) -> IQATaskResult:
    """``compare(a, b)`` vs ``compare(b, a)`` on random pairs of the items."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(pairs):
        i, j = rng.choice(len(items), 2, replace=False)
        a, b = items[int(i)], items[int(j)]
        ab, ba = model.compare(a.image, b.image), model.compare(b.image, a.image)
        ok = ab.preferred != ba.preferred and abs(ab.probability - ba.probability) < 1e-4
        rows.append({"first": a.name, "second": b.name, "group": "all", "ab": ab.preferred, "ba": ba.preferred,
                     "p_ab": ab.probability, "p_ba": ba.probability, "correct": ok})
    acc = float(np.mean([r["correct"] for r in rows])) if rows else float("nan")
    return IQATaskResult("compare_symmetry", acc, len(rows), rows)


def text_consistency(model: Any, items: list[Any], n: int = 12, seed: int = 0) -> IQATaskResult:
    """The description states the printed score and level, and the level is the score's bin."""
    from uare.quality import parse_description

    rng = np.random.default_rng(seed)
    rows = []
    for k in rng.choice(len(items), min(n, len(items)), replace=False):
        it = items[int(k)]
        a = model.assess(it.image, describe=True)
        try:
            d = parse_description(a.text)
            ok = d.level == a.level and abs(d.score - round(a.score, 2)) < 1e-6
        except ValueError:
            ok = False
        ok = ok and a.level == level_from_score(round(a.score, 2))
        rows.append({"image": it.name, "group": "all", "score": a.score, "level": a.level, "text": a.text,
                     "correct": ok})
    acc = float(np.mean([r["correct"] for r in rows])) if rows else float("nan")
    return IQATaskResult("text_consistency", acc, len(rows), rows)


def run_iqa_tasks(model: Any, items: list[Any], tid_root: Path | None, seed: int = 0,
                  log: Callable[[str], None] | None = None,
                  clean: list[tuple[str, np.ndarray]] | None = None) -> dict[str, IQATaskResult]:
    """Every check; ``items`` are the synthetic set's items, ``clean`` their clean images (for the size
    check: a degraded image made smaller also looks less degraded, which is content, not size)."""
    log = log or (lambda s: print(s, file=sys.stderr))
    out = {"type_id": type_identification(model, items, log=log),
           "pairwise": pairwise_accuracy(model, items, seed=seed, log=log),
           "monotonicity": monotonicity(model, items)}
    if clean is None:  # no clean images given: the mildest view of each content stands in
        first: dict[str, np.ndarray] = {}
        for it in items:
            key = it.name.rsplit("/", 2)[0]
            if key not in first and it.name.endswith("/L1"):
                first[key] = it.image
        clean = list(first.items())
    out["size_invariance"] = size_invariance(model, clean[:12])
    out["compare_symmetry"] = compare_symmetry(model, items, seed=seed)
    out["text_consistency"] = text_consistency(model, items, seed=seed)
    log("iqa tasks: monotonicity, size invariance, compare symmetry, text consistency")
    if tid_root is not None:
        out["tid2013_pairs"] = tid2013_pairs(lambda im: model.assess(im, describe=False).score, tid_root)
    return out


def markdown(results: dict[str, IQATaskResult]) -> str:
    """One table: check, accuracy, count; then per-group accuracy lines."""
    return markdown_summaries({r.name: {"accuracy": r.accuracy, "n": r.n, "per_group": r.per_group}
                               for r in results.values()})


def markdown_summaries(summaries: dict[str, dict[str, Any]]) -> str:
    """:func:`markdown` from the checks' JSON (name -> :meth:`IQATaskResult.summary`)."""
    lines = ["| check | accuracy | n |", "|---|---|---|"]
    for name, s in summaries.items():
        lines.append(f"| {name} | {s['accuracy']:.3f} | {s['n']} |")
    for name, s in summaries.items():
        if s["per_group"]:
            lines.append("")
            lines.append(f"{name} by group: " + ", ".join(f"{g} {v:.2f}" for g, v in s["per_group"].items()))
    return "\n".join(lines) + "\n"
