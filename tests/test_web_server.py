"""``uare demo`` as a server, driven through Gradio's own client (no browser): bad uploads in every tab
get uare's one-line message (not Gradio's blank "Error"), the server log has one line per user error and
no traceback, 20 concurrent restorations are all served, and SIGTERM leaves no uploads behind."""

from __future__ import annotations

import signal
import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from demo_helpers import running_demo, write_micro_model
from PIL import Image

pytest.importorskip("gradio", reason="the web extra is not installed (pip install \"uare[web]\")")
gradio_client = pytest.importorskip("gradio_client")


def _png_claiming(w: int, h: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))


class Server:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path, tmp: Path):
        self.proc, self.url, self.log, self.tmp = proc, url, log, tmp


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("demo_server")
    ck = write_micro_model(root / "micro", {"steps": 1, "max_analysis_tokens": 8, "max_description_tokens": 8,
                                            "max_compare_tokens": 8})
    tmp = root / "tmp"  # the demo's private folder is made here, so the test can see it go
    tmp.mkdir()
    with running_demo(ck, root, ("--threads", "1"), {"TMPDIR": str(tmp)}) as (proc, url, log):
        yield Server(proc, url, log, tmp)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("uploads_src")
    out = {"notimg": d / "notes.png", "bomb": d / "bomb.png", "good": d / "good.png"}
    out["notimg"].write_text("hello, not an image")
    out["bomb"].write_bytes(_png_claiming(60_000, 60_000))
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(out["good"])
    return out


EXPECTED = {"notimg": "notes.png: not an image", "bomb": "bomb.png: image is 3,600,000,000 pixels, over the"}


def test_bad_uploads_get_uares_message_in_every_tab(server: Server, files: dict[str, Path]) -> None:
    from gradio_client import Client, handle_file

    c = Client(server.url, verbose=False)
    good = handle_file(str(files["good"]))
    calls = {
        "/on_upload": lambda f: c.predict(f, api_name="/on_upload"),
        "/on_restore": lambda f: c.predict(f, "", "auto", 1, 0, 0, True, api_name="/on_restore"),
        "/on_compare": lambda f: c.predict(good, f, api_name="/on_compare"),
    }
    for endpoint, call in calls.items():
        for kind, message in EXPECTED.items():
            with pytest.raises(Exception, match=message) as err:  # noqa: PT011 - the client's AppError
                call(handle_file(str(files[kind])))
            assert "\n" not in str(err.value).strip(), (endpoint, kind)
    log = server.log.read_text()
    refusals = [ln for ln in log.splitlines() if ln.startswith("uare demo: refused:")]
    assert len(refusals) == 6 and "Traceback" not in log
    assert "(restart the demo with a larger --max-pixels" not in log  # the CLI hint is replaced, not doubled
    assert "restart the demo with a larger --max-pixels to allow more" in log


def test_twenty_concurrent_restorations_are_all_served(server: Server, files: dict[str, Path]) -> None:
    from gradio_client import Client, handle_file

    c = Client(server.url, verbose=False)
    jobs = [c.submit(handle_file(str(files["good"])), "", "auto", 1, 0, i, False, api_name="/on_restore")
            for i in range(20)]
    results = [j.result(timeout=300) for j in jobs]
    assert len(results) == 20 and all(r[0] is not None for r in results)


def test_sigterm_stops_the_demo_and_removes_its_uploads(server: Server) -> None:
    folders = list(server.tmp.glob("uare-demo-*"))
    assert len(folders) == 1 and any((folders[0] / "uploads").iterdir())  # the tests above uploaded files
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=30) == 0
    assert not folders[0].exists(), "uploads outlived the demo"
