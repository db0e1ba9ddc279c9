"""The LQ-guided refiner (uare.model.refiner), its training pool and trainer, the colour check and --fidelity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from uare.errors import UareError
from uare.infer import UARE
from uare.infer.pipeline import _color_check, check_fidelity
from uare.metrics.color import color_shift
from uare.model.config import micro
from uare.model.random_init import init_random
from uare.model.refiner import REFINER_FILE, Refiner, RefinerConfig, load_refiner, save_refiner
from uare.model.tokenizer import train_quality_tokenizer

REPO = Path(__file__).resolve().parents[1]


def _rand_refiner(seed: int = 0, cfg: RefinerConfig | None = None) -> Refiner:
    torch.manual_seed(seed)
    ref = Refiner(cfg or RefinerConfig(channels=8, layers=4))
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.1)
    return ref.eval()


def _img(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)


def test_an_untrained_refiner_returns_the_generated_image_exactly():
    ref = Refiner(RefinerConfig(channels=8, layers=3)).eval()
    lq, gen = _img(20, 30, 0), _img(20, 30, 1)
    assert np.array_equal(ref.refine(lq, gen), gen)


@pytest.mark.parametrize("shape", [(37, 53), (64, 64), (101, 29)])
def test_tiled_refinement_equals_one_whole_image_pass(shape):
    """Tiles read `margin` px of context: the result equals one pass over the whole image (no seams)."""
    ref = _rand_refiner()
    lq, gen = _img(*shape, 2), _img(*shape, 3)
    whole = ref.refine(lq, gen, tile=10_000)
    tiled = ref.refine(lq, gen, tile=16)
    assert np.abs(whole - tiled).max() < 1e-5
    assert not np.allclose(whole, gen)  # the refiner did something


def test_the_margin_bounds_the_receptive_field():
    ref = _rand_refiner(cfg=RefinerConfig(channels=4, layers=5, unshuffle=2))
    lq, gen = np.zeros((80, 80, 3), np.float32), np.zeros((80, 80, 3), np.float32)
    a = ref.refine(lq, gen, tile=10_000)
    lq2 = lq.copy()
    lq2[40, 40] = 1.0
    b = ref.refine(lq2, gen, tile=10_000)
    ys, xs = np.nonzero(np.abs(a - b).max(axis=2) > 0)
    assert ys.size and max(np.abs(ys - 40).max(), np.abs(xs - 40).max()) <= ref.margin


def test_fidelity_blends_between_generated_and_refined():
    ref = _rand_refiner()
    lq, gen = _img(16, 16, 4) * 0.5 + 0.25, _img(16, 16, 5) * 0.5 + 0.25
    half, none = (ref.refine(lq, gen, f) for f in (0.5, 0.0))
    assert np.array_equal(none, gen)
    with torch.no_grad():
        t = [torch.from_numpy(a).permute(2, 0, 1)[None] for a in (lq, gen)]
        res = ref.residual(*t)[0].permute(1, 2, 0).numpy()
    assert np.allclose(half, np.clip(gen + 0.5 * res, 0, 1), atol=1e-6)
    assert not np.allclose(half, gen, atol=1e-3)


def test_save_load_round_trip_and_damaged_files(tmp_path):
    ref = _rand_refiner(cfg=RefinerConfig(channels=6, layers=3))
    save_refiner(ref, tmp_path)
    back = load_refiner(tmp_path)
    assert back is not None and back.config == ref.config
    lq, gen = _img(12, 12, 6), _img(12, 12, 7)
    assert np.array_equal(back.refine(lq, gen), ref.refine(lq, gen))
    assert load_refiner(tmp_path / "nothing") is None
    (tmp_path / REFINER_FILE).write_bytes(b"not safetensors")
    with pytest.raises(UareError, match="not a readable refiner file") as e:
        load_refiner(tmp_path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "x", None])
def test_fidelity_is_validated(bad):
    with pytest.raises(UareError, match="fidelity"):
        check_fidelity(bad)


def test_refiner_config_is_validated():
    with pytest.raises(UareError, match="unshuffle"):
        RefinerConfig(unshuffle=3)
    with pytest.raises(UareError, match="layers"):
        RefinerConfig(layers=1)


def test_the_colour_check_blends_back_then_returns_the_input():
    rng = np.random.default_rng(0)
    lq = np.clip(rng.random((32, 32, 3)) * 0.2 + np.array([0.7, 0.1, 0.1]), 0, 1).astype(np.float32)
    notes: list[str] = []
    same = _color_check(lq * 0.99, lq, 1.0, notes)
    assert np.array_equal(same, lq * 0.99) and notes == []
    cyan = lq[..., ::-1].copy()  # red -> blue: a hue flip
    out = _color_check(cyan, lq, 1.0, notes)
    assert np.array_equal(out, lq) and "returned the input unchanged" in notes[-1]
    mild = np.clip(lq + np.array([0.0, 0.03, 0.0], np.float32), 0, 1)  # a shift that half the step fixes
    s = color_shift(mild, lq, scale=1.0)
    out = _color_check(mild, lq, s * 0.6, notes)
    assert "blended halfway back" in notes[-1] and np.allclose(out, lq + 0.5 * (mild - lq))


@pytest.fixture(scope="module")
def micro_dir(tmp_path_factory) -> Path:
    tok = train_quality_tokenizer(vocab_size=600, n_samples=1500, seed=0)
    out = tmp_path_factory.mktemp("ck") / "micro"
    init_random(out, micro(vocab_size=tok.vocab_size), fmt="uare", seed=0, tokenizer=tok)
    (out / "inference.json").write_text('{"steps": 1, "max_analysis_tokens": 8, "keep_level": ""}')
    return out


def test_a_folder_refiner_is_used_and_fidelity_zero_is_the_generated_image(micro_dir, tmp_path):
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(micro_dir, folder)
    img = (_img(32, 40, 8) * 255).astype(np.uint8)
    plain = UARE.from_pretrained(folder)
    assert plain.refiner is None
    base = plain.restore(img, assess=False, seed=0).image
    save_refiner(_rand_refiner(), folder)
    m = UARE.from_pretrained(folder)
    assert m.refiner is not None
    assert np.array_equal(m.restore(img, assess=False, seed=0, fidelity=0.0).image, base)
    refined = m.restore(img, assess=False, seed=0).image
    assert not np.array_equal(refined, base)
    assert np.array_equal(m.restore(img, assess=False, seed=0).image, refined)  # deterministic
    with pytest.raises(UareError, match="fidelity"):
        m.restore(img, fidelity=2.0)


def test_cli_fidelity_flag_is_validated(tmp_path):
    src = tmp_path / "a.png"
    from PIL import Image

    Image.fromarray((_img(16, 16, 9) * 255).astype(np.uint8)).save(src)
    p = subprocess.run([sys.executable, "-m", "uare", "restore", str(src), "-o", str(tmp_path / "o.png"),
                        "--fidelity", "1.5"], capture_output=True, text=True)
    assert p.returncode == 2 and not (tmp_path / "o.png").exists()
    assert "--fidelity" in p.stderr and "[0, 1]" in p.stderr


# ---------------------------------------------------------------- grid measure, colour augmentation, colour set
def test_grid_ratio_sees_an_8px_block_grid_and_not_plain_texture():
    from uare.metrics.grid import grid_ratio

    rng = np.random.default_rng(0)
    texture = rng.random((96, 96))
    assert abs(grid_ratio(texture) - 1.0) < 0.05
    blocks = np.kron(rng.random((12, 12)), np.ones((8, 8))) * 0.3 + texture * 0.1
    assert grid_ratio(blocks) > 1.3
    assert abs(grid_ratio(blocks, offset=4) - 1.0) < grid_ratio(blocks) - 1.0  # the grid is at 0 mod 8
    with pytest.raises(ValueError, match="larger than"):
        grid_ratio(texture[:10, :10])


def test_colour_augmentation_is_seeded_keeps_gray_and_changes_hue():
    from uare.data.augment import ColorAugment, chroma

    rng = np.random.default_rng(0)
    img = np.clip(rng.normal([160, 80, 80], 10, (32, 32, 3)), 0, 255).astype(np.uint8)  # a red (no clipping)
    aug = ColorAugment(p_hue=1.0, p_permute=0.0, p_saturation=0.0)
    a, b = aug(img, np.random.default_rng(5)), aug(img, np.random.default_rng(5))
    assert np.array_equal(a, b) and not np.array_equal(a, img)
    luma = np.array([0.299, 0.587, 0.114])
    assert abs((a @ luma).mean() - (img @ luma).mean()) < 3.0  # hue rotation keeps the luma (up to clipping)
    gray = np.repeat(rng.integers(0, 256, (16, 16, 1), dtype=np.uint8), 3, axis=2)
    g = ColorAugment(p_hue=1.0, p_permute=1.0, p_saturation=1.0)(gray, rng)
    assert np.abs(g.astype(int) - gray).max() <= 1 and chroma(g) < 1.0  # gray has no hue to rotate
    hues = {tuple(np.sign(aug(img, np.random.default_rng(s)).reshape(-1, 3).mean(0) - img.mean()).astype(int))
            for s in range(12)}
    assert len(hues) > 2  # the red crop comes out in several hues


def test_saturated_crops_pick_the_most_chromatic_window(tmp_path):
    from PIL import Image

    from uare.eval.colorset import saturated_crops

    img = np.full((64, 96, 3), 128, np.uint8)
    img[16:48, 56:88] = [220, 20, 30]
    (tmp_path / "a").mkdir()
    Image.fromarray(img).save(tmp_path / "a" / "x.png")
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(tmp_path / "a" / "gray.png")
    crops = saturated_crops([tmp_path / "a"], size=32, min_chroma=20.0, stride=8)
    assert [c.name for c in crops] == ["a/x@16,56"] and crops[0].chroma > 60


# ---------------------------------------------------------------- pool and trainer (micro model, micro pool)
def test_pool_and_training_run_resume_and_export(micro_dir, tmp_path):
    from PIL import Image

    from uare.train import refiner as tr

    data = tmp_path / "train"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (72, 72, 3), dtype=np.uint8)).save(data / f"{i}.png")
    images, weights = tr.training_images([str(data)], min_side=64)
    assert len(images) == 3 and np.isclose(weights.sum(), 1.0)
    m = UARE.from_pretrained(micro_dir)
    pool = tmp_path / "pool"
    for shard in (0, 1):
        tr.build_pool(m, images, weights, 3, shard, pool, crop=64, log_every=0)
    t, meta = tr.load_pool(pool)
    assert t["hq"].shape == (6, 64, 64, 3) and t["lq"].shape == t["gen"].shape == (6, 64, 64, 3)
    assert {x["mode"] for x in meta} <= {"blind", "named", "plain"} and len(meta) == 6
    again, _ = tr.load_pool(pool, [0])
    rebuilt = tmp_path / "pool2"
    tr.build_pool(m, images, weights, 3, 0, rebuilt, crop=64, log_every=0)
    assert torch.equal(tr.load_pool(rebuilt)[0]["gen"], again["gen"])  # a shard is a function of its seed
    cfg = RefinerConfig(channels=4, layers=3)
    run = tmp_path / "run"
    tr.train(pool, run, steps=4, batch=2, crop=16, config=cfg, val_shards=(0,), save_every=2)
    straight = load_refiner(run / "latest")
    run2 = tmp_path / "run2"
    tr.train(pool, run2, steps=4, batch=2, crop=16, config=cfg, val_shards=(0,), save_every=2, stop_at=2)
    tr.train(pool, run2, steps=4, batch=2, crop=16, config=cfg, val_shards=(0,), save_every=2)  # resumes
    resumed = load_refiner(run2 / "latest")
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), k  # resuming continues bit for bit
    log = [line for line in (run / "log.jsonl").read_text().splitlines() if line]
    assert len(log) == 2 and "val" in log[-1]
    with pytest.raises(UareError, match="test set"):
        tr.training_images([str(REPO.parent / "shared" / "datasets" / "test" / "Set5")])



# ---------------------------------------------------------------- the bank of per-category heads
def _rand_bank(cats=("jpeg", "noise", "blur", "lowres")):
    from uare.model.refiner import RefinerBank

    torch.manual_seed(0)
    bank = RefinerBank(RefinerConfig(channels=6, layers=3), tuple(cats))
    with torch.no_grad():
        for p in bank.parameters():
            p.normal_(0, 0.05)
    return bank.eval()


def test_a_bank_routes_in_restoration_order_and_round_trips(tmp_path):
    from uare.model.refiner import RefinerBank

    bank = _rand_bank(("noise", "lowres", "jpeg"))
    assert bank.route({"lowres", "haze", "noise", "jpeg", "blur"}) == ["jpeg", "noise", "lowres"]
    x = _img(24, 24, 10)
    chained = bank.heads["noise"].refine(bank.heads["jpeg"].refine(x, x), bank.heads["jpeg"].refine(x, x))
    assert np.allclose(bank.restore(x, ["jpeg", "noise"]), chained, atol=1e-6)
    save_refiner(bank, tmp_path, torch.float16)
    back = load_refiner(tmp_path)
    assert isinstance(back, RefinerBank) and list(back.heads) == ["noise", "lowres", "jpeg"]
    assert np.abs(back.restore(x, ["noise"]) - bank.restore(x, ["noise"])).max() < 2e-3  # fp16 weights
    with pytest.raises(UareError, match="no refiner head"):
        RefinerBank(RefinerConfig(), ("rain",))


def test_the_pipeline_runs_the_heads_of_the_treated_categories(micro_dir, tmp_path):
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(micro_dir, folder)
    img = (_img(32, 40, 11) * 255).astype(np.uint8)
    base = UARE.from_pretrained(folder)
    save_refiner(_rand_bank(), folder)
    m = UARE.from_pretrained(folder)
    for task, heads in (("denoise", "noise"), ("jpeg", "jpeg"), ("deblur", "blur"), ("sr", "lowres")):
        r = m.restore(img, task=task, assess=False, seed=0)
        assert f"LQ-guided heads: {heads} (fidelity 1)" in r.notes
        assert not np.array_equal(r.image, base.restore(img, task=task, assess=False, seed=0).image)
        assert np.array_equal(m.restore(img, task=task, assess=False, seed=0, fidelity=0.0).image,
                              base.restore(img, task=task, assess=False, seed=0).image)
    r = m.restore(img, task="auto", assess=False, scale=2, seed=0)  # up-scaling always treats lowres
    assert "LQ-guided heads: lowres (fidelity 1)" in r.notes
    for task, heads in (("lowlight", "noise"), ("dehaze", "none")):  # the generation's tone, the input's detail
        r = m.restore(img, task=task, assess=False, seed=0)
        assert f"tone from the generation, detail from the input; LQ-guided heads: {heads} (fidelity 1)" in r.notes
        assert np.array_equal(m.restore(img, task=task, assess=False, seed=0, fidelity=0.0).image,
                              base.restore(img, task=task, assess=False, seed=0).image)
    r = m.restore(img, task="auto", assess=False, seed=0)  # nothing known, nothing routed
    assert not any("LQ-guided" in n for n in r.notes)


def test_a_named_x4_sr_swaps_in_the_bicubic_head_and_nothing_else_does(micro_dir, tmp_path):
    """``bicubic_x4`` (NAMED_HEADS) replaces the blind lowres head for ``--task sr --scale 4`` only, says so in the
    notes, round-trips through a folder, and a bank without it routes as before."""
    import shutil

    from uare.model.refiner import NAMED_HEADS, RefinerBank

    assert NAMED_HEADS["bicubic_x4"] == ("lowres", "sr", 4)
    bank = _rand_bank(("jpeg", "noise", "blur", "lowres", "bicubic_x4"))
    assert bank.route({"lowres"}, "sr", 4) == ["bicubic_x4"]
    assert bank.route({"lowres", "jpeg"}, "auto", 4) == ["jpeg", "lowres"]  # blind: the real-world head
    assert bank.route({"lowres"}, "sr", 2) == ["lowres"]  # trained on x4 only
    assert bank.route({"lowres"}) == ["lowres"]
    assert _rand_bank().route({"lowres"}, "sr", 4) == ["lowres"]  # a bank without it: as before
    folder = tmp_path / "m"
    shutil.copytree(micro_dir, folder)
    save_refiner(bank, folder)
    back = load_refiner(folder)
    assert isinstance(back, RefinerBank) and list(back.heads) == list(bank.heads)
    m = UARE.from_pretrained(folder)
    img = (_img(16, 20, 12) * 255).astype(np.uint8)
    named = m.restore(img, task="sr", scale=4, assess=False, seed=0)
    assert "LQ-guided heads: bicubic_x4 (fidelity 1)" in named.notes
    assert any(n.startswith("bicubic_x4 head in place of lowres") and "leave --task out" in n for n in named.notes)
    blind = m.restore(img, task="auto", scale=4, assess=False, seed=0)
    assert "LQ-guided heads: lowres (fidelity 1)" in blind.notes
    assert not any("in place of" in n for n in blind.notes)
    x2 = m.restore(img, task="sr", scale=2, assess=False, seed=0)
    assert "LQ-guided heads: lowres (fidelity 1)" in x2.notes
    assert not np.array_equal(named.image, blind.image)  # two heads, two outputs
    # the swap is the only difference: with bicubic_x4 holding lowres's weights, the named x4 equals that of the
    # same bank without bicubic_x4
    sd = bank.state_dict()
    bank.load_state_dict({k: (sd[k.replace("heads.bicubic_x4.", "heads.lowres.")]) for k in sd})
    save_refiner(bank, folder)
    same = UARE.from_pretrained(folder).restore(img, task="sr", scale=4, assess=False, seed=0)
    four = RefinerBank(bank.config, ("jpeg", "noise", "blur", "lowres"))
    four.load_state_dict({k: v for k, v in sd.items() if not k.startswith("heads.bicubic_x4.")})
    save_refiner(four, folder)
    plain = UARE.from_pretrained(folder).restore(img, task="sr", scale=4, assess=False, seed=0)
    assert "LQ-guided heads: lowres (fidelity 1)" in plain.notes
    assert np.array_equal(same.image, plain.image) and not np.array_equal(same.image, named.image)


def test_a_named_head_trains_from_the_head_it_replaces(tmp_path):
    """``heads --categories bicubic_x4 --init FOLDER``: a bank without that head starts it from ``lowres``."""
    from uare.train import refiner as tr

    bank = _rand_bank()
    save_refiner(bank, tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    from PIL import Image

    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(data / f"{i}.png")
    assert tr.heads_main(["--data", str(data), "--out", str(tmp_path / "h"), "--init", str(tmp_path),
                          "--categories", "bicubic_x4", "--steps", "1", "--lr", "1e-12", "--crop", "32",
                          "--batch", "2"]) == 0
    head = load_refiner(tmp_path / "h" / "bicubic_x4")
    for k, v in head.state_dict().items():
        assert torch.allclose(v, bank.heads["lowres"].state_dict()[k], atol=1e-6), k
    built = tr.build_bank(tmp_path / "h")
    assert list(built.heads) == ["bicubic_x4"]


def test_trained_heads_become_one_bank(tmp_path):
    from uare.model.refiner import RefinerBank
    from uare.train import refiner as tr

    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(2)]
    w = np.full(2, 0.5)
    for c in ("noise", "lowres"):
        _, steps = tr.train_head(c, imgs, w, tmp_path / "heads", minutes=1.0, crop=32, batch=2,
                                 config=RefinerConfig(4, 3), max_steps=2)
        assert steps == 2
    bank = tr.build_bank(tmp_path / "heads")
    assert isinstance(bank, RefinerBank) and list(bank.heads) == ["noise", "lowres"]
    lq, hq = tr.head_pair(imgs[0][:32, :32], "lowres", rng)
    assert lq.shape == hq.shape == (32, 32, 3)
    with pytest.raises(UareError, match="no trained heads"):
        tr.build_bank(tmp_path / "none")


def test_tone_transfer_keeps_the_tone_and_removes_an_8px_grid():
    from uare.metrics.grid import grid_ratio
    from uare.model.refiner import tone_transfer

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:96] / 96.0
    clean = np.clip(0.4 + 0.3 * np.sin(6 * xx)[..., None] * np.array([1, 0.8, 0.6]) + 0.03 * rng.standard_normal((96, 96, 3)),
                    0, 1).astype(np.float32)
    dark = clean * 0.25
    grid = np.kron(rng.standard_normal((12, 12)), np.ones((8, 8)))[..., None] * 0.03
    gen = np.clip(clean + grid, 0, 1).astype(np.float32)  # right tone, a token grid
    assert grid_ratio(gen) > 1.3
    out = tone_transfer(gen, dark)
    assert grid_ratio(out) < 1.05
    assert abs(out.mean() - clean.mean()) < 0.02 and np.abs(out - clean).mean() < np.abs(gen - clean).mean()


SHARED = REPO.parent / "shared" / "datasets"


@pytest.mark.skipif(not (SHARED / "train" / "bsd200").is_dir() or not (SHARED / "test" / "CBSD68").is_dir(),
                    reason="needs ../shared/datasets (training and test images)")
def test_the_same_budget_control_runs_at_micro_size(tmp_path):
    """benchmarks/control.py --micro: a few steps of the plain CNN per setting, evaluated like the bench."""
    import json

    p = subprocess.run([sys.executable, str(REPO / "benchmarks" / "control.py"), "--micro", "--threads", "1",
                        "--settings", "noise_s25,sr_x4", "--out", str(tmp_path)], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads((tmp_path / "control.json").read_text())
    assert set(r["settings"]) == {"noise_s25", "sr_x4"}
    for v in r["settings"].values():
        assert v["steps"] == 3 and v["n"] == 2 and np.isfinite(v["control"]) and abs(v["gain_db"]) < 1.0
    assert (tmp_path / "control.md").read_text().startswith("| setting |")


@pytest.mark.skipif(not (SHARED / "train" / "bsd200").is_dir() or not (SHARED / "test" / "CBSD68").is_dir(),
                    reason="needs ../shared/datasets (training and test images)")
def test_the_control_trains_on_the_heads_blind_draws_when_asked(tmp_path):
    """--draws head: the control learns from the same blind draws as uare's head of that category (so the two
    are compared on one problem); a setting without a head is refused with one line, exit 2."""
    import json

    ctl = [sys.executable, str(REPO / "benchmarks" / "control.py"), "--micro", "--threads", "1", "--draws", "head"]
    p = subprocess.run([*ctl, "--settings", "blur_s2,sr_x4", "--out", str(tmp_path)], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads((tmp_path / "control.json").read_text())
    assert r["draws"] == "head" and set(r["settings"]) == {"blur_s2", "sr_x4"}
    assert all(v["steps"] == 3 and np.isfinite(v["control"]) for v in r["settings"].values())
    bad = subprocess.run([*ctl, "--settings", "lowlight", "--out", str(tmp_path / "bad")], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "no uare head for lowlight" in bad.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "bad").exists()


def test_head_training_resumes_bit_for_bit_and_logs_a_curve(tmp_path):
    from uare.model.refiner import Refiner, load_refiner
    from uare.train import refiner as tr

    rng = np.random.default_rng(1)
    imgs = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(2)]
    w = np.full(2, 0.5)
    kw = dict(crop=32, batch=2, config=RefinerConfig(4, 3), steps=4, save_every=2, val_n=4)
    tr.train_head("jpeg", imgs, w, tmp_path / "once", **kw)
    _, done = tr.train_head("jpeg", imgs, w, tmp_path / "twice", stop_at=2, **kw)
    assert done == 2 and json.loads((tmp_path / "twice" / "jpeg" / "state.json").read_text())["steps"] == 2
    _, done = tr.train_head("jpeg", imgs, w, tmp_path / "twice", **kw)  # resumes at step 2
    assert done == 4
    a, b = load_refiner(tmp_path / "once" / "jpeg"), load_refiner(tmp_path / "twice" / "jpeg")
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), k
    log = [json.loads(ln) for ln in (tmp_path / "once" / "jpeg" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4] and set(log[0]["val"]) == {"input", "head", "gain"}
    # fine-tuning starts from the given head, not from a fresh one
    init = Refiner(RefinerConfig(4, 3))
    torch.nn.init.normal_(init.body[-1].weight, std=0.1)  # not the zero init a fresh head has
    ref, _ = tr.train_head("noise", imgs, w, tmp_path / "ft", init=init, lr=1e-12, **kw)
    for (k, x), (_, y) in zip(init.state_dict().items(), ref.state_dict().items(), strict=True):
        assert torch.allclose(x, y, atol=1e-6), k


def test_jpeg_blockiness_sees_jpeg_at_any_grid_phase_and_not_noise_or_blur():
    import cv2

    from uare.data.images import load_rgb
    from uare.metrics.grid import jpeg_blockiness

    root = Path(__file__).resolve().parents[1]
    clean = load_rgb(root / "examples" / "coffee.png")
    ok, buf = cv2.imencode(".jpg", clean[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 20])
    jpg = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255)
    blurred = cv2.GaussianBlur(clean, (0, 0), 2)
    for other in (clean, noisy, blurred, clean[3:, 5:]):
        assert jpeg_blockiness(other) < 1.1
    for dy, dx in ((0, 0), (3, 5), (7, 1)):  # a crop moves the grid's phase
        assert jpeg_blockiness(jpg[dy:, dx:]) > 1.4
    assert jpeg_blockiness(clean / 255.0) == pytest.approx(jpeg_blockiness(clean))
    with pytest.raises(ValueError, match="larger than 16 px"):
        jpeg_blockiness(clean[:10, :10])


def test_blind_restoration_treats_measured_jpeg_blocking(micro_dir, tmp_path):
    import dataclasses
    import shutil

    import cv2

    folder = tmp_path / "m"
    shutil.copytree(micro_dir, folder)
    save_refiner(_rand_bank(), folder)
    m = UARE.from_pretrained(folder)
    m.defaults = dataclasses.replace(m.defaults, keep_level=None, jpeg_blockiness=1.25)
    x = (_img(64, 80, 3) * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", x[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 10])
    jpg = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
    small = np.ascontiguousarray(jpg[:56])  # under 64 px a side: not measured (too few 8-px blocks)
    assert not any(d.get("source") for d in m.restore(small, seed=0).assessment_before.degradations)
    r = m.restore(jpg, seed=0)
    measured = [d for d in r.assessment_before.degradations if d.get("source") == "measured"]
    assert [d["type"] for d in measured] == ["jpeg"], r.assessment_before
    assert "LQ-guided heads: jpeg (fidelity 1)" in r.notes, r.notes
    r2 = m.restore(jpg, seed=0, scale=2)  # deblocked at the input's size, then enlarged
    assert r2.image.shape[:2] == (128, 160) and any("LQ-guided heads: jpeg" in n for n in r2.notes)
    smooth = np.ascontiguousarray(cv2.GaussianBlur(x, (0, 0), 1.0))
    assert not any(d.get("source") for d in m.restore(smooth, seed=0).assessment_before.degradations)
    m.defaults = dataclasses.replace(m.defaults, jpeg_blockiness=0.0)  # off
    assert not any(d.get("source") for d in m.restore(jpg, seed=0).assessment_before.degradations)


def test_lowlight_headroom_reads_the_brightest_pixels_and_not_saturated_colour():
    from uare.degrade import degrade
    from uare.infer.pipeline import lowlight_headroom

    x = (_img(64, 80, 11) * 255).astype(np.uint8)
    x[0, :8] = 255  # a few highlights (0.16 % of the pixels) do not make an image bright
    assert lowlight_headroom(x) == pytest.approx(lowlight_headroom(x / 255.0), abs=1e-6)
    # an exact reference: the 99.5th percentile of max(R, G, B)
    assert lowlight_headroom(x) == pytest.approx(np.percentile(x.max(axis=2) / 255.0, 99.5), abs=1e-6)
    assert lowlight_headroom((x * 0.4).astype(np.uint8)) <= 0.4 + 1e-6
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 200  # a deep red: luma 0.23, but a full-strength channel
    assert lowlight_headroom(red) == pytest.approx(200 / 255)
    bright = np.clip(_img(96, 96, 12) * 1.6, 0, 1)
    dark, _ = degrade((bright * 255).astype(np.uint8), "single", types=["lowlight"], severity=4, seed=0)
    assert lowlight_headroom(dark) < 0.42 < lowlight_headroom(bright)


def test_measured_underexposure_joins_the_findings_only_when_the_model_missed_or_underrated_it():
    from uare.infer.pipeline import InferenceDefaults, _checked_findings

    d = InferenceDefaults(lowlight_headroom=0.52)
    dim = np.full((40, 40, 3), 0.3, np.float32)
    dim[0, 0] = 0.9  # one highlight pixel: still no headroom
    noise = {"type": "noise", "severity": "mild"}
    out = _checked_findings([noise], dim, d)
    assert out == [{"type": "lowlight", "severity": "severe", "kind": "exposure", "source": "measured"}, noise]
    mild = {"type": "lowlight", "severity": "mild", "kind": "exposure"}
    assert _checked_findings([mild], dim * 1.5, d)[0] == {"type": "lowlight", "severity": "moderate",
                                                            "kind": "exposure", "source": "measured"}
    own = {"type": "lowlight", "severity": "severe", "kind": "exposure"}
    assert _checked_findings([own], dim, d) == [own]  # the model's own, as severe: kept
    assert _checked_findings([noise], dim * 2.5, d) == [noise]  # 0.75: bright enough
    assert _checked_findings([noise], dim, InferenceDefaults()) == [noise]  # 0 = off


def test_blind_restoration_brightens_measured_underexposure_past_the_gate(micro_dir, tmp_path):
    import dataclasses

    from uare.errors import UareError
    from uare.infer.pipeline import InferenceDefaults

    m = UARE.from_pretrained(micro_dir)
    m.defaults = dataclasses.replace(m.defaults, keep_level="bad", lowlight_headroom=0.52)
    dark = (_img(48, 64, 13) * 0.35 * 255).astype(np.uint8)
    r = m.restore(dark, seed=0)
    measured = [x for x in r.assessment_before.degradations if x.get("source") == "measured"]
    assert [x["type"] for x in measured] == ["lowlight"], r.assessment_before
    assert "underexposure" in r.assessment_before.text
    assert r.unchanged is None and any("lowlight measured on the input: restored" in n or "tone from" in n
                                       for n in r.notes), r.notes
    bright = (_img(48, 64, 13) * 255).astype(np.uint8)
    assert not any(x.get("source") for x in m.restore(bright, seed=0).assessment_before.degradations)
    (tmp_path / "inference.json").write_text('{"lowlight_headroom": 2}')
    with pytest.raises(UareError, match="lowlight_headroom"):
        InferenceDefaults.from_folder(tmp_path)


def test_an_unchanged_output_says_why_and_the_way_out(micro_dir, tmp_path):
    import dataclasses

    m = UARE.from_pretrained(micro_dir)
    img = (_img(32, 40, 5) * 255).astype(np.uint8)
    r = m.restore(img, task="denoise", assess=False, seed=0)
    assert r.unchanged is None and not np.array_equal(r.image, img)
    m.defaults = dataclasses.replace(m.defaults, strength={"noise": 0.0})
    r = m.restore(img, task="denoise", assess=False, seed=0)
    assert np.array_equal(r.image, img)
    assert r.unchanged == "this model does not improve noise yet (inference.json strength 0)"
    r = m.restore(img, task="denoise", assess=False, seed=0, scale=2)
    assert r.unchanged.endswith("(enlarged 2x by bicubic only)")
    m.defaults = dataclasses.replace(m.defaults, strength={}, keep_level="bad")  # every level passes the gate
    r = m.restore(img, seed=0)
    assert r.unchanged.startswith(f"rated {r.assessment_before.level} (") and r.unchanged.endswith(
        "; --force to restore anyway")
    assert r.to_dict()["unchanged"] == r.unchanged
    assert m.restore(img, seed=0, force=True).unchanged is None


def test_the_cli_prints_the_unchanged_line_and_folder_counts(tmp_path):
    from PIL import Image

    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "in"
    src.mkdir()
    Image.open(root / "examples" / "coffee.png").crop((0, 0, 96, 96)).save(src / "clean.png")  # rated good
    base = [sys.executable, "-m", "uare", "restore", "--threads", "1"]
    r = subprocess.run([*base, str(src / "clean.png"), "-o", str(tmp_path / "one.png")], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("  unchanged: rated good (") and "--force" in lines[1]
    r = subprocess.run([*base, str(src), "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "restored 0, unchanged 1, skipped 0" in r.stderr, r.stderr


def test_luma_contrast_is_the_std_of_bt601_luma_and_haze_lowers_it():
    import cv2

    from uare.degrade import degrade
    from uare.metrics.exposure import luma_contrast

    x = (_img(64, 80, 21) * 255).astype(np.uint8)
    ref = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255.0  # OpenCV's BT.601 luma, rounded to 8 bits
    assert luma_contrast(x) == pytest.approx(ref.std(), abs=2e-3)
    assert luma_contrast(x) == pytest.approx(luma_contrast(x / 255.0), abs=1e-6)
    assert luma_contrast(x[..., 0]) == pytest.approx((x[..., 0] / 255.0).std(), abs=1e-6)  # gray
    assert luma_contrast(np.full((8, 8, 3), 0.7)) == pytest.approx(0.0, abs=1e-6)
    hazy, _ = degrade(x, "single", types=["haze"], severity=3, seed=0)
    assert luma_contrast(hazy) < 0.8 * luma_contrast(x)


def test_a_haze_diagnosis_of_a_contrasty_or_colourful_image_is_doubted():
    from uare.degrade import degrade
    from uare.infer.pipeline import HAZE_MAX_CONTRAST, _doubted
    from uare.metrics.exposure import luma_contrast

    stripes = np.zeros((64, 64, 3), np.float32)
    stripes[:, ::8] = 0.9  # grey, high contrast: not hazy
    stripes += 0.05
    assert luma_contrast(stripes) >= HAZE_MAX_CONTRAST
    assert _doubted({"haze", "noise"}, stripes) == {"haze"}
    flat = np.full((64, 64, 3), 0.6, np.float32)
    flat[:, ::8] = 0.7  # grey, low contrast: a haze diagnosis stands
    assert luma_contrast(flat) < HAZE_MAX_CONTRAST and _doubted({"haze"}, flat) == set()
    hazy, _ = degrade((stripes * 255).astype(np.uint8), "single", types=["haze"], severity=4, seed=0)
    assert _doubted({"haze"}, hazy / 255.0) == set()


@pytest.mark.parametrize("task,scale,severity,expected", [
    ("auto", 1, "strong", {"blur", "jpeg"}),     # soft at the same size: the blur head, not the x4 one
    ("auto", 1, "moderate", {"blur", "jpeg"}),
    ("auto", 1, "mild", {"jpeg"}),               # slightly soft: left as it is
    ("auto", 1, "slight", {"jpeg"}),
    ("auto", 4, "mild", {"lowres", "jpeg"}),     # an enlargement: the lowres head
    ("sr", 1, "mild", {"lowres"}),               # named: what the user asked for
])
def test_same_size_low_resolution_routes_to_the_blur_head_from_moderate_up(task, scale, severity, expected):
    from types import SimpleNamespace

    from uare.infer.outputs import Assessment
    from uare.infer.pipeline import _head_categories, _soft_note

    a = Assessment(3.0, "fair", {}, [{"type": "lowres", "severity": severity}, {"type": "jpeg", "severity": "mild"}], "")
    job = SimpleNamespace(task=task, scale=scale, assessment=a, plan_text=None, skipped=set())
    assert _head_categories(job) == expected
    note = _soft_note(job)
    if task != "auto" or scale != 1:
        assert note == ""
    else:
        assert (("left as it is" in note) if severity in ("mild", "slight") else ("blur head" in note)), note


def _replayed_draw(state: dict, table: tuple) -> tuple[str, tuple[str, ...], np.random.Generator]:
    """The draw ``head_pair`` made from the generator ``state``: (pipeline, types, the generator after the choice)."""
    r = np.random.default_rng(0)
    r.bit_generator.state = state
    pipeline, types = table[int(r.integers(len(table)))]
    return pipeline, types, r


def test_tone_draws_give_the_low_light_paths_input_and_only_to_the_noise_head(tmp_path, capsys):
    """``heads --tone-draws``: the noise head also meets what it sees on the low-light path, the clean crop's tone
    on a darkened crop's (brightened) detail; other heads refuse the flag with a one-line error, exit 2."""
    from uare.degrade import degrade
    from uare.model.refiner import tone_transfer
    from uare.train import refiner as tr

    yy, xx = np.mgrid[0:48, 0:48] / 48.0
    hq = (np.clip(0.5 + 0.3 * np.sin(5 * xx + 3 * yy), 0, 1)[..., None] * np.array([1.0, 0.8, 0.6]) * 255).astype(np.uint8)
    rng = np.random.default_rng(3)
    seen = set()
    for _ in range(40):
        state = rng.bit_generator.state
        lq, gt = tr.head_pair(hq, "noise", rng, tone=True)
        assert lq.shape == gt.shape == hq.shape and lq.dtype == np.uint8 and np.array_equal(gt, hq)
        # replay the draw: a tone draw is exactly tone_transfer(clean, darkened)
        pipeline, types, r = _replayed_draw(state, tr.HEAD_DRAWS["noise"] + tr.TONE_DRAWS["noise"])
        seen.add(pipeline)
        if pipeline.startswith("tone-"):
            dark, _ = degrade(hq, pipeline[5:], types=list(types), severity=int(r.integers(1, 6)), seed=int(r.integers(2**31)))
            want = np.round(tone_transfer(hq / 255.0, dark / 255.0) * 255.0).astype(np.uint8)
            assert np.array_equal(lq, want)
            # the clean tone, not the darkened one (clipping the amplified noise moves the mean a little)
            assert abs(float(lq.mean()) - float(hq.mean())) < 0.25 * float(hq.mean()) < float(hq.mean() - dark.mean())
    assert {"tone-single", "tone-multi", "single"} <= seen
    with pytest.raises(SystemExit) as e:
        tr.heads_main(["--out", str(tmp_path / "h"), "--categories", "blur", "--tone-draws", "--steps", "1"])
    assert e.value.code == 2 and "--tone-draws trains noise only" in capsys.readouterr().err


