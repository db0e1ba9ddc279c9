"""``uare demo``: a local web page (Gradio) for assessing, comparing and restoring images.

Needs the ``web`` extra (``pip install "uare[web]"``). The handlers in :mod:`uare.web.handlers` are
plain Python and importable without Gradio; :mod:`uare.web.app` builds the page.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def prepare_environment(workdir: str | os.PathLike[str] | None = None) -> Path:
    """Set Gradio's environment before it is imported: no telemetry, a private upload folder.

    Returns the private working folder (uploads under ``uploads/``, results under ``out/``). A fresh
    folder per demo process means uploads of one run are never served by another.
    """
    root = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="uare-demo-"))
    (root / "uploads").mkdir(parents=True, exist_ok=True)
    (root / "out").mkdir(parents=True, exist_ok=True)
    # Telemetry and update checks off: the demo must work (and stay quiet) on a machine without internet.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["GRADIO_TEMP_DIR"] = str(root / "uploads")
    os.environ.setdefault("GRADIO_SSR_MODE", "False")
    return root
