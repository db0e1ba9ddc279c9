"""What the demo's buttons do, as plain Python: arrays in, the values the page shows out.

Nothing here imports Gradio, so every handler is unit-tested without a server or a browser. The
Gradio layer (:mod:`uare.web.app`) only turns uploads into arrays with :func:`load_upload`, calls
these functions and turns :class:`DemoError` into a message on the page.

Safety rules kept here rather than in the page, because a client can bypass the page:

- uploads are read from the server's own upload folder only (never a path chosen by the client),
  their byte size and pixel count are checked from the file header *before* any pixel is decoded;
- arrays are checked again (shape, dtype, pixel count) before the model sees them, and so is the
  size of a super-resolved output;
- the model only ever receives numpy arrays, never a path.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from uare.errors import ImageReadError, UareError
from uare.io import read_image, to_uint8
from uare.limits import MAX_STEPS
from uare.quality import LEVELS
from uare.tasks import RESTORE_TASKS

#: Default largest image accepted by the demo (width * height): 4 megapixels keeps a CPU demo responsive.
DEFAULT_DEMO_MAX_PIXELS = 4_000_000
#: Default largest upload in bytes.
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: Most files one "Assess" request may hold.
MAX_BATCH = 32
TASKS: tuple[str, ...] = RESTORE_TASKS
LEVEL_ORDER: tuple[str, ...] = tuple(LEVELS)  # worst first
MAX_PLAN_CHARS = 4000

ProgressFn = Callable[[str, int, int], None]


class DemoError(UareError):
    """A problem the person using the demo can fix; its message is shown on the page as is."""


@dataclass(frozen=True)
class Limits:
    """Server-side limits applied to every request, whatever the page allows."""

    max_pixels: int = DEFAULT_DEMO_MAX_PIXELS
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_batch: int = MAX_BATCH


@dataclass
class AssessView:
    """The Restore tab's "analysis" panel: score, level bars, degradations and the model's words."""

    score: float
    level: str
    level_probs: list[tuple[str, float]]  # in level order, worst first, for the bar chart
    degradations: list[str]  # one readable line each, e.g. "noise: moderate (Gaussian)"
    text: str
    summary: str  # one Markdown line: "**2.82 / 5** (fair)"


@dataclass
class RestoreView:
    """Everything the Restore tab shows after a run."""

    before: np.ndarray  # HxWx3 uint8, resized like the output so the slider lines up
    after: np.ndarray  # HxWx3 uint8
    analysis: str  # the plan used (written by the model, or the user's edited one); "" if none
    assessment: AssessView | None
    info: str  # one Markdown line: task, scale, steps, seed, time, notes


@dataclass
class CompareView:
    """The Compare tab: the verdict line and the model's reasons."""

    verdict: str
    preferred: str  # "first" or "second"
    probability: float
    reasons: str


@dataclass
class Upload:
    """A decoded upload: the RGB pixels, the name the person gave the file, and conversions made."""

    name: str
    pixels: np.ndarray
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------- input checks
def _fmt_px(n: int) -> str:
    return f"{n / 1e6:.1f} megapixels" if n >= 1_000_000 else f"{n:,} pixels"


def check_image(image: Any, limits: Limits, what: str = "image") -> np.ndarray:
    """Validate an array from the page: HxW / HxWx1 / HxWx3 / HxWx4, uint8 or uint16, within limits.

    Returns HxWx3 uint8 (gray replicated, alpha dropped, 16-bit rounded), which is what the page shows.
    """
    if image is None:
        raise DemoError(f"no {what}: upload an image first")
    if not isinstance(image, np.ndarray):
        # Paths or other objects from a client are refused: the demo never reads a file it did not receive.
        raise DemoError(f"{what}: expected image pixels, got {type(image).__name__}")
    arr = image
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise DemoError(f"{what}: unsupported image shape {tuple(image.shape)}; use a gray, RGB or RGBA image")
    h, w = arr.shape[:2]
    if h * w > limits.max_pixels:
        raise DemoError(f"{what} is {w}x{h} = {_fmt_px(h * w)}; this demo accepts at most "
                        f"{_fmt_px(limits.max_pixels)} (restart it with a larger --max-pixels to allow more)")
    if arr.dtype == np.uint16:
        arr = to_uint8(arr)
    elif arr.dtype != np.uint8:
        raise DemoError(f"{what}: unsupported pixel type {arr.dtype}; use 8- or 16-bit images")
    if min(h, w) < 16:
        raise DemoError(f"{what} is {w}x{h}; the model needs at least 16x16 pixels")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3])


