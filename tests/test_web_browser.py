"""End to end: ``uare demo`` in a subprocess, driven by headless Chromium through Playwright.

Uploads a (degraded) photo, checks the assessment appears, runs a restoration, checks that the result
image, the analysis text and the download button appear, that the page made no request off this
machine, and saves the screenshot docs/demo.png. Skipped, with the reason, where Chromium, Gradio or
Playwright is missing; Playwright drives Debian's /usr/bin/chromium (no `playwright install`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from demo_helpers import running_demo, write_micro_model
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("UARE_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT = REPO / "docs" / "demo.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                       reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium; see .ci/run)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("gradio", reason="the web extra is not installed (pip install \"uare[web]\")")
    root = tmp_path_factory.mktemp("demo")
    ck = write_micro_model(root / "micro", {"steps": 2, "max_analysis_tokens": 24, "max_description_tokens": 16,
                                            "max_compare_tokens": 16})
    with running_demo(ck, root, timeout=60) as (_, url, _):
        yield url


def _photo(path: Path) -> Path:
    """The example photo, degraded so the demo has something to find, at a size that keeps the test fast."""
    from uare.degrade import degrade

    im = Image.open(REPO / "examples" / "coffee.png").convert("RGB").resize((240, 160), Image.LANCZOS)
    out, _ = degrade(np.asarray(im), "multi", ["noise", "blur"], severity=3, seed=0)
    Image.fromarray(out).save(path)
    return path


def test_restore_in_the_browser(server: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (see .ci/run)")
    image = _photo(tmp_path / "coffee_degraded.png")
    off_machine: list[str] = []
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1500, "height": 1050}, timeout=30_000)
        try:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.set_default_timeout(30_000)
            # The page must work offline: no fonts, scripts or telemetry from anywhere but this server.
            page.on("request", lambda r: off_machine.append(r.url)
                    if urlparse(r.url).hostname not in ("127.0.0.1", "localhost", None) else None)
            page.goto(server, wait_until="domcontentloaded")
            banner = page.locator("#uare-banner")
            banner.wait_for()
            assert "RANDOM model" in banner.inner_text()

            page.locator("#restore-input input[type=file]").set_input_files(str(image))
            page.locator("#restore-score").get_by_text("Quality").wait_for()
            assert "/ 5" in page.locator("#restore-score").inner_text()

            page.locator("#restore-run").click()
            page.locator("#restore-download").wait_for(state="visible", timeout=45_000)
            info = page.locator("#restore-info").inner_text()
            assert "task auto" in info and "240x160" in info
            result = page.locator("#restore-result img")
            assert result.count() >= 1 and result.first.is_visible()
            plan = page.locator("#restore-plan textarea").input_value()
            assert plan.strip(), "the analysis written by the model should fill the plan box"
            assert not off_machine, f"the page requested addresses off this machine: {off_machine[:5]}"

            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shot = tmp_path / "demo.png"
            page.screenshot(path=str(shot), full_page=True)
            shutil.copyfile(shot, SCREENSHOT)  # written whole: a failed test never leaves half a file
        finally:
            ctx.close()
