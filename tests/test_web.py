"""The web demo without a server: handlers on arrays, upload checks, the CLI entry and the page's wiring."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from PIL import Image

from uare import cli
from uare.cli_demo import is_loopback, random_reason
from uare.infer.outputs import Assessment, Comparison, Restoration
from uare.web.handlers import (
    LEVEL_ORDER,
    DemoError,
    Handlers,
    Limits,
    Upload,
    check_image,
    load_upload,
)


def picture(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


class FakeModel:
    """Records what the handlers pass to the model and answers like :class:`uare.infer.UARE`."""

    is_random = False

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def assess(self, image: np.ndarray, describe: bool = True, max_pixels: int | None = None) -> Assessment:
        self.calls.append(("assess", {"image": image, "max_pixels": max_pixels}))
        probs = {"bad": 0.1, "poor": 0.2, "fair": 0.4, "good": 0.2, "excellent": 0.1}
        return Assessment(3.0, "fair", probs, [{"type": "noise", "severity": "moderate", "kind": "Gaussian"}],
                          "A fair image with moderate Gaussian noise.")

    def restore(self, image: np.ndarray, **kw: Any) -> Restoration:
        self.calls.append(("restore", {"image": image, **kw}))
        if kw.get("progress"):
            kw["progress"]("denoise", 1, 2)
            kw["progress"]("denoise", 2, 2)
        s = kw["scale"]
        out = np.repeat(np.repeat(image, s, axis=0), s, axis=1)[:, :, ::-1].copy()
        analysis = kw["analysis"] if kw["analysis"] is not None else ("User intent: restore." if kw["assess"] else None)
        before = self.assess(image) if kw["assess"] and kw["analysis"] is None else None
        return Restoration(out, analysis, before, kw["task"], s, kw["steps"] or 8, kw["seed"], 1, 0.5, [])

    def compare(self, a: np.ndarray, b: np.ndarray, max_pixels: int | None = None) -> Comparison:
        self.calls.append(("compare", {"a": a, "b": b}))
        return Comparison("second", 0.73, "The second image is sharper.")


@pytest.fixture()
def fake() -> FakeModel:
    return FakeModel()


@pytest.fixture()
def handlers(fake: FakeModel) -> Handlers:
    return Handlers(fake, Limits(max_pixels=20_000, max_upload_bytes=200_000, max_batch=3))


@pytest.fixture(scope="module")
def micro_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from uare.model.config import micro
    from uare.model.random_init import init_random
    from uare.model.tokenizer import train_quality_tokenizer

    tok = train_quality_tokenizer(vocab_size=600, n_samples=1500, seed=0)
    out = tmp_path_factory.mktemp("ck") / "micro"
    init_random(out, micro(vocab_size=tok.vocab_size), fmt="uare", seed=0, tokenizer=tok)
    (out / "inference.json").write_text(json.dumps({"steps": 2, "max_analysis_tokens": 24,
                                                    "max_description_tokens": 16, "max_compare_tokens": 16}))
    return out


@pytest.fixture(scope="module")
def micro_model(micro_dir: Path) -> Any:
    from uare.infer import UARE

    return UARE.from_pretrained(micro_dir)


# ------------------------------------------------------------------------------ array checks
def test_check_image_converts_to_rgb_uint8() -> None:
    lim = Limits(max_pixels=10_000)
    gray = picture()[:, :, 0]
    out = check_image(gray, lim)
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8 and np.array_equal(out[:, :, 1], gray)
    rgba = np.concatenate([picture(), np.full((48, 64, 1), 9, np.uint8)], axis=2)
    assert check_image(rgba, lim).shape == (48, 64, 3)
    deep = picture().astype(np.uint16) * 257
    assert np.array_equal(check_image(deep, lim), picture())


@pytest.mark.parametrize(("image", "message"), [
    (None, "upload an image first"),
    ("/etc/passwd", "expected image pixels, got str"),
    (np.zeros((20, 20, 2), np.uint8), "unsupported image shape"),
    (np.zeros((20, 20, 3), np.float32), "unsupported pixel type float32"),
    (np.zeros((8, 40, 3), np.uint8), "at least 16x16"),
    (np.zeros((200, 100, 3), np.uint8), "at most 10,000 pixels"),
])
def test_check_image_refuses_bad_input(image: Any, message: str) -> None:
    with pytest.raises(DemoError, match=message):
        check_image(image, Limits(max_pixels=10_000))


# ------------------------------------------------------------------------------ uploads
def _png_header_only(path: Path, w: int, h: int) -> Path:
    """A PNG whose header claims w x h but holds no pixel data: only a header check can judge it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)  # a few bytes: decoding it would fail as truncated, not as too large
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def test_load_upload_reads_a_good_file(tmp_path: Path) -> None:
    p = tmp_path / "photo.png"
    Image.fromarray(picture()).save(p)
    up = load_upload(p, Limits(), tmp_path)
    assert up.name == "photo.png" and up.pixels.shape == (48, 64, 3) and np.array_equal(up.pixels, picture())
    p16 = tmp_path / "deep.png"
    Image.fromarray(picture()[:, :, 0].astype(np.uint16) * 257).save(p16)
    up = load_upload(p16, Limits(), tmp_path)
    assert up.pixels.dtype == np.uint8 and up.pixels.shape == (48, 64, 3)


