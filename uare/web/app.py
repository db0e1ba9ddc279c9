"""The Gradio page of ``uare demo``: Restore, Assess and Compare tabs around one loaded model.

Import this module only after :func:`uare.web.prepare_environment` (``uare demo`` does): Gradio reads
some settings (its upload folder, telemetry) from the environment when it is imported.

Before/after view: Gradio's ``ImageSlider`` where the installed Gradio has it (5.x and later);
with an older Gradio the input and the result are shown side by side instead.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from uare.errors import UareError
from uare.web.handlers import LEVEL_ORDER, TASKS, AssessView, DemoError, Handlers, Upload, load_upload

#: Every model call shares this queue group, so the server runs one model job at a time and queues the rest.
MODEL_QUEUE = "uare-model"
#: Restored images offered for download are kept this long, then swept.
OUTPUT_TTL_S = 3600
#: Requests that may wait for the model (beyond the one running): a person clicking quickly, or a script
#: sending 20 at once, is served in turn; beyond this Gradio answers "Queue is full" and the page says retry.
QUEUE_SIZE = 64

CSS = """
#uare-banner { background: #fff3cd; color: #664d03; border: 1px solid #ffda6a; border-radius: 6px;
               padding: 8px 14px; font-weight: 600; }
#uare-banner p { margin: 0; }
"""

INTRO = ("Upload an image: UARE scores its quality and describes what degrades it. **Restore** writes a "
         "four-part analysis (the plan) and restores the image while attending to it; edit the plan and "
         "press Restore again to steer the result. Everything runs on this server; nothing leaves it.")


def _supports(fn: Any, name: str) -> bool:
    return name in inspect.signature(fn).parameters


def _user_error(e: Exception) -> gr.Error:
    """A one-line message on the page, and one line (no traceback) in the server log."""
    msg = " ".join(str(e).split())
    print(f"uare demo: refused: {msg}", file=sys.stderr, flush=True)
    return gr.Error(msg, print_exception=False)


def _raw_upload(payload: Any) -> str | None:
    """The stored upload's path (or a pasted ``data:`` URL, as text), not decoded."""
    if payload is None:
        return None
    url = getattr(payload, "url", None)
    if isinstance(url, str) and url.startswith("data:"):
        return url
    path = getattr(payload, "path", None)
    return str(path) if path else None


def upload_image(**kw: Any) -> gr.Image:
    """A ``gr.Image`` input that hands the upload to uare undecoded.

    Gradio's own ``Image.preprocess`` opens every upload with Pillow before the event handler runs, so a
    non-image, a truncated file or a pixel bomb failed there with a blank "Error" and a traceback in the
    server log. This one passes the stored file's path (or a pasted ``data:`` URL) through, and
    :meth:`DemoApp._load` reads it with uare's reader: header checks first, one-line messages. (The
    instance's ``preprocess`` is replaced rather than subclassing: Gradio writes a ``.pyi`` stub next to
    the module of every Component subclass.)
    """
    comp = gr.Image(type="filepath", image_mode=None, **kw)
    comp.preprocess = _raw_upload  # type: ignore[method-assign]
    return comp


def _bars(view: AssessView | None) -> Any:
    import pandas as pd  # a Gradio dependency

    rows = view.level_probs if view is not None else [(lv, 0.0) for lv in LEVEL_ORDER]
    return pd.DataFrame({"level": [r[0] for r in rows], "probability": [round(r[1], 4) for r in rows]})


def _degradations_md(view: AssessView | None) -> str:
    if view is None:
        return ""
    if not view.degradations:
        return "**Degradations:** none found"
    return "**Degradations:**\n" + "\n".join(f"- {d}" for d in view.degradations)


