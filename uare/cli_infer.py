"""``uare assess``, ``uare compare``, ``uare restore`` and ``uare enhance``."""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

from uare.cli_args import (
    bounded_int,
    device_name,
    finite_float,
    nonneg_int,
    positive_int,
    seed_int,
    unit_float,
    views_int,
)
from uare.errors import ImageReadError, UareError
from uare.io import DEFAULT_MAX_PIXELS, iter_inputs, left_out, output_format, write_image, write_json_atomic
from uare.limits import MAX_STEPS
from uare.tasks import ENHANCE_TASKS, RESTORE_TASKS

TASKS = RESTORE_TASKS

RESTORE_EPILOG = """\
assess, then restore:
  by default the model first writes a four-part analysis (user intent, quality analysis,
  enhancement plan, expected result) that stays in its context while it generates the image;
  --no-assess uses the plain instruction only; --analysis TEXT supplies (or edits) the plan.

images:
  EXIF orientation is applied; 16-bit stays 16-bit; grayscale stays grayscale; alpha is kept
  and reattached; palette / CMYK images become RGB. Large outputs are processed in overlapping
  tiles (--tile / --overlap) with blended seams. The output format follows OUT's extension.

folders:
  IN may be a folder: outputs keep the input names (extension from --ext if given), unreadable
  files are reported and skipped (exit code 2 at the end), nothing is overwritten without
  --overwrite, every write is atomic. --sidecar writes NAME.json with the analysis next to each
  output; --json prints one JSON object per image on stdout.
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="DIR|ORG/NAME[@REV]", default=None,
                   help="checkpoint folder or Hugging Face Hub id (BAGEL or uare layout; default: the shipped "
                        "uare-tiny); Hub ids need the hub extra and use its cache (HF_HUB_OFFLINE=1: cache only)")
    p.add_argument("--device", default="cpu", type=device_name, help="cpu, cuda, cuda:N, mps or auto (default: cpu)")
    p.add_argument("--dtype", default="fp32", choices=("fp32", "bf16", "fp16"), help="weights dtype (default: fp32)")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help=f"refuse larger images (default: {DEFAULT_MAX_PIXELS:,})")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the inference commands."""
    a = sub.add_parser("assess", help="score and describe the quality of images",
                       description="Score (1-5, expected value over the five Q-Align levels) and describe images.")
    a.add_argument("images", nargs="+", metavar="IMG", help="image files or folders")
    a.add_argument("--json", action="store_true", help="print JSON (one object per image)")
    a.add_argument("--no-describe", action="store_true", help="score only, no written description")
    _common(a)
    a.set_defaults(func=cmd_assess)

    c = sub.add_parser("compare", help="which of two images has the better quality, and why")
    c.add_argument("a", metavar="A")
    c.add_argument("b", metavar="B")
    c.add_argument("--json", action="store_true", help="print JSON")
    _common(c)
    c.set_defaults(func=cmd_compare)

    for name, tasks, default, helptext in (
        ("restore", TASKS, "auto", "restore (or super-resolve) an image or a folder, assessing it first"),
        ("enhance", ENHANCE_TASKS, ENHANCE_TASKS[0], "enhance a low-light or hazy image or folder"),
    ):
        r = sub.add_parser(name, help=helptext, description=helptext[0].upper() + helptext[1:] + ".",
                           epilog=RESTORE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        r.add_argument("input", metavar="IN", help="image file or folder")
        r.add_argument("-o", "--output", metavar="OUT", required=True, help="output file or folder")
        r.add_argument("--task", choices=tasks, default=default, help=f"what to do (default: {default})")
        if name == "restore":
            r.add_argument("--scale", type=int, choices=(1, 2, 4), default=1, help="super-resolution factor")
        r.add_argument("--no-assess", action="store_true", help="skip the analysis; plain instruction only")
        r.add_argument("--analysis", metavar="TEXT", default=None, help="use this analysis / plan instead")
        r.add_argument("--force", action="store_true",
                       help="restore even an image the assessment rates good or better (by default it is "
                            "returned unchanged)")
        r.add_argument("--steps", type=bounded_int(1, MAX_STEPS), default=None,
                       help=f"flow steps, 1-{MAX_STEPS} (default: the model's)")
        r.add_argument("--cfg-text", type=finite_float, default=None, help="text guidance scale (1 = off)")
        r.add_argument("--cfg-img", type=finite_float, default=None, help="image guidance scale (1 = off)")
        r.add_argument("--seed", type=seed_int, default=0, help="random seed; the same seed gives the same output")
        r.add_argument("--fidelity", type=unit_float, default=None, metavar="F",
                       help="models with an LQ-guided refiner: 0 = the generation expert's output alone, 1 = fully "
                            "guided by the input's pixels (default: the model's, uare-tiny 1)")
        r.add_argument("--self-ensemble", type=views_int, default=None, metavar="V",
                       help="models with LQ-guided heads: average them over V flipped / rotated views of the input, "
                            "1, 2, 4 or 8 (slower, slightly better; default: the model's, uare-tiny 2)")
        r.add_argument("--tile", type=nonneg_int, default=None, metavar="N",
                       help="tile size in output pixels, a multiple of 16 (0 = off)")
        r.add_argument("--overlap", type=nonneg_int, default=None, metavar="M", help="tile overlap in pixels")
        r.add_argument("--ext", default=None, help="output extension in folder mode, e.g. png")
        r.add_argument("--overwrite", action="store_true", help="replace existing outputs")
        r.add_argument("--sidecar", action="store_true", help="write OUT.json with the analysis next to each output")
        r.add_argument("--json", action="store_true", help="print one JSON object per image")
        _common(r)
        r.set_defaults(func=cmd_restore, command_name=name)


def _load(args: argparse.Namespace):
    import warnings

    from uare.infer import UARE

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = UARE.from_pretrained(args.model, device=args.device, dtype=args.dtype)
    for w in caught:
        print(f"uare: warning: {w.message}", file=sys.stderr)
    return model


def _inputs(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        out.extend(iter_inputs(Path(p)))
        _note_left_out(p)
    return out


def _note_left_out(path: str | Path) -> None:
    msg = left_out(path)
    if msg:
        print(f"uare: note: {msg}", file=sys.stderr)


def cmd_assess(args: argparse.Namespace) -> int:
    from uare.progress import Progress

    inputs = _inputs(args.images)
    model = _load(args)
    skipped = 0
    bar = Progress(len(inputs), "assess", quiet=args.quiet or len(inputs) == 1)
    for path in inputs:
        try:
            a = model.assess(path, describe=not args.no_describe, max_pixels=args.max_pixels)
        except ImageReadError as e:
            if len(inputs) == 1:
                raise
            skipped += 1
            bar.write(f"uare: skipped {e}")
            bar.update(item=Path(path).name)
            continue
        bar.update(item=Path(path).name)
        if args.json:
            print(json.dumps({"image": str(path), **a.to_dict()}))
        else:
            probs = ", ".join(f"{k} {v:.2f}" for k, v in a.level_probs.items())
            print(f"{path}: {a.score:.2f}/5 ({a.level}) [{probs}]" + (f"\n{textwrap.indent(a.text, '  ')}" if a.text else ""))
    bar.close()
    if len(inputs) > 1 and not args.quiet:
        print(f"assessed {len(inputs) - skipped}, skipped {skipped}", file=sys.stderr)
    return 2 if skipped else 0


def cmd_compare(args: argparse.Namespace) -> int:
    model = _load(args)
    c = model.compare(args.a, args.b, max_pixels=args.max_pixels)
    if args.json:
        print(json.dumps({"a": args.a, "b": args.b, **c.to_dict()}))
    else:
        better = args.a if c.preferred == "first" else args.b
        print(f"{better} is better (probability {c.probability:.2f})\n{textwrap.indent(c.text, '  ')}")
    return 0


def _plan_outputs(src: Path, dst: Path, ext: str | None, inputs: list[Path],
                  sidecar: bool = False) -> list[tuple[Path, Path]]:
    if src.is_dir():
        if dst.exists() and not dst.is_dir():
            raise UareError(f"{dst}: exists and is not a folder; a folder input needs an output folder")
        if dst.resolve() == src.resolve():
            raise UareError(f"{dst}: output folder is the input folder; choose another -o to keep the originals")
        ext = ext if ext is None or ext.startswith(".") else "." + ext
        plan = [(p, dst / (p.stem + (ext or p.suffix.lower()))) for p in inputs]
        names = [o for _, o in plan]
        if len(set(names)) != len(names):
            raise UareError("two inputs would be written to the same output name; use unique names or drop --ext")
        if sidecar:
            jsons = collections.Counter(o.with_suffix(".json").name for o in names)
            dup = sorted(n for n, k in jsons.items() if k > 1)
            if dup:
                raise UareError(f"{dup[0]}: two outputs would share this sidecar (e.g. x.jpg and x.png); rename "
                                "one input or drop --sidecar")
        return plan
    out = dst / (src.stem + (ext or src.suffix.lower())) if dst.is_dir() else dst
    return [(src, out)]


def cmd_restore(args: argparse.Namespace) -> int:
    from uare.progress import Progress

    src, dst = Path(args.input), Path(args.output)
    inputs = iter_inputs(src)
    _note_left_out(src)
    plan = _plan_outputs(src, dst, args.ext, inputs, args.sidecar)
    for inp, out in plan:
        output_format(out)
        if out.resolve() == inp.resolve():
            raise UareError(f"{out}: the output is the input file; choose another -o to keep the original")
        parent = out.parent if out.parent != Path("") else Path(".")
        if parent.exists() and not os.access(parent, os.W_OK):
            raise UareError(f"{parent}: output folder is not writable; choose another -o")
    if not args.overwrite:
        existing = [o for _, o in plan if o.exists()] + [o.with_suffix(".json") for _, o in plan
                                                          if args.sidecar and o.with_suffix(".json").exists()]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise UareError(f"{existing[0]}{more}: output already exists; pass --overwrite to replace it")
    model = _load(args)
    if src.is_dir():
        dst.mkdir(parents=True, exist_ok=True)
    task = args.task
    kw: dict[str, Any] = dict(task=task, scale=getattr(args, "scale", 1), assess=not args.no_assess,
                              analysis=args.analysis, steps=args.steps, cfg_text=args.cfg_text, cfg_img=args.cfg_img,
                              seed=args.seed, tile=args.tile, overlap=args.overlap, max_pixels=args.max_pixels,
                              force=args.force, fidelity=args.fidelity, self_ensemble=args.self_ensemble)
    single = len(plan) == 1 and not src.is_dir()
    skipped = unchanged = 0
    # a bar on a terminal (and one for the steps / tiles of each image); a line per image and a status
    # line every 10 s inside a long one in a pipe or log; nothing with --quiet
    bar = Progress(len(plan), args.command_name, quiet=args.quiet, outer=not single)
    for inp, out in plan:
        try:
            r = model.restore(inp, progress=bar.inner, **kw)
        except ImageReadError as e:
            if single:
                raise
            skipped += 1
            bar.write(f"uare: skipped {e}")
            bar.update(item=inp.name)
            continue
        finally:
            bar.end_item()
        pixels, alpha = _split_alpha(r.image)
        notes = write_image(out, pixels, alpha, overwrite=args.overwrite)
        record = {"input": str(inp), "output": str(out), **r.to_dict(), "notes": r.notes + notes}
        if args.sidecar:
            write_json_atomic(out.with_suffix(".json"), record, overwrite=args.overwrite)
        if args.json:
            print(json.dumps(record))
        else:
            msg = f"{inp} -> {out} ({r.image.shape[1]}x{r.image.shape[0]}, {r.seconds:.1f} s"
            msg += f", {r.tiles} tiles)" if r.tiles > 1 else ")"
            if r.unchanged:  # said out loud, and no plan printed as if it had been carried out
                msg += f"\n  unchanged: {r.unchanged}"
            elif r.analysis and single:
                msg += "\n" + textwrap.indent(r.analysis, "  ")
            print(msg, flush=True)
        unchanged += r.unchanged is not None
        bar.update(item=inp.name)
    bar.close()
    if not single and not args.quiet:
        print(f"restored {len(plan) - skipped - unchanged}, unchanged {unchanged}, skipped {skipped} -> {dst}",
              file=sys.stderr)
    return 2 if skipped else 0


def _split_alpha(img):
    if img.ndim == 3 and img.shape[2] in (2, 4):
        return img[:, :, :-1], img[:, :, -1]
    return img, None
