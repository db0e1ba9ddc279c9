"""``uare demo``: start the local web demo (needs the ``web`` extra)."""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import ipaddress
import shutil
import signal
import sys
import warnings
from pathlib import Path
from typing import Any

from uare.errors import UareError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860

DEMO_EPILOG = """\
safety:
  the demo listens on 127.0.0.1 (this machine only) unless --host says otherwise; it has no
  login, so only use --host 0.0.0.0 on a network you trust. Uploads larger than --max-upload-mb
  or --max-pixels are refused by the server before they are decoded; the page never reads files
  of this machine; one model job runs at a time and the others wait in a queue.
"""

RANDOM_NOTICE = ("⚠ This demo runs a RANDOM model: {why}. Its scores, texts and images are meaningless; "
                 "they only show how the demo works. Start it with `uare demo --model DIR` to use a trained "
                 "checkpoint.")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``uare demo``."""
    from uare.web.handlers import DEFAULT_DEMO_MAX_PIXELS, DEFAULT_MAX_UPLOAD_BYTES

    p = sub.add_parser("demo", help="start the interactive web demo (needs: pip install \"uare[web]\")",
                       description="Start a local web demo: restore, assess and compare images in the browser.",
                       epilog=DEMO_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default: {DEFAULT_HOST}, this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    p.add_argument("--model", metavar="DIR", default=None,
                   help="checkpoint folder (default: the shipped uare-tiny; a random model until weights ship)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default: cpu)")
    p.add_argument("--dtype", default="fp32", choices=("fp32", "bf16", "fp16"), help="weights dtype (default: fp32)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_DEMO_MAX_PIXELS, metavar="N",
                   help=f"refuse larger images, width*height (default: {DEFAULT_DEMO_MAX_PIXELS:,})")
    p.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_BYTES / 2**20, metavar="MB",
                   help=f"refuse larger uploads (default: {DEFAULT_MAX_UPLOAD_BYTES / 2**20:.0f})")
    p.set_defaults(func=cmd_demo)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def random_reason(model: Any) -> str | None:
    """Why the model is random (for the page's banner), or ``None`` for trained weights.

    ``uare init-random`` checkpoints carry ``random_seed`` in their safetensors metadata; the header is
    read without loading any tensor.
    """
    if getattr(model, "is_random", False):
        return "no trained weights are shipped with this version"
    folder = getattr(getattr(model, "ck", None), "path", None)
    if folder is None:
        return None
    from safetensors import safe_open

    for name in ("model.safetensors", "ema.safetensors"):
        f = Path(folder) / name
        if f.is_file():
            try:
                with safe_open(str(f), framework="pt") as st:
                    meta = st.metadata() or {}
            except Exception:  # noqa: BLE001 - an unreadable header just means no banner
                return None
            if "random_seed" in meta:
                return f"{Path(folder).name} was made by `uare init-random` (seed {meta['random_seed']})"
    return None


def cmd_demo(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("gradio") is None:
        raise UareError('the web demo needs Gradio, which is not installed; run: pip install "uare[web]"')
    if not 1 <= args.port <= 65535:
        raise UareError(f"--port must be between 1 and 65535, got {args.port}")
    if args.max_pixels < 256:
        raise UareError(f"--max-pixels must be at least 256 (16x16), got {args.max_pixels}")
    if args.max_upload_mb <= 0:
        raise UareError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    if not is_loopback(args.host):
        print(f"uare: warning: --host {args.host} makes the demo reachable from other machines; it has no "
              "login: use it only on a network you trust", file=sys.stderr)

    from uare.web import prepare_environment

    workdir = prepare_environment()  # before Gradio is imported
    # Uploads and results do not outlive the demo: removed on return, Ctrl+C, SIGTERM (turned into the
    # same clean stop as Ctrl+C) and, as a last resort, at interpreter exit.
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return _serve(args, workdir)
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(workdir, ignore_errors=True)


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # Gradio's launch() stops its server on it; cmd_demo then removes the uploads


def _serve(args: argparse.Namespace, workdir: Path) -> int:
    from uare.infer import UARE
    from uare.web.app import DemoApp, launch_kwargs
    from uare.web.handlers import Handlers, Limits

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = UARE.from_pretrained(args.model, device=args.device, dtype=args.dtype)
    for w in caught:
        if issubclass(w.category, UserWarning):
            print(f"uare: warning: {w.message}", file=sys.stderr)
    limits = Limits(max_pixels=args.max_pixels, max_upload_bytes=int(args.max_upload_mb * 2**20))
    # Defence in depth for images Gradio decodes itself (e.g. pasted data: URLs): Pillow refuses
    # anything over twice this many pixels in this process (uploads are checked exactly, from the header).
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    why = random_reason(model)
    app = DemoApp(Handlers(model, limits), notice=RANDOM_NOTICE.format(why=why) if why else None,
                  upload_root=str(workdir / "uploads"), output_dir=workdir / "out")
    demo = app.build()
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"uare demo: http://{shown}:{args.port}  (Ctrl+C to stop)", file=sys.stderr)
    try:
        demo.launch(**launch_kwargs(args.host, args.port, limits.max_upload_bytes))
    except OSError as e:
        raise UareError(f"cannot start the server on {args.host}:{args.port} ({e}); choose another --port") from None
    except KeyboardInterrupt:
        pass
    finally:
        demo.close()
    return 0