def test_chain_draws_give_the_blur_head_what_the_earlier_heads_leave(tmp_path, capsys):
    """``heads --chain-draws``: the blur head also meets a blur + JPEG (or blur + noise) crop after the bank's
    JPEG (or noise) head, as the chain runs them at inference; other heads, and a run without --init, refuse the
    flag with a one-line error, exit 2."""
    from uare.degrade import degrade
    from uare.model.refiner import RefinerBank
    from uare.train import refiner as tr

    torch.manual_seed(0)
    bank = RefinerBank()
    for head in bank.heads.values():  # a non-trivial chain: the zero-initialised last layers made random
        torch.nn.init.normal_(head.body[-1].weight, std=0.02)
    yy, xx = np.mgrid[0:48, 0:48] / 48.0
    hq = (np.clip(0.5 + 0.3 * np.sin(9 * xx + 4 * yy), 0, 1)[..., None] * np.array([1.0, 0.7, 0.4]) * 255).astype(np.uint8)
    rng = np.random.default_rng(5)
    seen = set()
    for _ in range(30):
        state = rng.bit_generator.state
        lq, gt = tr.head_pair(hq, "blur", rng, chain=bank)
        assert lq.shape == gt.shape == hq.shape and lq.dtype == np.uint8 and np.array_equal(gt, hq)
        pipeline, types, r = _replayed_draw(state, tr.HEAD_DRAWS["blur"] + tr.CHAIN_DRAWS["blur"])
        if pipeline.startswith("chain-"):
            seen.add(types)
            deg, _ = degrade(hq, pipeline[6:], types=list(types), severity=int(r.integers(1, 6)), seed=int(r.integers(2**31)))
            head = "jpeg" if "jpeg" in types else "noise"
            want = bank.heads[head].refine(deg / 255.0, deg / 255.0)  # the earlier head, exactly as inference runs it
            assert np.array_equal(lq, np.round(want * 255.0).astype(np.uint8))
            assert not np.array_equal(lq, deg)  # the earlier head changed it
    assert seen == {("blur", "jpeg"), ("blur", "noise")}
    assert np.array_equal(tr.head_pair(hq, "blur", np.random.default_rng(1))[0],
                          tr.head_pair(hq, "blur", np.random.default_rng(1))[0])  # no chain: the plain draws
    lq, _ = tr.head_pair(hq, "noise", np.random.default_rng(2), chain=bank)  # the noise head: after the JPEG head
    assert lq.shape == hq.shape and tr.CHAIN_DRAWS["noise"] == (("chain-multi", ("noise", "jpeg")),)
    for argv, msg in ((["--categories", "jpeg", "--chain-draws", "--init", str(tmp_path)], "--chain-draws trains blur, noise only"),
                      (["--categories", "blur", "--chain-draws"], "--chain-draws runs the earlier heads")):
        with pytest.raises(SystemExit) as e:
            tr.heads_main(["--out", str(tmp_path / "h"), "--steps", "1", *argv])
        assert e.value.code == 2 and msg in capsys.readouterr().err


