"""The ``uare`` command line.

Every user-fixable problem is a :class:`~uare.errors.UareError`, printed as one line
``uare: error: <message>`` with exit code 2 (the code argparse uses for usage errors).
Other exceptions are bugs and propagate with their traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from uare import __version__
from uare.cli_args import add_common_options, nonneg_int, positive_int
from uare.errors import UareError, one_line
from uare.io import (
    DEFAULT_MAX_PIXELS,
    WRITE_FORMATS,
    iter_inputs,
    left_out,
)

DEGRADE_EPILOG = """\
conversions before degrading (noted in the record):
  - the EXIF orientation is applied; palette, CMYK and 1-bit images become RGB or gray
  - 16-bit images are rounded to 8 bits: the degradations model 8-bit consumer pipelines
  - grayscale stays grayscale (one channel), RGB stays RGB
  - an alpha channel is kept and reattached to the output (resized with INTER_AREA when
    --scale > 1); formats without alpha (JPEG, BMP) drop it
  - a lossy output format (.jpg, .webp) compresses once more on top of the recorded
    degradation: use .png for exact training pairs

folders:
  IN may be a folder: its image files (png jpg jpeg bmp tif tiff webp; not sub-folders,
  not hidden files) are processed in name order into the folder OUT (created), keeping
  each file's stem; the extension is the input's unless --ext is given. The i-th file
  (0-based, in name order) uses seed N + i. Unreadable files are reported on one line
  each and skipped, and the exit code is then 2. --record writes one JSON object
  {input file name: record}. Existing outputs are refused before anything is written,
  unless --overwrite.

exit codes: 0 done; 2 bad arguments, unreadable input, existing output, or files skipped
"""

# Size of the synthetic image used to validate the degradation arguments before any file is read.
_PROBE_SIZE = 48


def _types(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated type names, e.g. noise,blur")
    return names


def _ext(text: str) -> str:
    ext = "." + text.strip().lstrip(".").lower()
    if ext not in WRITE_FORMATS:
        raise argparse.ArgumentTypeError(f"cannot write {text!r} files; use one of {', '.join(WRITE_FORMATS)}")
    return ext


def _known_types() -> str:
    try:
        from uare.degrade.types import DEFAULT_TYPES, OPT_IN_TYPES
    except ImportError:  # help must work even if the engine is broken or absent
        return ""
    opt_in = f"; only when named: {', '.join(OPT_IN_TYPES)}" if OPT_IN_TYPES else ""
    return f": {', '.join(DEFAULT_TYPES)}{opt_in}"


def _pipelines() -> tuple[tuple[str, ...] | None, str]:
    """The ``--pipeline`` choices and help, from the pipeline table (:mod:`uare.degrade.pipelines`)."""
    try:
        from uare.degrade.pipelines import PIPELINE_TABLE
    except ImportError:  # help must work even if the engine is broken or absent; the engine then refuses
        return None, "a degradation pipeline"
    return tuple(p.name for p in PIPELINE_TABLE), "; ".join(f"{p.name}: {p.description}" for p in PIPELINE_TABLE)


def build_parser() -> argparse.ArgumentParser:
    """The ``uare`` argument parser, with one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="uare",
        description="UARE: one model that assesses image quality in words and restores images.",
        epilog="Run 'uare <command> --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"uare {__version__}")
    sub = parser.add_subparsers(dest="command", title="commands", metavar="<command>")

    deg = sub.add_parser(
        "degrade",
        help="apply synthetic degradations to an image or a folder, with a JSON record",
        description="Degrade images with calibrated synthetic degradations and record what was applied.",
        epilog=DEGRADE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    deg.add_argument("input", metavar="IN", help="input image file or folder")
    deg.add_argument("-o", "--output", metavar="OUT", required=True,
                     help="output image file (or folder, for a folder IN or an existing folder)")
    pipelines, pipeline_help = _pipelines()
    deg.add_argument("--pipeline", choices=pipelines, default="single",
                     help=f"{pipeline_help} (default: single)")
    deg.add_argument("--types", type=_types, default=None, metavar="T1,T2",
                     help=f"comma-separated degradation types{_known_types()} (default: drawn at random)")
    deg.add_argument("--severity", type=int, choices=range(1, 6), default=None, metavar="1-5",
                     help="severity level 1 (light) .. 5 (strong) (default: drawn at random)")
    deg.add_argument("--scale", type=int, choices=(1, 2, 3, 4), default=1,
                     help="also down-sample by this factor, for super-resolution pairs (default: 1)")
    deg.add_argument("--seed", type=nonneg_int, default=0, metavar="N", help="random seed (default: 0)")
    deg.add_argument("--record", metavar="OUT.json", default=None,
                     help="write the degradation record(s) as JSON to this file")
    deg.add_argument("--overwrite", action="store_true", help="replace existing output files")
    deg.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
                     help=f"refuse larger images (width*height), a guard against decompression bombs "
                     f"(default: {DEFAULT_MAX_PIXELS:,})")
    deg.add_argument("--ext", type=_ext, default=None, metavar="EXT",
                     help="output extension in folder mode, e.g. png (default: the input's)")
    deg.set_defaults(func=cmd_degrade)

    from uare.cli_checkpoint import add_parsers as add_checkpoint_parsers

    add_checkpoint_parsers(sub)

    from uare.cli_train import add_parsers as add_train_parsers

    add_train_parsers(sub)

    from uare.cli_data import add_parsers as add_data_parsers

    add_data_parsers(sub)

    from uare.cli_eval import add_parsers as add_eval_parsers

    add_eval_parsers(sub)

    from uare.cli_infer import add_parsers as add_infer_parsers

    add_infer_parsers(sub)
    from uare.cli_demo import add_parsers as add_demo_parsers

    add_demo_parsers(sub)
    add_common_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``uare`` command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version and usage errors: keep main() returning a code
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    if args.command is None:
        print("uare: error: no command given; run 'uare --help' to list the commands", file=sys.stderr)
        return 2
    from uare.threads import set_threads

    args.threads_given = getattr(args, "threads", None) is not None
    args.threads = set_threads(getattr(args, "threads", None))
    try:
        return int(args.func(args))
    except UareError as e:
        print(f"uare: error: {one_line(e)}", file=sys.stderr)
        return 2


