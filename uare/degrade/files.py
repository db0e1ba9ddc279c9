"""Degrade image files and folders, with their JSON records: the work behind ``uare degrade``.

:func:`degrade_file` turns one file into one file; :func:`plan_folder` then :func:`degrade_folder` turn
a folder into a folder. Every user-fixable problem is a :class:`~uare.errors.UareError` raised before
anything is written (bad arguments, existing outputs, clashing names); a folder's unreadable or
undegradable files are skipped and reported in the result. Nothing here prints: the CLI does.

Conversions before degrading (noted in the record): 16-bit images are rounded to 8 bits, an alpha
channel is kept aside and reattached to the output (mod-cropped like the image, resized with
INTER_AREA when ``scale`` > 1). ``annotate(record, clean, degraded, seed)`` adds fields to each record
(``uare degrade`` passes :func:`uare.quality.fields.quality_fields`: score, level, analysis).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from uare.errors import ImageReadError, OutputExistsError, UareError, one_line
from uare.io import (
    DEFAULT_MAX_PIXELS,
    LoadedImage,
    output_format,
    read_image,
    to_uint8,
    write_image,
    write_json_atomic,
)

#: adds fields (e.g. a quality score) to a record: ``annotate(record, clean, degraded, seed) -> dict``
Annotate = Callable[[Any, np.ndarray, np.ndarray, int], dict[str, Any]]

# Size of the synthetic image used to validate the degradation arguments before any file is read.
_PROBE_SIZE = 48


class FolderProgress(Protocol):
    """What :func:`degrade_folder` reports to (:class:`uare.progress.Progress` is one)."""

    def update(self, n: int = 1, item: str | None = None) -> None: ...

    def write(self, msg: str) -> None: ...

    def close(self) -> None: ...


@dataclass
class DegradeOptions:
    """The degradation arguments shared by every file of one run."""

    pipeline: str
    types: list[str] | None
    severity: int | None
    scale: int


@dataclass
class FileResult:
    """One degraded file: where it came from, where it went, its record (as written to JSON)."""

    src: Path
    out: Path
    record: dict[str, Any]


@dataclass
class FolderResult:
    """A degraded folder: records by input file name, and one message per skipped file."""

    records: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def _degrade_fn() -> Callable[..., tuple[np.ndarray, Any]]:
    # looked up at call time, so a test can put a broken engine in its place
    from uare.degrade import degrade

    return degrade


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


def degrade_image(loaded: LoadedImage, opts: DegradeOptions, seed: int, annotate: Annotate | None = None
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
    if annotate is not None:
        d.update(annotate(record, pixels, out, seed))
    return out, alpha, d


def check_arguments(opts: DegradeOptions, seed: int) -> None:
    """Run the engine once on a small synthetic image so bad arguments fail before any file is touched.

    The engine is the one authority on valid types and combinations; asking it beats copying its rules.
    """
    ramp = np.linspace(0, 255, _PROBE_SIZE, dtype=np.float32)
    probe = np.dstack([np.add.outer(ramp, ramp) / 2] * 3).astype(np.uint8)
    try:
        _degrade_fn()(probe, pipeline=opts.pipeline, types=opts.types, severity=opts.severity,
                      scale=opts.scale, seed=seed)
    except ValueError as e:
        raise UareError(f"degrade: {one_line(e)}") from None


def refuse_existing(paths: list[Path]) -> None:
    """:class:`OutputExistsError` naming the first of ``paths`` that exists (and how many more do)."""
    existing = [p for p in paths if p.exists()]
    if existing:
        more = f" (and {len(existing) - 1} more output(s))" if len(existing) > 1 else ""
        raise OutputExistsError(f"{existing[0]}{more}: output already exists; pass --overwrite to replace it")


def degrade_file(src: str | Path, output: str | Path, opts: DegradeOptions, seed: int = 0,
                 record_path: str | Path | None = None, overwrite: bool = False,
                 max_pixels: int = DEFAULT_MAX_PIXELS, ext: str | None = None,
                 annotate: Annotate | None = None) -> FileResult:
    """Degrade the image file ``src`` into ``output`` (a file, or an existing folder to write into).

    ``ext`` (``.png``) is the output extension when ``output`` is a folder; with a file name it must agree.
    The record (a dict, also written to ``record_path`` when given) names the input and output files.
    """
    src = Path(src)
    out = Path(output)
    record_path = Path(record_path) if record_path else None
    if out.is_dir():
        out = out / (src.stem + (ext or src.suffix.lower()))
    elif ext and out.suffix.lower() != ext:
        raise UareError(f"--ext {ext} conflicts with the output file name {out}; drop one of them")
    output_format(out)
    if not overwrite:
        refuse_existing([out] + ([record_path] if record_path else []))
    check_arguments(opts, seed)

    loaded = read_image(src, max_pixels=max_pixels)
    try:
        pixels, alpha, d = degrade_image(loaded, opts, seed, annotate)
    except ValueError as e:
        raise UareError(f"{src}: cannot degrade this image ({one_line(e)})") from None
    d["input"], d["output"] = src.name, out.name
    d["notes"] += write_image(out, pixels, alpha, overwrite=overwrite)
    if record_path:
        write_json_atomic(record_path, d, overwrite=overwrite)
    return FileResult(src, out, d)


def plan_folder(src: str | Path, dst: str | Path, inputs: list[Path], opts: DegradeOptions, seed: int = 0,
                record_path: str | Path | None = None, overwrite: bool = False,
                ext: str | None = None) -> list[tuple[Path, Path]]:
    """(input, output) pairs for the image files ``inputs`` of the folder ``src``, into the folder ``dst``.

    Checks everything that can be checked before writing (``dst`` is a folder other than ``src``, no two
    inputs share an output, no output exists unless ``overwrite``, the degradation arguments are valid),
    then creates ``dst``.
    """
    src, dst = Path(src), Path(dst)
    record_path = Path(record_path) if record_path else None
    if dst.exists() and not dst.is_dir():
        raise UareError(f"{dst}: exists and is not a folder; a folder input needs an output folder")
    if dst.resolve() == src.resolve():
        raise UareError(f"{dst}: output folder is the input folder; choose another -o to keep the originals")
    plan = [(p, dst / (p.stem + (ext or p.suffix.lower()))) for p in inputs]
    by_output: dict[Path, Path] = {}
    for inp, out in plan:
        if out in by_output:
            raise UareError(f"{by_output[out].name} and {inp.name} would both be written to {out}; "
                            "rename one of them or use a folder of unique names")
        by_output[out] = inp
    if not overwrite:
        refuse_existing([out for _, out in plan] + ([record_path] if record_path else []))
    check_arguments(opts, seed)
    dst.mkdir(parents=True, exist_ok=True)
    return plan


def degrade_folder(plan: list[tuple[Path, Path]], opts: DegradeOptions, seed: int = 0,
                   record_path: str | Path | None = None, overwrite: bool = False,
                   max_pixels: int = DEFAULT_MAX_PIXELS, annotate: Annotate | None = None,
                   progress: FolderProgress | None = None) -> FolderResult:
    """Degrade each (input, output) pair of :func:`plan_folder`; the i-th input uses seed ``seed + i``.

    Unreadable or undegradable inputs are skipped (one message each in ``skipped``, also written to
    ``progress`` at once); the records of the others, by input file name, go to ``record_path`` when given.
    ``progress`` is closed when the files are done, before the records are written.
    """
    res = FolderResult()
    for i, (inp, out) in enumerate(plan):
        try:
            loaded = read_image(inp, max_pixels=max_pixels)
            pixels, alpha, d = degrade_image(loaded, opts, seed + i, annotate)
        except ImageReadError as e:
            _skip(res, progress, inp, f"uare: skipped {one_line(e)}")
            continue
        except ValueError as e:
            _skip(res, progress, inp, f"uare: skipped {inp}: cannot degrade this image ({one_line(e)})")
            continue
        d["input"], d["output"] = inp.name, out.name
        d["notes"] += write_image(out, pixels, alpha, overwrite=overwrite)
        res.records[inp.name] = d
        if progress is not None:
            progress.update(item=inp.name)
    if progress is not None:
        progress.close()
    if record_path:
        write_json_atomic(Path(record_path), res.records, overwrite=overwrite)
    return res


def _skip(res: FolderResult, progress: FolderProgress | None, inp: Path, msg: str) -> None:
    res.skipped.append(msg)
    if progress is not None:
        progress.write(msg)
        progress.update(item=inp.name)