# ---------------------------------------------------------------- self-ensemble of the heads
def _views_by_hand(bank, x: np.ndarray, heads: list[str], views: int) -> np.ndarray:
    """The self-ensemble written out with numpy: the chain on each flipped / rotated view, turned back, averaged."""
    h, w = x.shape[:2]
    p = np.pad(x, ((0, -h % 8), (0, -w % 8), (0, 0)), mode="edge")
    views_ = [lambda a: a, lambda a: a[:, ::-1], lambda a: a[::-1, ::-1], lambda a: a[::-1, :]]
    inverse = [lambda a: a, lambda a: a[:, ::-1], lambda a: a[::-1, ::-1], lambda a: a[::-1, :]]
    outs = [inv(bank.restore(np.ascontiguousarray(f(p)), heads)) for f, inv in zip(views_[:views], inverse, strict=False)]
    return np.mean(outs, axis=0)[:h, :w]


@pytest.mark.parametrize("shape", [(24, 32), (21, 30)])
def test_self_ensemble_averages_the_heads_over_flipped_views(shape):
    bank = _rand_bank(("noise", "jpeg"))
    x = _img(*shape, 12)
    one = bank.restore(x, ["jpeg", "noise"])
    assert np.array_equal(bank.restore(x, ["jpeg", "noise"], views=1), one)
    for views in (2, 4):
        got = bank.restore(x, ["jpeg", "noise"], views=views)
        assert got.shape == x.shape
        assert np.abs(got - _views_by_hand(bank, x, ["jpeg", "noise"], views)).max() < 1e-5
        assert np.abs(got - one).max() > 1e-3  # a random head is not flip-symmetric: the views differ
    # 8 views hold every flip and quarter turn: the result turns with the input (whole 8-px blocks, no padding)
    sq = _img(24, 24, 13)
    eight = bank.restore(sq, ["noise"], views=8)
    for turned, back in ((sq[:, ::-1], lambda a: a[:, ::-1]), (np.rot90(sq), lambda a: np.rot90(a, -1)),
                         (sq.transpose(1, 0, 2), lambda a: a.transpose(1, 0, 2))):
        assert np.abs(back(bank.restore(np.ascontiguousarray(turned), ["noise"], views=8)) - eight).max() < 1e-5
    two = bank.restore(sq, ["noise"], views=2)
    assert np.abs(bank.restore(np.ascontiguousarray(sq[:, ::-1]), ["noise"], views=2)[:, ::-1] - two).max() < 1e-5
    with pytest.raises(UareError, match="self-ensemble views must be one of 1, 2, 4, 8"):
        bank.restore(x, ["noise"], views=3)