# ---------------------------------------------------------------------------------------------
# degrade (the work is uare.degrade.files; here: arguments in, lines out)


def _describe(d: dict[str, Any]) -> str:
    sev = d.get("severities") or {}
    what = ", ".join(f"{k} {v:.1f}" for k, v in sev.items()) or "no visible degradation"
    if "score" in d:
        what += f"; score {d['score']:.2f} ({d['level']})"
    return what


def cmd_degrade(args: argparse.Namespace) -> int:
    """``uare degrade``: one file to one file, or a folder to a folder."""
    from uare.degrade.files import DegradeOptions, degrade_file, degrade_folder, plan_folder
    from uare.quality.fields import quality_fields

    opts = DegradeOptions(args.pipeline, args.types, args.severity, args.scale)
    src = Path(args.input)
    inputs = iter_inputs(src)
    note = left_out(src)
    if note:
        print(f"uare: note: {note}", file=sys.stderr)
    if not src.is_dir():
        r = degrade_file(src, args.output, opts, args.seed, args.record, args.overwrite, args.max_pixels, args.ext,
                         annotate=quality_fields)
        print(f"{src} -> {r.out}: {_describe(r.record)}")
        return 0

    from uare.progress import Progress

    quiet = getattr(args, "quiet", False)
    plan = plan_folder(src, args.output, inputs, opts, args.seed, args.record, args.overwrite, args.ext)
    # a bar on a terminal; a line per file in a pipe or log; nothing with --quiet
    bar = Progress(len(plan), "degrade", quiet=quiet)
    res = degrade_folder(plan, opts, args.seed, args.record, args.overwrite, args.max_pixels,
                         annotate=quality_fields, progress=bar)
    if not quiet:
        print(f"degraded {len(res.records)}, skipped {len(res.skipped)} -> {Path(args.output)}")
    return 2 if res.skipped else 0
