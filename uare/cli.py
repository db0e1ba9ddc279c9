"""The ``uare`` command line.

Every user-fixable problem is a :class:`~uare.errors.UareError`, printed as one line
``uare: error: <message>`` with exit code 2 (the code argparse uses for usage errors).
Other exceptions are bugs and propagate with their traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from uare import __version__
from uare.cli_args import add_common_options, nonneg_int, positive_int
from uare.errors import ImageReadError, OutputExistsError, UareError
from uare.io import (
    DEFAULT_MAX_PIXELS,
    WRITE_FORMATS,
    LoadedImage,
    iter_inputs,
    left_out,
    output_format,
    read_image,
    to_uint8,
    write_image,
    write_json_atomic,
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


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


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
    deg.add_argument("--pipeline", choices=("single", "multi", "realesrgan"), default="single",
                     help="single: one type; multi: 2-3 types in physical order; realesrgan: the "
                     "Real-ESRGAN second-order pipeline (default: single)")
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
        print(f"uare: error: {_one_line(e)}", file=sys.stderr)
        return 2


# ---------------------------------------------------------------------------------------------
# degrade


@dataclass
class DegradeOptions:
    """The degradation arguments shared by every file of one run."""

    pipeline: str
    types: list[str] | None
    severity: int | None
    scale: int


def _degrade_fn() -> Callable[..., tuple[np.ndarray, Any]]:
    # Imported lazily so that `uare --help` stays fast and independent of the engine.
    from uare.degrade import degrade

    return degrade


def quality_fields(record: Any, clean: np.ndarray, degraded: np.ndarray, seed: int) -> dict[str, Any]:
    """Score, level and analysis text of a record from :mod:`uare.quality`, or ``{}`` without it.

    The analysis text is drawn with ``numpy.random.default_rng(seed)``, the seed of the degradation,
    so the whole JSON record is reproducible. The fidelity (SSIM) term needs both images; when the
    quality module refuses them (e.g. an image smaller than the SSIM window) the score falls back to
    the record alone, with a note.
    """
    try:
        from uare.quality import analysis_text, summarize
    except ImportError:
        return {}
    notes: list[str] = []
    h, w = (int(v) for v in record.input_size)
    try:
        # The ground truth of a super-resolution pair is the clean image mod-cropped to input_size.
        summary = summarize(record, clean=clean[:h, :w], degraded=degraded)
    except ValueError as e:
        notes.append(f"score from the record only (no fidelity term: {_one_line(e)})")
        summary = summarize(record)
    out: dict[str, Any] = {
        "score": float(summary.score),
        "level": str(summary.level),
        "analysis": str(analysis_text(summary, np.random.default_rng(seed))),
    }
    if notes:
        out["quality_notes"] = notes
    return out


def _prepare(loaded: LoadedImage) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """The 8-bit image (HxWx1 or HxWx3) and alpha given to the engine, and notes on the conversion."""
    notes = list(loaded.notes)
    pixels, alpha = loaded.pixels, loaded.alpha
    if pixels.dtype != np.uint8:
        notes.append("16-bit input rounded to 8 bits (the degradations model 8-bit consumer pipelines)")
        pixels = to_uint8(pixels)
        alpha = to_uint8(alpha) if alpha is not None else None
    if alpha is not None:
        notes.append("alpha channel kept aside and reattached to the output")
    return pixels, alpha, notes


def _fit_alpha(alpha: np.ndarray, record: Any, out_hw: tuple[int, int]) -> np.ndarray:
    """Crop the alpha like the engine's mod-crop (bottom/right), then resize it to the output size."""
    h, w = (int(v) for v in record.input_size)
    if 0 < h <= alpha.shape[0] and 0 < w <= alpha.shape[1]:
        alpha = alpha[:h, :w]
    if alpha.shape[:2] != out_hw:
        # INTER_AREA averages the covered pixels: the right filter for shrinking a coverage mask.
        alpha = cv2.resize(alpha, (out_hw[1], out_hw[0]), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(alpha)


def degrade_image(
    loaded: LoadedImage, opts: DegradeOptions, seed: int
) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Degrade one loaded image; return (pixels, alpha, record dict). ``ValueError`` from the engine passes."""
    pixels, alpha, notes = _prepare(loaded)
    out, record = _degrade_fn()(pixels, pipeline=opts.pipeline, types=opts.types, severity=opts.severity,
                                scale=opts.scale, seed=seed)
    if out.ndim == 2:
        out = out[:, :, None]
    if alpha is not None:
        alpha = _fit_alpha(alpha, record, out.shape[:2])
    d = record.to_dict()
    d["notes"] = list(d.get("notes", [])) + notes
    d.update(quality_fields(record, pixels, out, seed))
    return out, alpha, d


def _check_arguments(opts: DegradeOptions, seed: int) -> None:
    """Run the engine once on a small synthetic image so bad arguments fail before any file is touched.

    The engine is the one authority on valid types and combinations; asking it beats copying its rules.
    """
    ramp = np.linspace(0, 255, _PROBE_SIZE, dtype=np.float32)
    probe = np.dstack([np.add.outer(ramp, ramp) / 2] * 3).astype(np.uint8)
    try:
        _degrade_fn()(probe, pipeline=opts.pipeline, types=opts.types, severity=opts.severity,
                      scale=opts.scale, seed=seed)
    except ValueError as e:
        raise UareError(f"degrade: {_one_line(e)}") from None


def _describe(d: dict[str, Any]) -> str:
    sev = d.get("severities") or {}
    what = ", ".join(f"{k} {v:.1f}" for k, v in sev.items()) or "no visible degradation"
    if "score" in d:
        what += f"; score {d['score']:.2f} ({d['level']})"
    return what


def _refuse_existing(paths: list[Path]) -> None:
    existing = [p for p in paths if p.exists()]
    if existing:
        more = f" (and {len(existing) - 1} more output(s))" if len(existing) > 1 else ""
        raise OutputExistsError(f"{existing[0]}{more}: output already exists; pass --overwrite to replace it")


def cmd_degrade(args: argparse.Namespace) -> int:
    """``uare degrade``: one file to one file, or a folder to a folder."""
    opts = DegradeOptions(args.pipeline, args.types, args.severity, args.scale)
    src = Path(args.input)
    inputs = iter_inputs(src)
    note = left_out(src)
    if note:
        print(f"uare: note: {note}", file=sys.stderr)
    record_path = Path(args.record) if args.record else None
    if src.is_dir():
        return _degrade_folder(args, opts, inputs, record_path)

    out = Path(args.output)
    if out.is_dir():
        out = out / (src.stem + (args.ext or src.suffix.lower()))
    elif args.ext and out.suffix.lower() != args.ext:
        raise UareError(f"--ext {args.ext} conflicts with the output file name {out}; drop one of them")
    output_format(out)
    if not args.overwrite:
        _refuse_existing([out] + ([record_path] if record_path else []))
    _check_arguments(opts, args.seed)

    loaded = read_image(src, max_pixels=args.max_pixels)
    try:
        pixels, alpha, d = degrade_image(loaded, opts, args.seed)
    except ValueError as e:
        raise UareError(f"{src}: cannot degrade this image ({_one_line(e)})") from None
    d["input"], d["output"] = src.name, out.name
    d["notes"] += write_image(out, pixels, alpha, overwrite=args.overwrite)
    if record_path:
        write_json_atomic(record_path, d, overwrite=args.overwrite)
    print(f"{src} -> {out}: {_describe(d)}")
    return 0


def _degrade_folder(args: argparse.Namespace, opts: DegradeOptions, inputs: list[Path],
                    record_path: Path | None) -> int:
    from uare.progress import Progress

    src, dst = Path(args.input), Path(args.output)
    if dst.exists() and not dst.is_dir():
        raise UareError(f"{dst}: exists and is not a folder; a folder input needs an output folder")
    if dst.resolve() == src.resolve():
        raise UareError(f"{dst}: output folder is the input folder; choose another -o to keep the originals")
    plan = [(p, dst / (p.stem + (args.ext or p.suffix.lower()))) for p in inputs]
    by_output: dict[Path, Path] = {}
    for inp, out in plan:
        if out in by_output:
            raise UareError(f"{by_output[out].name} and {inp.name} would both be written to {out}; "
                            "rename one of them or use a folder of unique names")
        by_output[out] = inp
    if not args.overwrite:
        _refuse_existing([out for _, out in plan] + ([record_path] if record_path else []))
    _check_arguments(opts, args.seed)
    dst.mkdir(parents=True, exist_ok=True)

    records: dict[str, Any] = {}
    skipped = 0
    # a bar on a terminal; a line per file in a pipe or log; nothing with --quiet
    bar = Progress(len(plan), "degrade", quiet=getattr(args, "quiet", False))
    for i, (inp, out) in enumerate(plan):
        seed = args.seed + i
        try:
            loaded = read_image(inp, max_pixels=args.max_pixels)
            pixels, alpha, d = degrade_image(loaded, opts, seed)
        except ImageReadError as e:
            skipped += 1
            bar.write(f"uare: skipped {_one_line(e)}")
            bar.update(item=inp.name)
            continue
        except ValueError as e:
            skipped += 1
            bar.write(f"uare: skipped {inp}: cannot degrade this image ({_one_line(e)})")
            bar.update(item=inp.name)
            continue
        d["input"], d["output"] = inp.name, out.name
        d["notes"] += write_image(out, pixels, alpha, overwrite=args.overwrite)
        records[inp.name] = d
        bar.update(item=inp.name)
    bar.close()
    if record_path:
        write_json_atomic(record_path, records, overwrite=args.overwrite)
    if not getattr(args, "quiet", False):
        print(f"degraded {len(records)}, skipped {skipped} -> {dst}")
    return 2 if skipped else 0