def test_self_ensemble_is_a_validated_option_of_restore_the_cli_and_inference_json(micro_dir, tmp_path):
    import shutil

    from uare.infer.pipeline import InferenceDefaults

    folder = tmp_path / "m"
    shutil.copytree(micro_dir, folder)
    save_refiner(_rand_bank(), folder)
    m = UARE.from_pretrained(folder)
    img = (_img(32, 40, 14) * 255).astype(np.uint8)
    one = m.restore(img, task="jpeg", assess=False, seed=0)
    assert m.defaults.self_ensemble == 1 and not any("self-ensemble" in n for n in one.notes)
    four = m.restore(img, task="jpeg", assess=False, seed=0, self_ensemble=4)
    assert "self-ensemble: the heads averaged over 4 flipped / rotated views" in four.notes
    expect = _views_by_hand(m.refiner, img.astype(np.float32) / 255, ["jpeg"], 4)
    assert np.abs(four.image.astype(int) - np.clip(np.rint(expect * 255), 0, 255)).max() <= 1
    for bad in (3, 0, 16, 2.0, True):
        with pytest.raises(UareError, match="self-ensemble must be one of 1, 2, 4, 8"):
            m.restore(img, task="jpeg", assess=False, self_ensemble=bad)
    for bad in ("3", "0", "2.0", "true"):
        with pytest.raises(UareError, match="self_ensemble"):
            InferenceDefaults.from_dict({"self_ensemble": json.loads(bad)})
    assert InferenceDefaults.from_dict({"self_ensemble": 8}).self_ensemble == 8
    src = tmp_path / "a.png"
    from PIL import Image

    Image.fromarray(img).save(src)
    p = subprocess.run([sys.executable, "-m", "uare", "restore", str(src), "-o", str(tmp_path / "o.png"),
                        "--model", str(folder), "--self-ensemble", "3"], capture_output=True, text=True)
    assert p.returncode == 2 and not (tmp_path / "o.png").exists()
    assert "--self-ensemble: expected 1, 2, 4, 8 views, got 3" in p.stderr.strip().splitlines()[-1]