def test_load_upload_refuses_paths_outside_the_upload_folder(tmp_path: Path) -> None:
    (tmp_path / "uploads").mkdir()
    outside = tmp_path / "secret.png"
    Image.fromarray(picture()).save(outside)
    with pytest.raises(DemoError, match="not an uploaded file"):
        load_upload(outside, Limits(), tmp_path / "uploads")
    with pytest.raises(DemoError, match="not an uploaded file"):
        load_upload(tmp_path / "uploads" / ".." / "secret.png", Limits(), tmp_path / "uploads")
    with pytest.raises(DemoError, match="upload an image first"):
        load_upload(None, Limits(), tmp_path)


def test_load_upload_checks_pixels_from_the_header_before_decoding(tmp_path: Path) -> None:
    bomb = _png_header_only(tmp_path / "bomb.png", 50_000, 50_000)
    with pytest.raises(DemoError) as e:
        load_upload(bomb, Limits(max_pixels=4_000_000), tmp_path)
    msg = str(e.value)
    assert "bomb.png" in msg and str(tmp_path) not in msg  # the person's file name, not the server path
    assert "--max-pixels" in msg and "\n" not in msg


def test_load_upload_limits_bytes_and_names_bad_files(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.fromarray(picture(256, 256)).save(big)
    with pytest.raises(DemoError, match=r"big.png is 0\.\d MB; this demo accepts uploads of at most"):
        load_upload(big, Limits(max_upload_bytes=1000), tmp_path)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(DemoError) as e:
        load_upload(text, Limits(), tmp_path)
    assert "notes.png" in str(e.value) and str(tmp_path) not in str(e.value)


# ------------------------------------------------------------------------------ handlers (fake model)
def test_assess_view_has_every_level_in_order(handlers: Handlers) -> None:
    v = handlers.assess(picture())
    assert [lv for lv, _ in v.level_probs] == list(LEVEL_ORDER)
    assert v.summary == "**3.00 / 5** (fair)" and v.degradations == ["noise: moderate (Gaussian)"]
    assert v.text.startswith("A fair image")


def test_restore_passes_the_edited_plan_and_settings(handlers: Handlers, fake: FakeModel) -> None:
    seen: list[tuple[str, int, int]] = []
    r = handlers.restore(picture(), plan="  my own plan  ", task="denoise", scale=1, steps=0, seed=3,
                         assess=True, progress=lambda *a: seen.append(a))
    kw = fake.calls[-1][1]
    assert kw["analysis"] == "my own plan" and kw["steps"] is None and kw["seed"] == 3 and kw["task"] == "denoise"
    assert r.analysis == "my own plan" and r.assessment is None
    assert seen == [("denoise", 1, 2), ("denoise", 2, 2)]
    assert r.before.shape == r.after.shape == (48, 64, 3) and "task **denoise**" in r.info


def test_restore_writes_the_plan_and_upsizes_before_for_the_slider(handlers: Handlers, fake: FakeModel) -> None:
    r = handlers.restore(picture(40, 60), plan="", scale=2, steps=4, assess=True)
    restores = [kw for name, kw in fake.calls if name == "restore"]
    assert restores[-1]["analysis"] is None  # empty plan: the model writes it
    assert r.analysis.startswith("User intent") and r.assessment is not None
    assert r.before.shape == r.after.shape == (80, 120, 3)
    r = handlers.restore(picture(), assess=False)
    assert r.analysis == "" and r.assessment is None


@pytest.mark.parametrize(("kw", "message"), [
    ({"task": "paint"}, "unknown task 'paint'"),
    ({"scale": 3}, "scale must be 1, 2 or 4"),
    ({"scale": 4}, "a x4 output would be 256x192"),
    ({"steps": 500}, "steps must be between 1 and 100"),
    ({"seed": -1}, "seed must be >= 0"),
    ({"plan": "x" * 5000}, "keep it under 4000"),
])
def test_restore_refuses_bad_settings_before_the_model_runs(handlers: Handlers, fake: FakeModel,
                                                            kw: dict[str, Any], message: str) -> None:
    with pytest.raises(DemoError, match=message):
        handlers.restore(picture(), **kw)
    assert fake.calls == []


def test_assess_many_rows_and_limits(handlers: Handlers) -> None:
    ups = [Upload("a.png", picture()), Upload("b.jpg", picture(seed=1))]
    rows = handlers.assess_many(ups)
    assert rows == [["a.png", 3.0, "fair", "noise: moderate (Gaussian)"], ["b.jpg", 3.0, "fair",
                                                                           "noise: moderate (Gaussian)"]]
    with pytest.raises(DemoError, match="upload one or more"):
        handlers.assess_many([])
    with pytest.raises(DemoError, match="assess at most 3 at a time"):
        handlers.assess_many(ups * 2)


def test_compare_verdict_and_reasons(handlers: Handlers) -> None:
    v = handlers.compare(picture(), picture(seed=2))
    assert v.verdict == "**Image B (second) is better** — probability 0.73"
    assert v.preferred == "second" and v.reasons == "The second image is sharper."
    with pytest.raises(DemoError, match="no image B"):
        handlers.compare(picture(), None)


# ------------------------------------------------------------------------------ handlers (real micro model)
def test_handlers_on_the_micro_model(micro_model: Any) -> None:
    h = Handlers(micro_model, Limits(max_pixels=100_000))
    v = h.assess(picture())
    assert 1 <= v.score <= 5 and abs(sum(p for _, p in v.level_probs) - 1) < 1e-3
    stages: list[str] = []
    r = h.restore(picture(), seed=1, progress=lambda s, i, n: stages.append(s))
    assert r.after.shape == (48, 64, 3) and r.after.dtype == np.uint8 and r.analysis
    assert "denoise" in stages
    again = h.restore(picture(), plan=r.analysis, seed=1)
    assert again.analysis == r.analysis and again.after.shape == r.after.shape
    c = h.compare(picture(), picture(seed=1))
    assert c.preferred in ("first", "second") and 0.5 <= c.probability <= 1


def test_random_checkpoints_are_flagged(micro_model: Any, micro_dir: Path) -> None:
    reason = random_reason(micro_model)
    assert reason is not None and "uare init-random" in reason and "seed 0" in reason
    assert random_reason(FakeModel()) is None


# ------------------------------------------------------------------------------ CLI
@pytest.mark.parametrize(("host", "local"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.3.4.5", True),
    ("0.0.0.0", False), ("192.168.1.4", False), ("example.org", False),
])
def test_is_loopback(host: str, local: bool) -> None:
    assert is_loopback(host) is local


def test_demo_without_gradio_says_how_to_install(capsys: pytest.CaptureFixture[str]) -> None:
    real = __import__("importlib.util").util.find_spec
    with mock.patch("importlib.util.find_spec", side_effect=lambda n, *a: None if n == "gradio" else real(n, *a)):
        code = cli.main(["demo"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and 'pip install "uare[web]"' in err


def test_demo_is_listed_and_not_planned(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--max-pixels" in out and "127.0.0.1" in out and "(planned)" not in out


def test_demo_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("gradio")
    assert cli.main(["demo", "--port", "0"]) == 2
    assert "--port must be between 1 and 65535" in capsys.readouterr().err
    assert cli.main(["demo", "--max-pixels", "10"]) == 2
    assert "--max-pixels must be at least 256" in capsys.readouterr().err


# ------------------------------------------------------------------------------ the page (Gradio, not launched)
@pytest.fixture()
def app(tmp_path: Path, handlers: Handlers) -> Any:
    pytest.importorskip("gradio", reason="the web extra is not installed")
    from uare.web import prepare_environment

    with mock.patch.dict(os.environ):  # keep this process's environment as it was
        root = prepare_environment(tmp_path / "work")
        from uare.web.app import DemoApp

        return DemoApp(handlers, notice="RANDOM", upload_root=str(root / "uploads"), output_dir=root / "out")


def test_page_wiring_and_safety_settings(app: Any) -> None:
    import gradio as gr

    from uare.web.app import MODEL_QUEUE, launch_kwargs

    demo = app.build()
    assert isinstance(demo, gr.Blocks)
    model_events = [f for f in demo.fns.values() if f.concurrency_id == MODEL_QUEUE]
    assert len(model_events) == 4 and all(f.concurrency_limit == 1 for f in model_events)
    kw = launch_kwargs("127.0.0.1", 7860, 1234)
    assert kw["share"] is False and kw["server_name"] == "127.0.0.1" and kw["max_file_size"] == 1234
    assert "allowed_paths" not in kw


def test_page_handlers_turn_errors_into_messages(app: Any, tmp_path: Path) -> None:
    import gradio as gr

    up = Path(app.upload_root) / "abc" / "cup.png"
    up.parent.mkdir(parents=True)
    Image.fromarray(picture()).save(up)
    summary, bars, degr, desc, plan, _, _ = app.on_upload(str(up))
    assert summary.startswith("Quality **3.00 / 5**") and list(bars["level"]) == list(LEVEL_ORDER)
    assert "noise: moderate" in degr and plan == ""
    slider, analysis, info, download, *_ = app.on_restore(str(up), "", "auto", 1, 0, 0, True,
                                                          progress=lambda *a, **k: None)
    assert np.asarray(Image.open(slider[1])).shape == (48, 64, 3) and Path(slider[0]).is_file()
    assert analysis.startswith("User intent")
    assert Path(download["value"]).parent == app.output_dir and Path(download["value"]).is_file()
    with pytest.raises(gr.Error, match="not an uploaded file"):
        app.on_restore(str(tmp_path / "elsewhere.png"), "", "auto", 1, 0, 0, True, progress=lambda *a, **k: None)
    rows, skipped = app.on_assess_many([str(up), str(up.parent / "missing.png")])
    assert rows[0][0] == "cup.png" and "skipped" in skipped
    verdict, reasons = app.on_compare(str(up), str(up))
    assert "Image B" in verdict and reasons