class DemoApp:
    """Builds the page and owns the folder where restored images wait to be downloaded."""

    def __init__(self, handlers: Handlers, notice: str | None = None, upload_root: str | None = None,
                 output_dir: str | Path | None = None):
        from gradio.utils import get_upload_folder

        self.h = handlers
        self.notice = notice
        # Uploads are only ever read from Gradio's own upload folder (see handlers.load_upload).
        self.upload_root = upload_root or get_upload_folder()
        self.output_dir = Path(output_dir or tempfile.mkdtemp(prefix="uare-demo-out-"))
        self.output_dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ glue: uploads -> handlers
    def _load(self, path: str | None, what: str = "image") -> Upload:
        if path is not None and path.startswith("data:"):
            path = self._save_data_url(path, what)
        return load_upload(path, self.h.limits, self.upload_root, what)

    def _save_data_url(self, url: str, what: str) -> str:
        """A pasted ``data:`` image stored as the bytes it holds (size bounded), for uare's reader."""
        head, _, body = url.partition(",")
        limit = self.h.limits.max_upload_bytes
        if ";base64" not in head:
            raise DemoError(f"{what}: a pasted image must be base64 data; upload the file instead")
        if len(body) > limit * 4 // 3 + 4:
            raise DemoError(f"{what}: the pasted image is over {limit / 2**20:.0f} MB; upload a smaller image")
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise DemoError(f"{what}: the pasted data is not valid base64; upload the file instead") from None
        folder = Path(self.upload_root) / "pasted"
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / f"pasted-{uuid.uuid4().hex[:12]}"
        out.write_bytes(data)
        return str(out)

    def _save(self, rgb: np.ndarray, kind: str = "restored") -> str:
        """Write an image as a uniquely named PNG (the download, and what the slider shows); sweep old ones
        so the folder stays bounded.

        The slider gets files, not arrays: Gradio caches an array under the hash of its bytes and rewrites
        that file on every request, so two requests with the same result (the same image restored twice)
        raced, and one client read a truncated image. Files are copied into its cache atomically.
        """
        now = time.time()
        for old in self.output_dir.glob("*.png"):
            try:
                if now - old.stat().st_mtime > OUTPUT_TTL_S:
                    old.unlink()
            except OSError:
                pass
        out = self.output_dir / f"uare-{kind}-{uuid.uuid4().hex[:8]}.png"
        Image.fromarray(rgb).save(out)
        return str(out)

    def on_upload(self, path: str | None) -> tuple[Any, ...]:
        """New image in the Restore tab: assess it, clear the old plan and result."""
        if path is None:
            return "", _bars(None), "", "", "", None, None
        try:
            up = self._load(path)
            view = self.h.assess(up.pixels)
        except UareError as e:
            raise _user_error(e) from None
        summary = f"Quality {view.summary}" + (f" — {'; '.join(up.notes)}" if up.notes else "")
        return summary, _bars(view), _degradations_md(view), view.text, "", None, None

    def on_restore(self, path: str | None, plan: str, task: str, scale: Any, steps: Any, seed: Any,
                   assess: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        """Run a restoration, feeding the model's progress callback into Gradio's progress bar."""
        def report(stage: str, i: int, n: int) -> None:
            progress((i, n), desc={"denoise": "restoring", "tiles": "restoring tiles"}.get(stage, stage))

        try:
            up = self._load(path)
            wrote_plan = assess and not (plan or "").strip()
            progress(0.0, desc="writing the analysis" if wrote_plan else "starting")
            r = self.h.restore(up.pixels, plan=plan, task=task, scale=int(scale), steps=steps,
                               seed=int(seed if seed is not None else 0), assess=assess, progress=report)
        except (UareError, ValueError, TypeError) as e:
            raise _user_error(e) from None
        file = self._save(r.after)
        slider = (self._save(r.before, "input"), file)
        summary = gr.update() if r.assessment is None else f"Quality {r.assessment.summary}"
        bars = gr.update() if r.assessment is None else _bars(r.assessment)
        return slider, r.analysis, r.info, gr.update(value=file, visible=True), summary, bars

    def on_assess_many(self, paths: list[str] | None) -> tuple[list[list[Any]], str]:
        """Assess tab: one table row per readable image; unreadable ones are listed below the table."""
        if not paths:
            raise _user_error(DemoError("no images: upload one or more images first"))
        if len(paths) > self.h.limits.max_batch:
            raise _user_error(DemoError(f"{len(paths)} images; assess at most {self.h.limits.max_batch} at a time"))
        uploads, skipped = [], []
        for p in paths:
            try:
                uploads.append(self._load(p))
            except UareError as e:
                skipped.append(f"- skipped: {' '.join(str(e).split())}")
        rows = self.h.assess_many(uploads) if uploads else []
        return rows, "\n".join(skipped)

    def on_compare(self, a: str | None, b: str | None) -> tuple[str, str]:
        try:
            view = self.h.compare(self._load(a, "image A").pixels, self._load(b, "image B").pixels)
        except UareError as e:
            raise _user_error(e) from None
        return view.verdict, view.reasons

    # ------------------------------------------------------------------ the page
    def build(self) -> gr.Blocks:
        """The Blocks app (not launched). One model job at a time: every model event shares MODEL_QUEUE."""
        kw: dict[str, Any] = {"title": "UARE demo", "analytics_enabled": False}
        if not _supports(gr.Blocks.launch, "css"):  # older Gradio takes the CSS here, newer in launch()
            kw["css"] = CSS
        if _supports(gr.Blocks.__init__, "delete_cache"):
            kw["delete_cache"] = (OUTPUT_TTL_S, OUTPUT_TTL_S)
        queued = {"concurrency_limit": 1, "concurrency_id": MODEL_QUEUE}
        # UploadImage: Gradio keeps the upload undecoded, so uare's header checks and messages come first.
        image_in = {"sources": ["upload", "clipboard"]}
        with gr.Blocks(**kw) as demo:
            gr.Markdown("# UARE — image quality assessment and restoration")
            if self.notice:
                gr.Markdown(self.notice, elem_id="uare-banner")
            gr.Markdown(INTRO)
            with gr.Tabs():
                with gr.Tab("Restore", id="restore"), gr.Row(equal_height=False):
                    with gr.Column(scale=1):
                        src = upload_image(label="Input image", height=300, elem_id="restore-input", **image_in)
                        summary = gr.Markdown(elem_id="restore-score")
                        bars = gr.BarPlot(_bars(None), x="level", y="probability", sort=list(LEVEL_ORDER),
                                          y_lim=[0, 1], label="Quality level probabilities", height=180,
                                          elem_id="restore-levels")
                        degr = gr.Markdown(elem_id="restore-degradations")
                        desc = gr.Textbox(label="Description (the model's words)", lines=2, interactive=False)
                    with gr.Column(scale=1):
                        plan = gr.Textbox(
                            label="Plan: the four-part analysis (editable)", lines=8, max_lines=16,
                            elem_id="restore-plan",
                            placeholder="Empty: the model writes the analysis when you press Restore. "
                            "Edit it and press Restore again to re-use your plan.")
                        with gr.Row():
                            task = gr.Dropdown(list(TASKS), value="auto", label="Task")
                            scale = gr.Radio([1, 2, 4], value=1, label="Scale")
                        with gr.Row():
                            steps = gr.Number(value=0, precision=0, minimum=0, maximum=100,
                                              label="Steps (0 = model default)")
                            seed = gr.Number(value=0, precision=0, minimum=0, label="Seed")
                        assess = gr.Checkbox(value=True, label="Assess first (write the analysis)")
                        with gr.Row():
                            run = gr.Button("Restore", variant="primary", elem_id="restore-run")
                            clear_plan = gr.Button("Clear plan")
                    with gr.Column(scale=1):
                        if hasattr(gr, "ImageSlider"):
                            result: Any = gr.ImageSlider(label="Before / after", type="numpy", height=360,
                                                         elem_id="restore-result")
                            outputs_img = [result]
                        else:  # documented fallback for old Gradio: two plain images
                            before = gr.Image(label="Before", interactive=False)
                            result = gr.Image(label="After", interactive=False, elem_id="restore-result")
                            outputs_img = [before, result]
                        info = gr.Markdown(elem_id="restore-info")
                        download = gr.DownloadButton("Download restored PNG", visible=False,
                                                     elem_id="restore-download")
                with gr.Tab("Assess", id="assess"):
                    files = gr.File(label="Images", file_count="multiple", file_types=["image"], type="filepath")
                    go = gr.Button("Assess", variant="primary")
                    table = gr.Dataframe(headers=["file", "score", "level", "degradations"],
                                         datatype=["str", "number", "str", "str"], interactive=False,
                                         label="Results (click a column header to sort)")
                    skipped = gr.Markdown()
                with gr.Tab("Compare", id="compare"):
                    with gr.Row():
                        a = upload_image(label="Image A", height=280, **image_in)
                        b = upload_image(label="Image B", height=280, **image_in)
                    cmp_btn = gr.Button("Compare", variant="primary")
                    verdict = gr.Markdown()
                    reasons = gr.Textbox(label="Why (the model's words)", lines=3, interactive=False)

            src.upload(self.on_upload, [src], [summary, bars, degr, desc, plan, outputs_img[-1], info], **queued)
            src.clear(lambda: ("", _bars(None), "", "", "", None, ""), None,
                      [summary, bars, degr, desc, plan, outputs_img[-1], info], queue=False)
            restore_fn = self.on_restore
            if len(outputs_img) == 2:
                def restore_fn(*args: Any, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
                    out = self.on_restore(*args, progress=progress)
                    return (*out[0], *out[1:])
            run.click(restore_fn, [src, plan, task, scale, steps, seed, assess],
                      [*outputs_img, plan, info, download, summary, bars], **queued)
            clear_plan.click(lambda: "", None, [plan], queue=False)
            go.click(self.on_assess_many, [files], [table, skipped], **queued)
            cmp_btn.click(self.on_compare, [a, b], [verdict, reasons], **queued)
        # A bounded queue: one job runs, QUEUE_SIZE wait their turn, the rest are told the server is busy.
        demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
        return demo


def launch_kwargs(host: str, port: int, max_upload_bytes: int) -> dict[str, Any]:
    """Arguments for ``Blocks.launch``: local only unless told, no share link, no extra file access."""
    kw: dict[str, Any] = {"server_name": host, "server_port": port, "share": False, "inbrowser": False,
                          "show_error": False, "max_file_size": max_upload_bytes, "quiet": False}
    optional = {"ssr_mode": False, "mcp_server": False, "css": CSS, "enable_monitoring": False}
    kw.update({k: v for k, v in optional.items() if _supports(gr.Blocks.launch, k)})
    return kw
