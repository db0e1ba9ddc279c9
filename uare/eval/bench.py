"""The work behind ``uare eval`` and ``uare bench``, as functions taking plain arguments.

- :func:`eval_restore`, :func:`eval_iqa`: score existing outputs; each returns an :class:`EvalReport`
  (summary, Markdown table, per-image rows, notes) that :meth:`EvalReport.write` saves;
- :func:`run_bench_restore`, :func:`run_bench_iqa`: build the fixed sets, run, score and write the
  reports; each returns summary JSON + Markdown (``benchmarks/`` call them too);
- :func:`image_folders`: the folders of clean test images (the defaults, or checked ``--images``).

Metrics that cannot be computed here (pyiqa or its weights missing) are left out with one note line
each (:class:`uare.eval.metricset.Unavailable`) and None / "–" cells; only when none of the
requested metrics can be computed is it an error. Named sets (``sets=``) are those of
:mod:`uare.eval.sets`.

Nothing here prints; the CLI (:mod:`uare.cli_eval`) does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uare.errors import UareError


@dataclass
class EvalReport:
    """What ``uare eval restore`` / ``uare eval iqa`` print and write."""

    summary: dict[str, Any]
    markdown: str
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def write(self, out: str | Path) -> list[Path]:
        """``per_image.csv``, ``summary.json`` and ``summary.md`` under ``out``; returns the paths."""
        from uare.eval.report import write_csv, write_json, write_text

        out = Path(out)
        return [write_csv(out / "per_image.csv", self.rows), write_json(out / "summary.json", self.summary),
                write_text(out / "summary.md", self.markdown)]


def eval_restore(pred: str | Path, gt: str | Path, metrics: str = "psnr,ssim", protocol: str | None = None,
                 scale: int = 1, crop_border: int | None = None, device: str = "cpu") -> EvalReport:
    """Fidelity / no-reference ``metrics`` (comma-separated) of the restored images in ``pred`` vs ``gt``.

    ``protocol`` defaults to ``basicsr`` when ``scale`` > 1, else ``rgb``. Unavailable metrics are
    notes and None means (an error only when none is available).
    """
    from uare.eval.metricset import parse_metric_names, resolve_metrics
    from uare.eval.report import markdown_table
    from uare.eval.restore import evaluate_folders

    names = parse_metric_names(metrics)
    protocol = protocol or ("basicsr" if scale > 1 else "rgb")
    built, missing = resolve_metrics(names, protocol=protocol, scale=scale, crop_border=crop_border, device=device)
    res = evaluate_folders(pred, gt, built, scale=scale)
    res.notes += [u.line() for u in missing]
    res.summary["mean"].update(dict.fromkeys(u.name for u in missing))
    summary = {"pred": str(pred), "gt": str(gt), "protocol": protocol, "scale": scale,
               "crop_border": crop_border, "notes": res.notes, **res.summary}
    md = markdown_table(["n", *names], [[res.summary["n"], *[res.summary["mean"][n] for n in names]]],
                        [0, *[2 if n in ("psnr", "niqe", "brisque") else 4 for n in names]])
    return EvalReport(summary, md, res.rows, res.notes)


def eval_iqa(pred: str | Path, mos: str | Path, score_column: str | None = None) -> EvalReport:
    """SRCC / PLCC / KRCC of the predicted scores in ``pred`` against the MOS table ``mos``."""
    from uare.eval.iqa import correlations, match, read_mos, read_scores
    from uare.eval.report import markdown_table

    triples = match(read_scores(pred), read_mos(mos, score_column))
    c = correlations([t[1] for t in triples], [t[2] for t in triples])
    md = markdown_table(["n", "SRCC", "PLCC", "PLCC (logistic)", "KRCC"],
                        [[c["n"], c["srcc"], c["plcc"], c["plcc_logistic"], c["krcc"]]], [0, 4, 4, 4, 4])
    summary = {"pred": str(pred), "mos": str(mos), **c}
    return EvalReport(summary, md, [{"image": n, "pred": p, "mos": m} for n, p, m in triples])


def image_folders(images: list[str] | None) -> list[Path]:
    """The folders of clean test images: the defaults (CBSD68, Kodak24), or ``images`` checked."""
    from uare.eval.bench_restore import default_image_dirs

    if not images:
        return default_image_dirs()
    dirs = [Path(d) for d in images]
    bad = [str(d) for d in dirs if not d.is_dir()]
    if bad:
        raise UareError(f"--images: not a folder: {', '.join(bad)}")
    names = [d.name for d in dirs]
    if len(set(names)) != len(names):
        raise UareError(f"--images: folders must have distinct names (they label the results): {', '.join(names)}")
    return dirs


def run_bench_restore(images: list[str] | None = None, model: str | None = None, baselines: list[str] | None = None,
                      settings: str = "all", metrics: str | None = None, limit: int | None = None,
                      seed: int = 0, device: str = "cpu", out: str | Path = "results/bench_restore",
                      quiet: bool = False, sets: str | list[str] | None = None, root: str | None = None,
                      protocol: str | None = None) -> dict[str, Any]:
    """The whole ``uare bench restore`` as a function; returns summary JSON + Markdown.

    Without ``sets``: the fixed degradation settings on clean image folders (metrics default
    ``psnr,ssim,niqe,brisque``). With ``sets`` (names of :data:`uare.eval.sets.PAIRED_SETS`, comma-separated;
    ``root`` the folder of a single set): the real paired x4 sets, metrics default to the paper's eight
    (:data:`uare.eval.sets.PAPER_SR_METRICS`), PSNR / SSIM under ``protocol`` (default ``realisr``).
    Every name, root and layout is checked before anything is written.
    """
    from uare.baselines import UARERestorer
    from uare.eval import bench_restore as br
    from uare.eval import sets as es
    from uare.eval.metricset import parse_metric_names
    from uare.eval.settings import get_settings
    from uare.progress import Progress

    if sets:
        if images or settings not in ("all", None):
            raise UareError("--set runs the named paired sets; leave out --images and --settings")
        specs = es.paired_sets(sets)
        paired = []
        for spec, r in zip(specs, es.root_for(specs, root), strict=True):
            pairs, layout = es.find_pairs(spec, r)
            paired.append((spec, pairs, layout, r, es.check_pair_sizes(spec, pairs[: limit or None])))
        names = parse_metric_names(metrics or list(es.PAPER_SR_METRICS))
        protocol = protocol or es.PAPER_PROTOCOL
    else:
        if root or protocol:
            raise UareError(f"{'--root' if root else '--protocol'} applies to --set runs only")
        folders = image_folders(images)
        names = parse_metric_names(metrics or "psnr,ssim,niqe,brisque")
    chosen, notes = br.select_restorers(baselines or ["all"], UARERestorer(model, device) if model else None)
    with Progress(None, "bench restore", quiet=quiet) as bar:
        if sets:
            res = br.run_paired([(spec, pairs) for spec, pairs, *_ in paired], chosen, names, protocol, limit,
                                device, progress=bar)
            for spec, pairs, layout, r, same in paired:
                notes.append(f"{spec.name}: {len(pairs[: limit or None])} of {len(pairs)} pairs, {layout.title} "
                             f"layout under {r}" + (f"; {same} LR image(s) of HR size reduced x1/{spec.scale} "
                                                     "(MATLAB bicubic)" if same else ""))
        else:
            res = br.run_bench(folders, get_settings(settings), chosen, names, Path(out), seed=seed, limit=limit,
                               progress=bar)
    res.notes += notes
    meta: dict[str, Any] = {"limit": limit, "seed": seed, "metrics": names, "methods": ["input", *chosen],
                            "model": model, "unavailable": {u.name: u.line() for u in res.unavailable}}
    if sets:
        meta.update(sets=[spec.name for spec, *_ in paired], roots=[str(r) for *_, r, _ in paired],
                    protocol=protocol)
    else:
        meta["images"] = [str(f) for f in folders]
    written = br.write_reports(res, Path(out), names, meta)
    return {"meta": meta, "summary": res.summary, "notes": res.notes, "markdown": br.markdown(res, names),
            "written": [str(p) for p in written]}


def run_bench_iqa(scorers: list[str] | None = None, model: str | None = None, images: list[str] | None = None,
                  limit: int | None = None, synthetic: bool = True, tid2013: bool = True, mos: str | None = None,
                  mos_images: str | None = None, seed: int = 0, device: str = "cpu",
                  out: str | Path = "results/bench_iqa", sets: str | list[str] | None = None,
                  root: str | None = None) -> dict[str, Any]:
    """The whole ``uare bench iqa`` as a function; returns summary JSON + Markdown.

    ``sets`` (names of :data:`uare.eval.sets.MOS_SETS`, comma-separated; ``root`` the folder of a
    single set) replace the synthetic and TID2013 sources; ``limit`` then takes the first rows of
    each table. Every name, root, table and image is checked before anything is scored.
    """
    from uare.baselines import get_scorer
    from uare.eval import bench_iqa as bi
    from uare.eval import sets as es

    names = scorers or ["niqe", "brisque"]
    try:
        sc = {n: get_scorer(n, model, device) for n in names}
    except ValueError as e:
        raise UareError(str(e)) from None
    sources: dict[str, Any] = {}
    set_notes: list[str] = []
    if sets:
        synthetic = tid2013 = False
        specs = es.mos_sets(sets)
        for spec, r in zip(specs, es.root_for(specs, root), strict=True):
            entries = es.mos_entries(spec, r, limit)
            sources[spec.name] = es.mos_items(spec, entries)
            set_notes.append(f"{spec.name}: {len(entries)} images under {r}"
                             + ("; truth = -DMOS (lower DMOS = better)" if spec.lower_better else "")
                             + (f"; resized to {spec.short_side} px on the short side" if spec.short_side else ""))
    elif root:
        raise UareError("--root applies to --set runs only")
    with_tasks = "uare" in sc and synthetic
    if synthetic:
        items = bi.synthetic_items(image_folders(images), limit, seed)
        # the model's own checks reuse the synthetic images, so keep them when the model is scored
        sources["synthetic"] = list(items) if with_tasks else items
    notes = set_notes
    tid_root = None
    if tid2013:
        tid_root = bi.default_tid2013()
        if tid_root is None:
            notes.append("tid2013 skipped: ../shared/datasets/iqa/pyiqa_calibration not found")
        else:
            sources["tid2013"] = bi.tid2013_items(tid_root)
    if mos:
        sources[Path(mos).stem] = bi.user_items(Path(mos), Path(mos_images) if mos_images else None)
    if not sources:
        raise UareError("nothing to benchmark: all sources are switched off")
    res = bi.run_iqa_bench(sources, sc)
    meta = {"scorers": names, "limit": limit, "seed": seed, "notes": notes,
            "sign": "niqe and brisque are negated, so higher = better for every scorer"}
    written = bi.write_reports(res, Path(out), meta)
    md = bi.markdown(res)
    tasks: dict[str, Any] = {}
    if with_tasks:
        from uare.eval import iqa_tasks
        from uare.eval.report import write_json, write_text
        from uare.io import iter_inputs

        clean = [(f"{fo.name}/{p.stem}", bi.load_clean(p)) for fo in image_folders(images)
                 for p in iter_inputs(fo)[: limit or None]]
        tr = iqa_tasks.run_iqa_tasks(sc["uare"].model(), sources["synthetic"], tid_root, seed, clean=clean[:12])
        tasks = {k: v.summary() for k, v in tr.items()}
        md += "\n" + iqa_tasks.markdown(tr)
        write_json(Path(out) / "iqa_tasks.json", {"summary": tasks, "rows": {k: v.rows for k, v in tr.items()}})
        write_text(Path(out) / "iqa_tasks.md", iqa_tasks.markdown(tr))
        written += [Path(out) / "iqa_tasks.json", Path(out) / "iqa_tasks.md"]
    return {"meta": meta, "summary": res.summary, "per_type_srcc": res.per_group, "tasks": tasks, "markdown": md,
            "written": [str(p) for p in written]}
