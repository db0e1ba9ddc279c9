"""Training and inference agree by construction: the model is fed, at inference, exactly the tokens and
pixels a training sample of the same image and instruction holds, up to the answer.

A training config is turned into the model's inference defaults by the exporter
(:func:`uare.train.export.inference_from_training`); training samples are drawn from that config; the
same images and instructions then go through :class:`uare.infer.pipeline.UARE` with every call into the
model recorded. Images are recovered exactly from the samples (VAE pixels are (u / 127.5 - 1); native
ViT crops are unresized patches).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from uare import prompts
from uare.data.items import VAE, Text, ViT
from uare.data.sequence import ImagePrep, as_uint8
from uare.data.sources import Geometry
from uare.data.stream import PackDataset
from uare.errors import UareError
from uare.infer.pipeline import UARE, InferenceDefaults
from uare.model.config import micro
from uare.model.image_transforms import latent_patchify
from uare.model.random_init import init_random
from uare.model.tokenizer import train_quality_tokenizer
from uare.train.config import config_from_dict
from uare.train.export import inference_from_training


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("seq")
    imgs = d / "imgs"
    imgs.mkdir()
    rng = np.random.default_rng(0)
    for k in range(3):
        yy, xx = np.mgrid[0:160, 0:176] / 160
        base = np.stack([np.sin(7 * xx + k), np.cos(5 * yy * (k + 1)), xx * yy], -1) * 0.35 + 0.5
        px = np.clip(base + rng.normal(0, 0.03, base.shape), 0, 1)
        Image.fromarray(np.rint(px * 255).astype(np.uint8)).save(imgs / f"{k}.png")
    tok = train_quality_tokenizer(vocab_size=512, seed=0)
    folder = init_random(d / "model", micro(vocab_size=tok.vocab_size), fmt="uare", seed=0, tokenizer=tok)
    cfg = config_from_dict({
        "stage": 2, "seed": 3, "out": str(d / "run"), "init": {"path": str(folder)},
        "data": {"sources": [
            {"kind": "interleaved", "folders": [str(imgs)], "crop": [48, 96], "weight": 0.5},
            {"kind": "iqa", "folders": [str(imgs)], "crop": [42, 98], "vit_native": True, "weight": 0.5,
             "tasks": {"score": 1, "description": 1, "compare": 1}}],
            "vit_max_size": 98, "vit_min_size": 42, "dropout": {"text": 0.0, "vit": 0.0, "vae": 0.0}},
        "train": {"flow_source": "degraded", "timestep_shift": 4.0}})
    model = UARE.from_pretrained(folder)
    model.defaults = InferenceDefaults.from_dict(inference_from_training(cfg, {"sampler": {"steps": 1}}))
    geo = Geometry.for_model(model.config, cfg.data.vit_max_size, cfg.data.vit_min_size)
    ds = PackDataset(cfg.data, geo, model.tokenizer, cfg.seed)
    return model, ds, geo


class Recorder:
    """Records every prefill into the model: ("T", ids) / ("V", patches, grid) / ("I", latent tokens)."""

    def __init__(self, model: UARE):
        self.m, self.calls = model.model, []

    def __enter__(self):
        m, calls = self.m, self.calls
        self.saved = (m.prefill_text, m.prefill_vit, m.prefill_vae)
        pt, pv, pa = self.saved
        m.prefill_text = lambda ctx, ids, sp, *a, **k: (calls.append(("T", list(ids))), pt(ctx, ids, sp, *a, **k))[1]
        m.prefill_vit = lambda ctx, p, g, sp: (calls.append(("V", p.clone(), tuple(g))), pv(ctx, p, g, sp))[1]
        m.prefill_vae = lambda ctx, t, g, sp: (calls.append(("I", t.clone(), tuple(g))), pa(ctx, t, g, sp))[1]
        return self

    def __exit__(self, *exc):
        self.m.prefill_text, self.m.prefill_vit, self.m.prefill_vae = self.saved


def _draw(ds: PackDataset, kind: str, n: int = 60):
    for p in range(n):
        s = ds.sample(p, 0)
        if s.kind == kind:
            return s
    raise AssertionError(f"no {kind} sample in {n} draws")


def _pixels(item: VAE) -> np.ndarray:
    u = np.rint((item.pixels.permute(1, 2, 0).numpy() + 1) * 127.5)
    assert np.abs(u - (item.pixels.permute(1, 2, 0).numpy() + 1) * 127.5).max() < 1e-3
    return u.astype(np.uint8)


def _native(item: ViT, patch: int) -> np.ndarray:
    """The uint8 image of an unresized ViT item."""
    h, w = item.grid
    x = item.patches.reshape(h, w, patch, patch, 3).permute(0, 2, 1, 3, 4).reshape(h * patch, w * patch, 3)
    return np.rint((x.numpy() + 1) * 127.5).astype(np.uint8)


def _same(rec, item, model: UARE) -> None:
    if isinstance(item, Text):
        assert rec[0] == "T" and rec[1] == item.ids
    elif isinstance(item, ViT):
        assert rec[0] == "V" and rec[2] == tuple(item.grid) and torch.equal(rec[1], item.patches)
    else:  # the training VAE item's pixels, encoded as inference encodes them
        with torch.no_grad():
            z = model.vae.encode(item.pixels[None].to(model.vae.encoder.conv_in.weight.dtype))[0].float()
        assert rec[0] == "I" and torch.equal(rec[1], latent_patchify(z, model.config.latent_patch_size))


def test_restoration_context_is_the_training_sequence(setup):
    model, ds, geo = setup
    s = _draw(ds, "interleaved")
    lq = _pixels(s.items[0])
    with Recorder(model) as r:
        model._context(lq.astype(np.float32) / 255, s.meta["instruction"], None)
    trained = [it for it in s.items if not (isinstance(it, Text) and it.loss) and not getattr(it, "noisy", False)]
    assert [c[0] for c in r.calls] == ["I", "V", "T"] and len(trained) == 3
    for rec, item in zip(r.calls, trained, strict=True):
        _same(rec, item, model)
    # and restore() asks with an instruction training draws (the first phrasing of the task's pool)
    assert prompts.restore_instruction(s.meta["task"], s.meta["scale"]) in _pool(s.meta["task"], s.meta["scale"])


def _pool(task: str, scale: int) -> set[str]:
    from uare.quality import instruction

    return {instruction(task, np.random.default_rng(k), scale=max(scale, 2)) for k in range(400)}


@pytest.mark.parametrize("task", ["score", "description", "compare"])
def test_iqa_context_is_the_training_sequence(setup, task):
    model, ds, geo = setup
    s = next(x for p in range(200) if (x := ds.sample(p, 0)).kind == f"iqa_{task}")
    views = [_native(it, geo.vit_patch) for it in s.items if isinstance(it, ViT)]
    rgb = [v.astype(np.float32) / 255 for v in views]
    assert max(views[0].shape[:2]) <= model.defaults.vit_max_size  # shown unresized at inference too
    with Recorder(model) as r:
        if task == "compare":
            model.compare(*rgb)
        else:
            model.assess(rgb[0], describe=task == "description")
    context = [it for it in s.items if not (isinstance(it, Text) and it.loss)]
    if task == "description":  # the describe request follows the shared image; the instruction is drawn
        context[-1] = Text(model.tokenizer.encode(prompts.describe_instruction()))
        calls = [r.calls[0], r.calls[2]]  # V, score question, describe request
    elif task == "compare":
        context[-1] = Text(model.tokenizer.encode(prompts.compare_instruction()))
        calls = r.calls[:3]
    else:
        calls = r.calls[:2]
    for rec, item in zip(calls, context, strict=True):
        _same(rec, item, model)


def test_inference_defaults_come_from_the_training_config(setup):
    model, ds, geo = setup
    d = model.defaults
    assert d.sampler.flow_source == "degraded" and d.sampler.timestep_shift == 4.0
    assert (d.vit_max_size, d.vit_min_size, d.assess_native) == (98, 42, True)
    assert model.prep == geo.prep == ImagePrep(14, 98, 42, 16)


def test_float_and_uint8_images_give_identical_items():
    prep = ImagePrep(14, 98, 42, 16)
    u = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    f = u.astype(np.float32) / 255
    assert torch.equal(prep.vae_pixels(u), prep.vae_pixels(f))
    a, b = prep.vit(u), prep.vit(f)
    assert a.grid == b.grid and torch.equal(a.patches, b.patches)
    assert np.array_equal(as_uint8(f), u)
    with pytest.raises(ValueError, match="multiples of 16"):
        prep.vae_pixels(u[:40])


def test_shipped_inference_json_is_derived_from_its_training_config():
    """The shipped inference.json is what the exporter writes from the stage-2 config and the choices
    in configs/tiny/inference.json: they cannot drift apart."""
    import json

    from uare.train.config import load_config

    root = Path(__file__).resolve().parents[1]
    shipped = json.loads((root / "uare" / "weights" / "uare-tiny" / "inference.json").read_text())
    choices = json.loads((root / "configs" / "tiny" / "inference.json").read_text())
    cfg = load_config(root / "configs" / "tiny" / "stage2_iqa.yaml")
    assert shipped == inference_from_training(cfg, choices)
    shipped_cfg = json.loads((root / "uare" / "weights" / "uare-tiny" / "config.json").read_text())
    assert shipped_cfg["timestep_shift"] == cfg.train.timestep_shift == shipped["trained_with"]["timestep_shift"]


@pytest.mark.parametrize(("vmax", "vmin"), [(98, 42), (100, 42), (192, 56), (0, 0), (500, 224)])
def test_training_geometry_and_inference_prep_agree_for_any_sizes(setup, vmax, vmin):
    """ViT limits that are not whole patches (100, 192), 0 (the model's grid / one patch), or beyond the
    model's grid: the training geometry and the exported inference defaults prepare images identically."""
    model, _, _ = setup
    cfg = config_from_dict({"init": {"preset": "micro"}, "data": {"vit_max_size": vmax, "vit_min_size": vmin}})
    defaults = InferenceDefaults.from_dict(inference_from_training(cfg, {}))
    geo = Geometry.for_model(model.config, vmax, vmin)
    old = model.defaults
    try:
        model.defaults = defaults
        assert model.prep == geo.prep
        img = np.random.default_rng(0).integers(0, 256, (37, 190, 3), dtype=np.uint8)  # elongated, odd sides
        a, b = geo.vit(img), model.prep.vit(img.astype(np.float32) / 255)
        assert a.grid == b.grid and torch.equal(a.patches, b.patches)
    finally:
        model.defaults = old


def test_sixteen_bit_images_are_rounded_not_clipped():
    u16 = (np.arange(12, dtype=np.uint16).reshape(2, 2, 3) * 5000)
    assert np.array_equal(as_uint8(u16), ((u16.astype(np.uint32) + 128) // 257).astype(np.uint8))
    with pytest.raises(ValueError, match="uint8 or uint16"):
        as_uint8(np.zeros((2, 2, 3), np.int32))


def test_exporter_reads_old_choice_files_and_refuses_bad_configs_early(tmp_path):
    from uare.train.config import TrainConfigError
    from uare.train.export import main as export_main

    base = {"init": {"preset": "micro"}, "train": {"flow_source": "degraded", "timestep_shift": 4.0}}
    cfg = config_from_dict(base)
    old_style = inference_from_training(cfg, {"steps": 1, "init": "source", "tile": 64})
    assert old_style["sampler"] == {"timestep_shift": 4.0, "flow_source": "degraded", "source_noise": 0.0, "steps": 1}
    assert "steps" not in old_style and old_style["tile"] == 64
    with pytest.raises(UareError, match="flow_source noise cannot sample a model trained with flow_source degraded"):
        inference_from_training(cfg, {"init": "noise"})
    for bad in ({"data": {"vit_min_size": -1}}, {"data": {"vit_max_size": 5000}}, {"train": {"timestep_shift": 0}}):
        with pytest.raises(TrainConfigError):
            config_from_dict({**base, **bad})
    with pytest.raises(SystemExit, match="not a uare model folder"):
        export_main(["--inference-only", str(tmp_path / "typo"), "--train-config", "x.yaml"])
    assert not (tmp_path / "typo").exists()
