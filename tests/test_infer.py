"""Inference API and CLI with a tiny random model: shapes, formats, context use, determinism, bad input."""

from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from uare.cli import main
from uare.errors import ImageReadError, UareError
from uare.infer import UARE
from uare.infer.images import finish, prepare
from uare.infer.tiling import process_tiled, windows
from uare.model.config import micro
from uare.model.random_init import init_random
from uare.model.sampler import FlowSampler
from uare.model.tokenizer import train_quality_tokenizer
from uare.model.unified import Context

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    tok = train_quality_tokenizer(vocab_size=600, n_samples=1500, seed=0)
    out = tmp_path_factory.mktemp("ck") / "micro"
    init_random(out, micro(vocab_size=tok.vocab_size), fmt="uare", seed=0, tokenizer=tok)
    (out / "inference.json").write_text('{"steps": 3, "max_analysis_tokens": 24, "max_description_tokens": 16, '
                                        '"max_compare_tokens": 16, "keep_level": ""}')
    return out


@pytest.fixture(scope="module")
def model(model_dir) -> UARE:
    return UARE.from_pretrained(model_dir)


def photo(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    return base


# ---------------------------------------------------------------- shapes, formats
@pytest.mark.parametrize("scale", [1, 2, 4])
def test_restore_shapes_and_scale(model, scale):
    img = photo(40, 56)
    r = model.restore(img, scale=scale, assess=False, seed=1)
    assert r.image.shape == (40 * scale, 56 * scale, 3) and r.image.dtype == np.uint8
    assert r.scale == scale and r.analysis is None


def test_gray_16bit_and_alpha_are_kept(model):
    gray = photo()[:, :, 0]
    r = model.restore(gray, assess=False)
    assert r.image.shape == gray.shape and r.image.dtype == np.uint8
    deep = (photo().astype(np.uint16) * 257)
    r = model.restore(deep, assess=False)
    assert r.image.dtype == np.uint16 and r.image.shape == deep.shape
    rgba = np.concatenate([photo(), np.full((48, 64, 1), 77, np.uint8)], axis=2)
    r = model.restore(rgba, assess=False)
    assert r.image.shape == (48, 64, 4) and np.all(r.image[:, :, 3] == 77)
    r = model.restore(rgba, assess=False, scale=2)
    assert r.image.shape == (96, 128, 4) and np.all(r.image[:, :, 3] == 77)


def test_inputs_of_every_kind_agree(model, tmp_path):
    img = photo()
    p = tmp_path / "a.png"
    Image.fromarray(img).save(p)
    outs = [model.restore(x, assess=False, seed=5).image for x in
            (img, p, Image.fromarray(img), torch.from_numpy(img).permute(2, 0, 1).float() / 255)]
    for o in outs[1:]:
        assert np.array_equal(o, outs[0])


def test_prepare_finish_has_no_colour_drift_on_flat_patches():
    for colour in ((10, 200, 30), (255, 255, 255), (0, 0, 0), (128, 64, 250)):
        flat = np.zeros((32, 32, 3), np.uint8) + np.array(colour, np.uint8)
        assert np.array_equal(finish(prepare(flat).rgb, prepare(flat)), flat)


def test_exif_orientation_is_applied(tmp_path):
    img = photo(32, 48)
    p = tmp_path / "rot.jpg"
    pil = Image.fromarray(img)
    exif = pil.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    pil.save(p, exif=exif, quality=95)
    assert prepare(p).rgb.shape[:2] == (48, 32)


# ---------------------------------------------------------------- assess then restore
def test_analysis_stays_in_the_context(model):
    img = photo()
    sp = model.special
    from uare.infer.pipeline import _pad

    instr = "Enhance this photo."
    x = torch.randn(12, 64, generator=torch.Generator().manual_seed(0))
    vs = []
    for text in ("Quality analysis: severe noise.", "Quality analysis: slight blur."):
        ctx, _, _, grid = model._context(_pad(img / 255.0, 16), instr, model._ids(text))
        vs.append(model.model.velocity(ctx, x[: grid[0] * grid[1]], 0.5, grid, sp))
    assert not torch.allclose(vs[0], vs[1])
    a = model.restore(img, analysis="Quality analysis: severe noise.", seed=0).image
    b = model.restore(img, analysis="Quality analysis: slight blur.", seed=0).image
    assert not np.array_equal(a, b)
    r = model.restore(img, assess=True, seed=0)
    assert r.analysis is not None and r.assessment_before is not None


def test_determinism(model):
    img = photo()
    a = model.restore(img, seed=3)
    b = model.restore(img, seed=3)
    c = model.restore(img, seed=4)
    assert np.array_equal(a.image, b.image) and a.analysis == b.analysis
    assert not np.array_equal(a.image, c.image)
    s1, s2 = model.assess(img), model.assess(img)
    assert s1 == s2
    assert abs(sum(s1.level_probs.values()) - 1) < 1e-4 and 1 <= s1.score <= 5


def test_compare(model):
    c = model.compare(photo(seed=1), photo(seed=2))
    assert c.preferred in ("first", "second") and 0.5 <= c.probability <= 1


# ---------------------------------------------------------------- tiling
def test_tiles_cover_the_image_and_blend_a_local_operator_without_seams():
    h, w = 300, 420
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    grad = np.stack([xx / w, yy / h, (xx + yy) / (h + w)], axis=2)

    def local(win):  # a local operator: tiles must reproduce the untiled result away from the image border
        pad = 8
        y0, y1, x0, x1 = max(0, win.y0 - pad), min(h, win.y1 + pad), max(0, win.x0 - pad), min(w, win.x1 + pad)
        blurred = cv2.GaussianBlur(grad[y0:y1, x0:x1], (0, 0), 1.5)
        return blurred[win.y0 - y0: win.y1 - y0, win.x0 - x0: win.x1 - x0]

    whole = cv2.GaussianBlur(grad, (0, 0), 1.5)
    tiled, n = process_tiled((h, w, 3), local, tile=128, overlap=32)
    assert n > 4
    assert np.abs(tiled - whole).max() <= 2 / 255
    cover = np.zeros((h, w), bool)
    for win in windows(h, w, 128, 32):
        assert win.y0 % 16 == 0 and win.x0 % 16 == 0
        cover[win.y0:win.y1, win.x0:win.x1] = True
    assert cover.all()


def test_tiled_restore_runs_and_is_deterministic(model):
    img = photo(80, 100)
    a = model.restore(img, assess=False, tile=64, overlap=16, seed=2)
    b = model.restore(img, assess=False, tile=64, overlap=16, seed=2)
    assert a.tiles > 1 and a.image.shape == img.shape and np.array_equal(a.image, b.image)


# ---------------------------------------------------------------- bad input and CLI
def _bomb(path: Path) -> None:
    Image.fromarray(photo(16, 16)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = (20000).to_bytes(4, "big") + (20000).to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["truncated", "empty", "text", "tiny", "bomb"])
def test_bad_inputs_exit_2_with_one_line_and_no_output(model_dir, tmp_path, kind, capsys):
    p = tmp_path / "in.png"
    if kind == "truncated":
        Image.fromarray(photo()).save(p)
        p.write_bytes(p.read_bytes()[:200])
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("hello, I am not an image")
    elif kind == "tiny":
        Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(p)
    else:
        _bomb(p)
    out = tmp_path / "out.png"
    code = main(["restore", str(p), "-o", str(out), "--model", str(model_dir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and str(p) in err[0]
    assert not out.exists() and [f.name for f in tmp_path.iterdir()] == ["in.png"]
    with pytest.raises((ImageReadError, UareError)):
        prepare(p)


def test_cli_and_api_agree_and_folders(model, model_dir, tmp_path, capsys):
    img = photo()
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(img).save(src / "a.png")
    Image.fromarray(photo(seed=9)).save(src / "b.jpg", quality=95)
    (src / "broken.png").write_text("nope")
    out = tmp_path / "out"
    code = main(["restore", str(src), "-o", str(out), "--model", str(model_dir), "--seed", "7", "--sidecar",
                 "--no-assess"])
    assert code == 2  # one file skipped
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.png", "b.jpg", "b.json"]
    api = model.restore(src / "a.png", assess=False, seed=7).image
    assert np.array_equal(np.asarray(Image.open(out / "a.png")), api)
    # no overwrite without --overwrite, and nothing written
    assert main(["restore", str(src / "a.png"), "-o", str(out / "a.png"), "--model", str(model_dir)]) == 2
    capsys.readouterr()
    assert main(["assess", str(src / "a.png"), "--json", "--model", str(model_dir)]) == 0
    line = capsys.readouterr().out.strip()
    import json

    d = json.loads(line)
    assert d["score"] == model.assess(src / "a.png").score
    assert main(["compare", str(src / "a.png"), str(src / "b.jpg"), "--model", str(model_dir)]) == 0


def test_enhance_cli_and_default_model_warning(tmp_path):
    p = tmp_path / "dark.png"
    Image.fromarray(photo() // 4).save(p)
    r = subprocess.run([sys.executable, "-m", "uare", "enhance", str(p), "-o", str(tmp_path / "o.png"), "--steps", "1",
                        "--no-assess"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    if not (REPO / "uare" / "weights" / "uare-tiny" / "config.json").exists():
        assert "RANDOM" in r.stderr  # the stand-in default model says so
    assert Image.open(tmp_path / "o.png").size == (64, 48)


def test_context_api_is_reusable(model):
    ctx = model.model.prefill_text(Context(), model._ids("hello"), model.special)
    assert ctx.length > 0 and ctx.next_pos == ctx.length


def test_assess_crops_are_native_resolution_views(model):
    """assess_crop > 0: centre crop first, then corners; small images are viewed whole."""
    import dataclasses

    old = model.defaults
    model.defaults = dataclasses.replace(old, assess_crop=32, assess_crops=3)
    try:
        img = photo(48, 64) / 255.0
        views = model._views(img)
        assert [v.shape for v in views] == [(32, 32, 3)] * 3
        assert np.array_equal(views[0], img[8:40, 16:48])  # centred
        assert np.array_equal(views[1], img[:32, :32]) and np.array_equal(views[2], img[:32, 32:])
        assert len(model._views(img[:24, :24])) == 1
        a = model.assess(photo(48, 64), describe=False)
        assert sum(a.level_probs.values()) == pytest.approx(1.0, abs=1e-4)
    finally:
        model.defaults = old


def test_inference_json_rejects_an_unknown_init(tmp_path):
    from uare.infer.pipeline import InferenceDefaults

    (tmp_path / "inference.json").write_text('{"init": "magic"}')
    with pytest.raises(UareError, match="init must be noise, degraded or source"):
        InferenceDefaults.from_folder(tmp_path)


def test_self_ensemble_averages_the_flipped_generations(model):
    import dataclasses

    old = model.defaults
    try:
        model.defaults = dataclasses.replace(old, sampler=FlowSampler(steps=1, flow_source="degraded"))
        img = photo(32, 48)
        plain = np.asarray(model.restore(img, assess=False).image, dtype=np.float64)
        flipped = np.asarray(model.restore(np.ascontiguousarray(img[:, ::-1]), assess=False).image,
                             dtype=np.float64)[:, ::-1]
        model.defaults = dataclasses.replace(model.defaults, ensemble=2)
        ens = np.asarray(model.restore(img, assess=False).image, dtype=np.float64)
        assert ens.shape == plain.shape
        assert np.abs(ens - (plain + flipped) / 2).max() <= 1.0  # uint8 rounding only
        assert np.abs(plain - flipped).max() > 1  # the views really differ
    finally:
        model.defaults = old


def test_color_fix_keeps_the_inputs_low_frequencies():
    from types import SimpleNamespace

    from uare.infer.pipeline import _color_fix, _keeps_mean

    rng = np.random.default_rng(0)
    ref = cv2.GaussianBlur(rng.random((64, 64, 3)).astype(np.float32), (0, 0), 4) * 0.6 + 0.2
    detail = (rng.random((64, 64, 3)).astype(np.float32) - 0.5) * 0.1
    out = np.clip(ref + detail + np.float32([0.08, 0.0, -0.08]), 0, 1)  # a colour cast plus detail
    fixed = _color_fix(out, ref, 6.0)
    low = lambda x: cv2.GaussianBlur(x, (0, 0), 6.0, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    assert np.abs(low(fixed) - low(ref)).max() < 0.01  # the cast is gone
    assert np.abs((fixed - low(ref)) - (out - low(out))).max() < 1e-5  # the output's detail, unchanged
    # which tasks: mean-keeping ones, and auto only when the assessment rules out low light and haze
    a_noise = SimpleNamespace(degradations=[{"type": "noise", "severity": "strong"}])
    a_haze = SimpleNamespace(degradations=[{"type": "haze", "severity": "mild"}])
    assert _keeps_mean("denoise", None, None) and _keeps_mean("sr", None, None)
    assert not _keeps_mean("lowlight", a_noise, None) and not _keeps_mean("dehaze", None, None)
    assert _keeps_mean("auto", a_noise, None) and not _keeps_mean("auto", a_haze, None)
    assert not _keeps_mean("auto", None, None)
    assert not _keeps_mean("auto", None, "Quality analysis: strong haze. Enhancement plan: 1. dehaze.")


def test_restore_applies_the_color_fix_and_says_so(model):
    import dataclasses

    old = model.defaults
    try:
        img = photo(48, 64)
        raw = model.restore(img, task="denoise", assess=False)
        model.defaults = dataclasses.replace(old, color_fix_sigma=4.0)
        r = model.restore(img, task="denoise", assess=False)
        assert any("colour fix" in n for n in r.notes) and not any("colour fix" in n for n in raw.notes)
        low = lambda x: cv2.GaussianBlur(np.asarray(x, np.float32) / 255, (0, 0), 4.0,  # noqa: E731
                                         borderType=cv2.BORDER_REFLECT)
        # a random model's output is far off and partly clipped, so: much closer, not equal
        assert np.abs(low(r.image) - low(img)).mean() < 0.5 * np.abs(low(raw.image) - low(img)).mean()
        assert not any("colour fix" in n for n in model.restore(img, task="lowlight", assess=False).notes)
    finally:
        model.defaults = old


# ---------------------------------------------------------------- the texts agree with the numbers
def test_assess_level_follows_the_table_and_the_text_states_score_and_level(model):
    from uare import prompts
    from uare.quality import level_from_score, parse_description

    for seed in range(3):
        a = model.assess(photo(seed=seed))
        assert a.level == level_from_score(round(a.score, 2))
        assert a.text.startswith(prompts.description_prefix(a.level, a.score))
        parsed = parse_description(a.text)
        assert parsed.level == a.level and parsed.score == pytest.approx(round(a.score, 2))


def test_prompt_prefixes_start_the_trained_phrasings():
    import numpy as np

    from uare import prompts
    from uare.quality import analysis_text, description_text, summary_from_severities

    for sev in ({}, {"noise": 3.0}, {"blur": 4.5, "jpeg": 2.0}):
        s = summary_from_severities(sev)
        assert any(description_text(s, np.random.default_rng(k)).startswith(
            prompts.description_prefix(s.level, s.score)) for k in range(40))
        assert any(analysis_text(s, np.random.default_rng(k)).startswith(
            prompts.analysis_prefix("auto", s.level, s.score)) for k in range(200))


def test_compare_is_symmetric_and_its_text_states_both_scores(model):
    a, b = photo(seed=1), photo(seed=2)
    ab, ba = model.compare(a, b), model.compare(b, a)
    assert {ab.preferred, ba.preferred} == {"first", "second"}
    assert ab.probability == pytest.approx(ba.probability, abs=1e-6)
    sa, sb = model.assess(a, describe=False).score, model.assess(b, describe=False).score
    better, worse = (sa, sb) if ab.preferred == "first" else (sb, sa)
    assert ab.text.startswith(f"The {ab.preferred} image is better ({better:.2f}/5 vs {worse:.2f}/5):")


def test_restore_returns_a_good_image_unchanged_unless_forced(model, monkeypatch):
    import dataclasses

    from uare.infer.outputs import Assessment

    good = Assessment(3.9, "good", {"bad": 0, "poor": 0, "fair": 0.1, "good": 0.9, "excellent": 0}, [], "")
    fair = dataclasses.replace(good, score=3.0, level="fair")
    old = model.defaults
    model.defaults = dataclasses.replace(old, keep_level="good")
    try:
        img = photo()
        monkeypatch.setattr(model, "assess", lambda *a, **k: good)
        r = model.restore(img, seed=0)
        assert np.array_equal(r.image, img) and r.steps == 0 and any("returned unchanged" in n for n in r.notes)
        assert "good (3.90/5)" in r.analysis
        up = model.restore(img, scale=2)
        assert up.image.shape == (96, 128, 3) and up.steps == 0
        forced = model.restore(img, seed=0, force=True)
        assert forced.steps > 0 and not np.array_equal(forced.image, img)
        named = model.restore(img, task="denoise", seed=0)  # a named task is always carried out
        assert named.steps > 0
        monkeypatch.setattr(model, "assess", lambda *a, **k: fair)
        assert model.restore(img, seed=0).steps > 0
    finally:
        model.defaults = old


def test_residual_decode_returns_the_input_for_a_zero_velocity(model):
    import dataclasses

    old = model.defaults
    w = model.model.llm2vae.weight.detach().clone(), model.model.llm2vae.bias.detach().clone()
    try:
        with torch.no_grad():
            model.model.llm2vae.weight.zero_()
            model.model.llm2vae.bias.zero_()
        model.defaults = dataclasses.replace(old, sampler=FlowSampler(steps=1, flow_source="degraded"))
        img = photo(32, 48)
        plain = model.restore(img, assess=False).image  # the AE's round trip of the input
        model.defaults = dataclasses.replace(model.defaults, residual_decode=True)
        res = model.restore(img, assess=False).image
        assert np.array_equal(res, img)
        assert np.abs(plain.astype(int) - img).max() > 2  # a random AE is far from the identity
    finally:
        model.defaults = old
        with torch.no_grad():
            model.model.llm2vae.weight.copy_(w[0])
            model.model.llm2vae.bias.copy_(w[1])


def test_strength_blends_toward_the_input_for_the_treated_categories(model, tmp_path):
    import dataclasses
    from types import SimpleNamespace

    from uare.infer.pipeline import InferenceDefaults

    old = model.defaults
    try:
        img = photo()
        full = model.restore(img, task="jpeg", assess=False, seed=0).image.astype(np.float64)
        model.defaults = dataclasses.replace(old, strength={"jpeg": 0.0, "noise": 0.5})
        none = model.restore(img, task="jpeg", assess=False, seed=0)
        assert np.array_equal(none.image, img) and any("strength 0" in n for n in none.notes)
        half = model.restore(img, task="denoise", assess=False, seed=0).image.astype(np.float64)
        # blind mode: the largest strength of the categories found, so a mix is not held back by one
        from uare.infer.pipeline import _strength

        both = SimpleNamespace(degradations=[{"type": "jpeg"}, {"type": "blur"}])
        assert _strength({"jpeg": 0.0}, "auto", both, None) == 1.0
        assert _strength({"jpeg": 0.0}, "auto", SimpleNamespace(degradations=[{"type": "jpeg"}]), None) == 0.0
        model.defaults = old
        den = model.restore(img, task="denoise", assess=False, seed=0).image.astype(np.float64)
        assert np.abs(half - (img + 0.5 * (den - img))).max() <= 1.0
        assert not np.array_equal(full, img)
    finally:
        model.defaults = old
    (tmp_path / "inference.json").write_text('{"strength": {"jpeg": 1.5}}')
    with pytest.raises(UareError, match="strength must map categories"):
        InferenceDefaults.from_folder(tmp_path)


def test_assess_native_views_are_whole_patches(model):
    import dataclasses

    old = model.defaults
    model.defaults = dataclasses.replace(old, assess_crop=47, assess_crops=3, assess_native=True, vit_min_size=28)
    try:
        img = photo(48, 64) / 255.0
        views = model._views(img)
        assert [v.shape for v in views] == [(42, 42, 3)] * 3  # 47 px cut down to 3 patches of 14
        small = model._views(img[:33, :45])
        assert [v.shape for v in small] == [(28, 42, 3)]  # whole image, trimmed to patches, centred
        assert np.array_equal(small[0], img[2:30, 1:43])
    finally:
        model.defaults = old
