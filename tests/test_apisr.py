"""The APISR pipeline: determinism, exact sizes, re-application from the record, published statistics,
the pipeline table (``degrade``, ``uare degrade --pipeline``) and the curriculum's high-order draws."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from uare import cli
from uare.degrade import HIGHORDER_PIPELINES, PIPELINES, Curriculum, degrade, realesrgan
from uare.degrade.apisr import APISRConfig, apisr, apply_step, draw_params, reapply
from uare.degrade.codecs import CODECS, VIDEO_CODECS, codec_status, jpeg_equivalent_quality, roundtrip
from uare.io import read_image, write_image

REPO = Path(__file__).resolve().parents[1]
IMG = np.ascontiguousarray(data.astronaut()[40:136:1, 100:188])  # 96 x 88, a face and a flag
DRAWABLE = frozenset(CODECS) - {"heif"}  # every codec APISR draws with p > 0


def needs(codec: str) -> None:
    why = codec_status()[codec]
    if why is not None:
        pytest.skip(f"codec {codec} unavailable here: {why}")


def only(codec: str) -> APISRConfig:
    """The published configuration with the second compression fixed to ``codec``."""
    cfg = APISRConfig()
    probs = tuple(1.0 if c == codec else 0.0 for c in cfg.compression_codec2)
    return APISRConfig(compression_codec_prob2=probs)


# ---- determinism, sizes, re-application --------------------------------------------------------------

def test_same_seed_same_bytes_and_record_other_seeds_differ():
    a, ra = apisr(IMG, 4, seed=3)
    b, rb = apisr(IMG, 4, seed=3)
    assert a.tobytes() == b.tobytes() and ra.to_json() == rb.to_json()
    others = [apisr(IMG, 4, seed=s)[0] for s in (4, 5)]
    assert all(not np.array_equal(a, o) for o in others)
    assert ra.pipeline == "apisr" and ra.seed == 3 and ra.scale == 4


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_output_is_exactly_h_over_scale_of_the_modcropped_input(scale):
    for h, w, seed in ((67, 53, 0), (50, 41, 1)):
        img = IMG[:h, :w]
        out, rec = apisr(img, scale, seed)
        hc, wc = h - h % scale, w - w % scale
        assert rec.input_size == (hc, wc)
        assert out.shape == (hc // scale, wc // scale, 3) and out.dtype == np.uint8
        assert rec.output_size == out.shape[:2]
    gray, _ = apisr(data.camera()[:45, :39], scale, 2)
    assert gray.shape == (45 // scale, 39 // scale)
    f, _ = apisr(IMG[:33, :35].astype(np.float32) / 255, scale, 2)
    assert f.dtype == np.float32 and f.shape == (33 // scale, 35 // scale, 3) and 0 <= f.min() <= f.max() <= 1


def test_order_follows_the_reference():
    for seed in range(8):
        _, rec = apisr(IMG, 4, seed)
        ops = [(s.op if not s.op.endswith("noise") else "noise", s.params["stage"]) for s in rec.steps]
        n1 = sum(st == 1 for _, st in ops)
        assert [st for _, st in ops] == [1] * n1 + [2] * (len(ops) - n1 - 2) + [3, 2]
        first, second = [op for op, st in ops[:n1 - 1]], [op for op, st in ops[n1:-2]]
        # first: [resize] blur [resize] noise [resize], then JPEG or WebP
        assert ops[n1 - 1][0] in ("jpeg", "webp") and [o for o in first if o != "resize"] == ["blur", "noise"]
        assert first.index("resize") == rec.steps[first.index("resize")].params["position"]
        # second: [resize] blur (p 0.8) [resize] noise [resize]; "after the blur" is before the noise
        pos = next(s.params["position"] for s in rec.steps if s.op == "resize" and s.params["stage"] == 2)
        rest = [o for o in second if o != "resize"]
        assert rest in (["blur", "noise"], ["noise"])
        assert second.index("resize") == {0: 0, 1: len(rest) - 1, 2: len(rest)}[pos]
        # then the resize to H / 4 x W / 4 and the second compression
        assert rec.steps[-2].params["to"] == [96 // 4, 88 // 4] and ops[-1][0] in DRAWABLE
    _, rec2 = apisr(IMG, 2, 0)
    assert [s.params["stage"] for s in rec2.steps if s.op == "resize"] == [1, 3]  # no second resize at x2
    assert any("no second resize" in n for n in rec2.notes)


@pytest.mark.parametrize("codec", sorted(DRAWABLE))
def test_every_recorded_step_reapplies_bit_for_bit(codec):
    needs(codec)
    img = IMG[:61, :59]  # 15 x 14 at x4: the video codecs pad to 16 x 16 and crop back
    out, rec = apisr(img, 4, seed=7, config=only(codec))
    assert rec.steps[-1].op == codec and rec.steps[-1].category == "jpeg"
    back = json.loads(rec.to_json())  # re-applied from the JSON record alone
    assert np.array_equal(reapply(img, back), out)
    # and step by step, each from its recorded parameters
    from uare.degrade.apisr import _State

    f = img[:60, :56].astype(np.float32) / 255
    state = _State(60)
    for s in back["steps"]:
        f, step = apply_step(f, s["op"], s["params"], state)
        assert step.op == s["op"] and step.category == s["category"]
    assert np.array_equal(np.clip(np.rint(f * 255), 0, 255).astype(np.uint8), out)
    if codec in VIDEO_CODECS:
        last = rec.steps[-1].params
        assert last["pad"] == [1, 2] and last["encoder"]  # 15 x 14 -> 16 x 16 and last["library"].startswith("PyAV")
        assert ("crf" in last) == (codec in ("h264", "h265")) and last["preset"] in APISRConfig().preset_mode2


def test_reapply_refuses_a_record_of_another_image_or_pipeline():
    _, rec = apisr(IMG, 4, 0)
    with pytest.raises(ValueError, match="recorded input"):
        reapply(IMG[:64], rec)
    _, other = realesrgan(IMG, 4, 0)
    with pytest.raises(ValueError, match="not an APISR record"):
        reapply(IMG, other)


# ---- published statistics over 1,000 draws ---------------------------------------------------------

def freq_ok(count: int, n: int, p: float) -> bool:
    """``count`` of ``n`` Bernoulli(p) draws is within 4.5 binomial standard deviations of n p."""
    return abs(count - n * p) <= 4.5 * math.sqrt(n * p * (1 - p)) + 1


def test_parameter_statistics_over_1000_draws_match_the_published_ones():
    cfg = APISRConfig()
    rng = np.random.default_rng(0)
    plans = [draw_params(rng, (256, 256), 4, cfg, available=DRAWABLE) for _ in range(1000)]
    n = len(plans)
    steps = [(op, p) for plan in plans for op, p in plan]

    def where(stage: int, *ops: str) -> list[dict]:
        return [p for op, p in steps if p["stage"] == stage and op in ops]

    # blur kernels: family, sinc share, sizes, sigma / beta / cut-off ranges; the second blur's probability
    for stage, sig in ((1, cfg.blur_sigma), (2, cfg.blur_sigma2)):
        ks = where(stage, "blur")
        if stage == 2:
            assert freq_ok(len(ks), n, cfg.second_blur_prob)
        counts = Counter(k["kernel"] for k in ks)
        assert freq_ok(counts["sinc"], len(ks), cfg.sinc_prob)
        mixed = len(ks) - counts["sinc"]
        for name, p in zip(cfg.kernel_list, cfg.kernel_prob, strict=True):
            assert freq_ok(counts[name], mixed, p), name
        assert {k["size"] for k in ks} == set(range(7, 22, 2))
        sx = [k["sigma_x"] for k in ks if k["kernel"] != "sinc"]
        assert sig[0] <= min(sx) < sig[0] + 0.05 * (sig[1] - sig[0]) and sig[1] - 0.05 * (sig[1] - sig[0]) < max(sx) <= sig[1]
        assert all(-math.pi <= k["theta"] <= math.pi for k in ks if "theta" in k)
        assert all(0.5 <= k["beta"] <= 4 for k in ks if k["kernel"].startswith("generalized"))
        assert all(1 <= k["beta"] <= 2 for k in ks if k["kernel"].startswith("plateau"))
        assert all((math.pi / 3 if k["size"] < 13 else math.pi / 5) <= k["omega_c"] <= math.pi
                   for k in ks if k["kernel"] == "sinc")
    # resizes: up / down / keep, their ranges, modes and positions; the final size and mode
    for stage, probs, lo_hi in ((1, cfg.resize_prob, cfg.resize_range), (2, cfg.resize_prob2, cfg.resize_range2)):
        rs = where(stage, "resize")
        assert len(rs) == n
        ud = Counter(r["updown"] for r in rs)
        assert all(freq_ok(ud[k], n, p) for k, p in zip(("up", "down", "keep"), probs, strict=True))
        up = [r["ratio"] for r in rs if r["updown"] == "up"]
        down = [r["ratio"] for r in rs if r["updown"] == "down"]
        assert min(up) >= 1 and max(up) <= lo_hi[1] and max(up) > lo_hi[1] - 0.02
        assert lo_hi[0] <= min(down) < lo_hi[0] + 0.02 and max(down) <= 1
        assert all(r["ratio"] == 1 for r in rs if r["updown"] == "keep")
        for key, values in (("mode", cfg.resize_options), ("position", (0, 1, 2))):
            c = Counter(r[key] for r in rs)
            assert set(c) == set(values) and all(freq_ok(c[v], n, 1 / 3) for v in values)
    finals = where(3, "resize")
    assert all(r["to"] == [64, 64] for r in finals)
    assert all(freq_ok(v, n, 1 / 3) for v in Counter(r["mode"] for r in finals).values())
    # noise: Gaussian share, sigma and Poisson ranges, gray share
    for stage, sig, poi, gp in ((1, cfg.noise_range, cfg.poisson_scale_range, cfg.gray_noise_prob),
                                (2, cfg.noise_range2, cfg.poisson_scale_range2, cfg.gray_noise_prob2)):
        g, pn = where(stage, "gaussian_noise"), where(stage, "poisson_noise")
        assert len(g) + len(pn) == n and freq_ok(len(g), n, 0.5)
        assert sig[0] <= min(p["sigma"] for p in g) < sig[0] + 0.5 and sig[1] - 0.5 < max(p["sigma"] for p in g) <= sig[1]
        assert poi[0] <= min(p["scale"] for p in pn) and max(p["scale"] for p in pn) <= poi[1]
        assert freq_ok(sum(p["gray"] for p in g + pn), n, gp)
        assert len({p["seed"] for p in g + pn}) == n  # every noise field its own seed
    # compressions: codec shares, then each codec's quality / CRF / qscale range and the presets
    for stage, names, probs in ((1, cfg.compression_codec1, cfg.compression_codec_prob1),
                                (2, cfg.compression_codec2, cfg.compression_codec_prob2)):
        c = Counter(op for op, p in steps if op in CODECS and p["stage"] == stage)
        assert sum(c.values()) == n
        for name, p in zip(names, probs, strict=True):
            assert freq_ok(c[name], n, p), (stage, name, c[name])
    ranges = {("jpeg", "quality"): (20, 95), ("webp", "quality"): (20, 95), ("webp", "method"): (0, 6),
              ("avif", "quality"): (20, 95), ("avif", "method"): (0, 6), ("h264", "crf"): (23, 38),
              ("h265", "crf"): (28, 42), ("mpeg2", "qscale"): (8, 31), ("mpeg4", "qscale"): (8, 31)}
    for (codec, key), (lo, hi) in ranges.items():
        vals = [p[key] for op, p in steps if op == codec]
        assert all(isinstance(v, int) and lo <= v <= hi for v in vals), (codec, key)
        assert max(vals) - min(vals) >= 0.8 * (hi - lo), (codec, key)
    presets = Counter(p["preset"] for op, p in steps if op in VIDEO_CODECS)
    total = sum(presets.values())
    assert all(freq_ok(presets[m], total, p) for m, p in zip(cfg.preset_mode2, cfg.preset_prob2, strict=True))


def test_a_missing_codec_is_drawn_again_among_the_available_and_noted():
    plans = [draw_params(np.random.default_rng(s), (64, 64), 4, available={"jpeg", "webp"}) for s in range(200)]
    second = [op for plan in plans for op, p in plan if op in CODECS and p["stage"] == 2]
    assert set(second) == {"jpeg", "webp"}
    share = second.count("jpeg") / len(second)
    assert abs(share - 0.06 / 0.16) < 0.12  # the published odds between the codecs that are left
    seed = next(s for s in range(50) if any("drawn" in p for _, p in draw_params(
        np.random.default_rng(s), (96, 88), 4, available={"jpeg", "webp", "avif"})))
    out, rec = apisr(IMG, 4, np.random.default_rng(seed), available={"jpeg", "webp", "avif"})
    assert rec.steps[-1].op in ("jpeg", "webp", "avif") and rec.steps[-1].params["drawn"] in VIDEO_CODECS
    assert any("unavailable" in n for n in rec.notes)
    rec.seed = None
    assert np.array_equal(reapply(IMG, rec), out)
    with pytest.raises(ValueError, match="HEIF only with p 0"):
        APISRConfig(compression_codec_prob1=(0.4, 0.3, 0.3, 0.0))


def test_codecs_are_drawn_only_where_the_image_fits_them():
    rng = np.random.default_rng(0)
    plans = [draw_params(rng, (64, 20_000), 1, available=DRAWABLE) for _ in range(60)]
    last = [plan[-1] for plan in plans]
    assert {op for op, _ in last} <= {"jpeg", "avif"}  # the only codecs for 20,000 px sides
    assert any("at most" in p.get("drawn_why", "") for _, p in last)


def test_without_pyav_the_pipeline_runs_on_image_codecs_and_says_so(monkeypatch: pytest.MonkeyPatch):
    from uare.degrade import codecs

    def no_av():
        raise ImportError("No module named 'av'")

    caches = (codecs.codec_status, codecs._video_encoder, codecs.library)
    for fn in caches:
        fn.cache_clear()
    monkeypatch.setattr(codecs, "_av", no_av)
    try:
        assert codecs.available_codecs() == {"jpeg", "webp", "avif"} - {c for c in ("webp", "avif")
                                                                        if codec_status()[c]}
        assert "PyAV is not installed" in codecs.codec_status()["h264"]
        notes = []
        for seed in range(6):
            out, rec = apisr(IMG, 4, seed)
            assert rec.steps[-1].op in ("jpeg", "webp", "avif") and out.shape == (24, 22, 3)
            notes += [n for n in rec.notes if "PyAV is not installed" in n]
        assert notes  # some of these seeds drew a video codec
    finally:
        for fn in caches:
            fn.cache_clear()


# ---- codecs ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("codec", ["h264", "mpeg2"])
def test_video_codec_on_odd_gray_and_tiny_images(codec):
    needs(codec)
    params = {"crf": 30, "preset": "fast", "qscale": 12}
    for shape, pad in (((33, 35, 3), [1, 1]), ((5, 7, 1), [11, 9]), ((20, 18, 3), None)):
        u8 = np.asarray(np.resize(IMG, shape), dtype=np.uint8)
        out, info = roundtrip(u8, codec, params)
        assert out.shape == u8.shape and out.dtype == np.uint8 and info.get("pad") == pad
        out2, _ = roundtrip(u8, codec, params)
        assert np.array_equal(out, out2)


def test_compression_is_graded_by_its_jpeg_equivalent_quality():
    needs("h264")
    u8 = np.ascontiguousarray(IMG[:64, :64])
    q = [jpeg_equivalent_quality(u8, roundtrip(u8, "h264", {"crf": crf, "preset": "medium"})[0])
         for crf in (23, 38)]
    assert 1 <= q[1] < q[0] <= 100
    assert jpeg_equivalent_quality(u8, u8) == 100


# ---- the pipeline table, the CLI, the curriculum -------------------------------------------------------

def test_pipeline_table_and_unknown_pipeline_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    assert PIPELINES == ("single", "multi", "realesrgan", "apisr") and HIGHORDER_PIPELINES == ("realesrgan", "apisr")
    with pytest.raises(ValueError, match="unknown pipeline 'fancy'; choose from single, multi, realesrgan, apisr"):
        degrade(IMG, "fancy")
    for kw, word in (({"types": ["noise"]}, "types"), ({"severity": 2}, "strengths"), ({"pool": ("noise",)}, "pool")):
        with pytest.raises(ValueError, match=f"the apisr pipeline draws its own.*{word}"):
            degrade(IMG, "apisr", **kw)
    code = cli.main(["degrade", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "--pipeline", "fancy"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "fancy" in err and all(name in err for name in PIPELINES)


def test_cli_degrades_with_apisr_and_writes_a_reapplicable_record(capsys: pytest.CaptureFixture[str],
                                                                   tmp_path: Path):
    src = tmp_path / "in.png"
    write_image(src, IMG[:66, :74])
    code = cli.main(["degrade", str(src), "-o", str(tmp_path / "out.png"), "--pipeline", "apisr", "--scale", "4",
                     "--record", str(tmp_path / "r.json"), "--seed", "9"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lq = read_image(tmp_path / "out.png").pixels
    rec = json.loads((tmp_path / "r.json").read_text())
    assert lq.shape == (16, 18, 3) and rec["pipeline"] == "apisr" and rec["seed"] == 9
    assert rec["input_size"] == [64, 72] and rec["output_size"] == [16, 18] and rec["steps"]
    assert np.array_equal(reapply(IMG[:66, :74], rec), lq)


def test_curriculum_high_order_draws_realesrgan_and_apisr_by_weight():
    img = IMG[:64, :64]
    plain = Curriculum(1, 1, 10)
    assert plain.highorder_pipelines == (("realesrgan", 1.0),)
    # the default draws nothing: a high-order sample is Real-ESRGAN's on the same generator
    out, rec = plain.sample(img, 5, seed=np.random.default_rng(3))
    ref, _ = realesrgan(img, 4, np.random.default_rng(3))
    assert rec.pipeline == "realesrgan" and np.array_equal(out, ref)
    both = Curriculum(1, 1, 40, highorder_pipelines={"realesrgan": 0.5, "apisr": 0.5})
    picks = Counter(both.highorder_pipeline(np.random.default_rng(s)) for s in range(400))
    assert freq_ok(picks["apisr"], 400, 0.5)
    seed = next(s for s in range(20) if both.highorder_pipeline(np.random.default_rng(s)) == "apisr")
    out, rec = both.sample(img, 2, seed=seed)
    assert rec.pipeline == "apisr" and out.shape == (16, 16, 3) and "high-order pipeline apisr" in rec.notes[-1]
    for bad in ({"single": 1.0}, {"apisr": -1.0}, {}):
        with pytest.raises(ValueError, match="highorder_pipelines"):
            Curriculum(highorder_pipelines=bad)


def test_paper_stage1_config_draws_both_high_order_pipelines():
    from uare.train.config import TrainConfigError, load_config

    cfg = load_config(REPO / "configs/paper/stage1.yaml")
    assert cfg.data.curriculum.highorder_pipelines == {"realesrgan": 0.5, "apisr": 0.5}
    with pytest.raises(TrainConfigError, match="highorder_pipelines"):
        load_config(REPO / "configs/paper/stage1.yaml", ["data.curriculum.highorder_pipelines={multi: 1}"])