def load_upload(path: str | os.PathLike[str] | None, limits: Limits, upload_root: str | os.PathLike[str] | None,
                what: str = "image") -> Upload:
    """Decode one file that the server received, after checking where it is, its size and its header.

    ``upload_root`` is the folder the web server stores uploads in; a path outside it is refused, so
    a crafted request cannot make the demo read other files of the machine (defence in depth: Gradio
    refuses such paths too). The pixel count is checked from the header before decoding.
    """
    if path is None:
        raise DemoError(f"no {what}: upload an image first")
    p = Path(path)
    name = p.name
    if upload_root is not None:
        root = Path(upload_root).resolve()
        try:
            p.resolve().relative_to(root)
        except ValueError:
            raise DemoError(f"{what}: refused, not an uploaded file") from None
    try:
        size = p.stat().st_size
    except OSError:
        raise DemoError(f"{what}: the upload is gone; upload the image again") from None
    if size > limits.max_upload_bytes:
        raise DemoError(f"{name} is {size / 2**20:.1f} MB; this demo accepts uploads of at most "
                        f"{limits.max_upload_bytes / 2**20:.0f} MB")
    try:
        loaded = read_image(p, max_pixels=limits.max_pixels)
    except ImageReadError as e:
        # read_image names the server-side path; show the person's file name instead.
        msg = str(e).replace(str(p), name)
        if "pixel" in msg and "limit" in msg:  # the CLI's advice, as it applies to the demo
            hint = "restart the demo with a larger --max-pixels to allow more"
            msg = msg.replace("pass --max-pixels N if you trust this file", hint)
            msg += "" if hint in msg else f" ({hint})"
        raise DemoError(msg) from None
    notes = list(loaded.notes)
    pixels = loaded.pixels
    if loaded.alpha is not None:
        notes.append("transparency ignored")
    if pixels.dtype == np.uint16:
        notes.append("16-bit image shown and processed as 8-bit")
    return Upload(name, check_image(pixels, limits, name), notes)


# ------------------------------------------------------------------------------------- handlers
def _degradation_line(d: dict[str, str]) -> str:
    line = f"{d.get('type', '?')}: {d.get('severity', '?')}"
    return line + (f" ({d['kind']})" if d.get("kind") else "")


def assess_view(assessment: Any) -> AssessView:
    """Turn an :class:`~uare.infer.outputs.Assessment` into what the page shows."""
    probs = [(lv, float(assessment.level_probs.get(lv, 0.0))) for lv in LEVEL_ORDER]
    degr = [_degradation_line(d) for d in assessment.degradations]
    summary = f"**{assessment.score:.2f} / 5** ({assessment.level})"
    return AssessView(float(assessment.score), assessment.level, probs, degr, assessment.text, summary)


class Handlers:
    """The demo's actions around one loaded model; a lock keeps model calls one at a time.

    The Gradio queue already runs one job at a time; the lock makes that true for any other caller.
    """

    def __init__(self, model: Any, limits: Limits | None = None):
        self.model = model
        self.limits = limits or Limits()
        self._lock = threading.Lock()

    def assess(self, image: np.ndarray | None) -> AssessView:
        """Score and describe one image (shown when an image is uploaded to the Restore tab)."""
        rgb = check_image(image, self.limits)
        with self._lock:
            return assess_view(self.model.assess(rgb, describe=True, max_pixels=self.limits.max_pixels))

    def restore(self, image: np.ndarray | None, plan: str | None = None, task: str = "auto", scale: int = 1,
                steps: int | None = None, seed: int = 0, assess: bool = True,
                progress: ProgressFn | None = None) -> RestoreView:
        """Restore one image. A non-empty ``plan`` is used as the analysis (``analysis=``), so an
        edited plan steers the restoration; an empty one lets the model write it when ``assess``."""
        rgb = check_image(image, self.limits)
        if task not in TASKS:
            raise DemoError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
        scale = int(scale)
        if scale not in (1, 2, 4):
            raise DemoError(f"scale must be 1, 2 or 4, got {scale}")
        h, w = rgb.shape[:2]
        if h * w * scale * scale > self.limits.max_pixels:
            raise DemoError(f"a x{scale} output would be {w * scale}x{h * scale} = {_fmt_px(h * w * scale * scale)}, "
                            f"over this demo's {_fmt_px(self.limits.max_pixels)} limit; choose a smaller scale")
        steps = None if steps in (None, 0, "") else int(steps)  # 0 / empty: the model's default
        if steps is not None and not 1 <= steps <= MAX_STEPS:
            raise DemoError(f"steps must be between 1 and {MAX_STEPS} (0 = the model's default), got {steps}")
        seed = int(seed)
        if seed < 0:
            raise DemoError(f"seed must be >= 0, got {seed}")
        plan = (plan or "").strip() or None
        if plan is not None and len(plan) > MAX_PLAN_CHARS:
            raise DemoError(f"the plan is {len(plan)} characters; keep it under {MAX_PLAN_CHARS}")
        with self._lock:
            r = self.model.restore(rgb, task=task, scale=scale, assess=bool(assess), analysis=plan, steps=steps,
                                   seed=seed, max_pixels=self.limits.max_pixels, progress=progress)
        after = check_image(r.image, Limits(max_pixels=2**62), "restored image")
        before = rgb
        if scale != 1:
            # Nearest-neighbour keeps the input's pixels visible in the before/after slider.
            before = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
        info = (f"task **{r.task}**, x{r.scale}, {r.steps} steps, seed {r.seed}, "
                f"{after.shape[1]}x{after.shape[0]} px, {r.seconds:.1f} s")
        if r.tiles > 1:
            info += f", {r.tiles} tiles"
        if r.unchanged:
            info = f"**unchanged: {r.unchanged}** — " + info
        if r.notes:
            info += " — " + "; ".join(r.notes)
        view = assess_view(r.assessment_before) if r.assessment_before is not None else None
        return RestoreView(before, after, r.analysis or "", view, info)

    def assess_many(self, uploads: Sequence[Upload]) -> list[list[Any]]:
        """Rows ``[file, score, level, degradations]`` for the Assess tab's table (input order)."""
        if not uploads:
            raise DemoError("no images: upload one or more images first")
        if len(uploads) > self.limits.max_batch:
            raise DemoError(f"{len(uploads)} images; assess at most {self.limits.max_batch} at a time")
        rows: list[list[Any]] = []
        for up in uploads:
            v = self.assess(up.pixels)
            rows.append([up.name, round(v.score, 2), v.level, "; ".join(v.degradations) or "none found"])
        return rows

    def compare(self, a: np.ndarray | None, b: np.ndarray | None) -> CompareView:
        """Which of two images is better, with what probability and why."""
        ra = check_image(a, self.limits, "image A")
        rb = check_image(b, self.limits, "image B")
        with self._lock:
            c = self.model.compare(ra, rb, max_pixels=self.limits.max_pixels)
        name = "A (first)" if c.preferred == "first" else "B (second)"
        verdict = f"**Image {name} is better** — probability {c.probability:.2f}"
        return CompareView(verdict, c.preferred, float(c.probability), c.text)
