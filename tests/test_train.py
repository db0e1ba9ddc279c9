"""Training: configs, both stages on the micro model, freezing, exact resume, gloo DDP, refusals, dry-run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file, save_file

from uare.cli import main
from uare.errors import UareError
from uare.model.checkpoint import load_checkpoint
from uare.model.config import micro
from uare.model.random_init import init_random
from uare.model.tokenizer import train_quality_tokenizer
from uare.train.config import TrainConfigError, config_from_dict, load_config
from uare.train.model_setup import is_trainable, load_initial
from uare.train.state import ResumeError, load_train_checkpoint
from uare.train.trainer import train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _restore_threads():
    n = torch.get_num_threads()  # the trainer sets the thread count of this process
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict[str, Path]:
    from skimage import data

    root = tmp_path_factory.mktemp("train")
    imgs = root / "imgs"
    imgs.mkdir()
    for i, im in enumerate([data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]):
        Image.fromarray(im[:128, :128]).save(imgs / f"{i}.png")
    tok = train_quality_tokenizer(vocab_size=600, n_samples=1500, seed=0)
    init_random(root / "model", micro(vocab_size=tok.vocab_size), fmt="uare", seed=0, tokenizer=tok)
    return {"root": root, "imgs": imgs, "model": root / "model"}


def _cfg(assets, stage: int, out: Path, **train) -> dict:
    imgs = [str(assets["imgs"])]
    if stage == 1:
        sources = [{"kind": "restoration", "folders": imgs, "crop": [32, 32], "degradation": "curriculum"}]
    else:
        sources = [{"kind": "interleaved", "folders": imgs, "crop": [32, 32], "weight": 0.5},
                   {"kind": "iqa", "folders": imgs, "crop": [32, 32], "weight": 0.5}]
    return {
        "stage": stage, "seed": 0, "out": str(out), "init": {"path": str(assets["model"])},
        "data": {"sources": sources, "tokens_per_pack": 400, "vit_max_size": 56, "vit_min_size": 28,
                 "curriculum": {"single_steps": 6, "multi_steps": 6, "highorder_steps": 6}},
        "optim": {"lr": 3e-3, "warmup_steps": 2},
        # one thread: on a loaded 2-core machine two OpenMP threads can be 20x slower, not 2x faster
        "train": {"max_steps": 20, "ema_decay": 0.9, "ce_weight": 0.25 if stage == 2 else 0.0, "threads": 1,
                  **train},
        "checkpoint": {"every": 15, "keep": 3}, "log": {"every": 1, "progress": False},
    }


def _log(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]


def _mean(xs) -> float:
    return sum(xs) / len(xs)


# ------------------------------------------------------------------------------------------ configs
def test_config_validation_and_overrides(assets, tmp_path):
    d = _cfg(assets, 1, tmp_path)
    cfg = config_from_dict(d, ["train.max_steps=7", "optim.lr=1e-4", "data.sources.0.weight=2",
                               "data.dropout.vit=0.3"])
    assert cfg.train.max_steps == 7 and cfg.optim.lr == 1e-4 and cfg.data.sources[0].weight == 2.0
    assert cfg.data.dropout.vit == 0.3 and cfg.data.dropout.text == 0.1
    with pytest.raises(TrainConfigError, match=r"unknown key\(s\) train.max_step;.*max_steps"):
        config_from_dict(d, ["train.max_step=3"])
    with pytest.raises(TrainConfigError, match="train.max_steps: expected an integer, got 'ten'"):
        config_from_dict(d, ["train.max_steps=ten"])
    with pytest.raises(TrainConfigError, match=r"data.sources.0.crop.1: expected an integer"):
        config_from_dict(d, ["data.sources.0.crop=[32, big]"])
    with pytest.raises(TrainConfigError, match=r"stage: expected 0 \(understanding\), 1 or 2"):
        config_from_dict(d, ["stage=3"])
    with pytest.raises(TrainConfigError, match="expected key=value"):
        config_from_dict(d, ["stage"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**d, "optimizer": {}}))
    with pytest.raises(TrainConfigError, match=r"bad.yaml: unknown key\(s\) optimizer"):
        load_config(bad)


@pytest.mark.parametrize("name", ["paper/stage1", "paper/stage2", "tiny/stage1", "tiny/stage2",
                                  "tiny/ablation_stage1_mixed", "tiny/ablation_stage2_iqa_only", "tiny/stage0_und"])
def test_shipped_configs_validate(name):
    cfg = load_config(REPO / "configs" / f"{name}.yaml")
    assert cfg.stage == int(name.split("stage")[-1][0])
    assert cfg.optim.warmup_steps == (500 if name.startswith("paper") else 100 if cfg.stage == 0 else 50)
    if name.startswith("tiny"):
        assert all("test" not in Path(f).parts for s in cfg.data.sources for f in s.folders)
    else:
        assert cfg.optim.lr == 2e-5 and cfg.optim.warmup_steps == 500 and cfg.data.dropout.text == 0.1
        assert cfg.train.ce_weight == (0.0 if cfg.stage == 1 else 0.25)
    if name == "paper/stage1":
        c = cfg.data.curriculum
        assert (c.single_steps, c.multi_steps, c.highorder_steps) == (10000, 20000, 1500)
        assert cfg.train.max_steps == 31500


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@pytest.mark.parametrize(("main_cfg", "ablation", "allowed"), [
    ("stage1", "ablation_stage1_mixed", {"name", "out", "data.sources"}),
    ("stage2", "ablation_stage2_iqa_only", {"name", "out", "data.sources", "init.path", "init.vae"}),
])
def test_ablation_configs_differ_only_where_documented(main_cfg, ablation, allowed):
    """Same model, steps, optimiser, seeds and crops: an ablation changes only what it studies."""
    a = _flat(load_config(REPO / "configs" / "tiny" / f"{main_cfg}.yaml").to_dict())
    b = _flat(load_config(REPO / "configs" / "tiny" / f"{ablation}.yaml").to_dict())
    assert a.keys() == b.keys()
    differ = {k for k in a if a[k] != b[k]}
    assert "name" in differ and differ <= allowed, differ - allowed


def test_dry_run_plans_the_7b_recipe_without_loading(capsys):
    assert main(["train", str(REPO / "configs/paper/stage1.yaml"), "--dry-run", "--gpus", "64"]) == 0
    out = capsys.readouterr().out
    assert "model bagel-7b (14.607 B parameters), 64 GPU(s)" in out
    assert "gen expert               6,525,628,928 /               0" in out
    assert "983,040 noisy image tokens per step" in out
    assert "estimated memory per GPU (FSDP over 64" in out
    assert main(["train", str(REPO / "configs/paper/stage2.yaml"), "--dry-run", "--gpus", "8"]) == 0
    assert "und expert               6,525,628,928 /               0" in capsys.readouterr().out


def test_test_folders_are_refused(assets, tmp_path):
    d = _cfg(assets, 1, tmp_path)
    d["data"]["sources"][0]["folders"] = ["../shared/datasets/test/Set5"]
    with pytest.raises(Exception, match="test dataset folder"):
        train(config_from_dict(d))


# ------------------------------------------------------------------------------------------ stages
@pytest.fixture(scope="module")
def stage1_run(assets):
    out = assets["root"] / "s1"
    res = train(config_from_dict(_cfg(assets, 1, out)))
    return out, res


def test_stage1_lowers_the_flow_loss(stage1_run):
    out, res = stage1_run
    assert res.step == 20 and len(res.losses) == 20
    assert _mean(res.losses[-5:]) < _mean(res.losses[:5]) - 0.02
    log = _log(out)
    assert [r["step"] for r in log] == list(range(1, 21))
    assert all(r["ce_tokens"] == 0 and r["mse_tokens"] > 0 for r in log)
    assert [log[i]["substage"] for i in (0, 5, 6, 11, 12, 19)] == ["single", "single", "multi", "multi",
                                                                    "realesrgan", "realesrgan"]


def test_stage1_keeps_frozen_parameters_bit_identical(stage1_run, assets):
    out, _ = stage1_run
    init = load_file(str(assets["model"] / "model.safetensors"))
    trained = load_file(str(out / "checkpoints" / "step_00000020" / "model.safetensors"))
    frozen = [k for k in init if not is_trainable(k, 1)]
    assert any(k.startswith("language_model.model.layers.0.mlp.") for k in frozen)
    assert all(torch.equal(init[k], trained[k]) for k in frozen)
    moved = [k for k in init if is_trainable(k, 1) and not torch.equal(init[k], trained[k])]
    assert "llm2vae.weight" in moved and any("_moe_gen" in k for k in moved)
    # the export is the EMA, a loadable uare checkpoint
    ck = load_checkpoint(out / "final")
    ema = load_file(str(out / "checkpoints" / "step_00000020" / "ema.safetensors"))
    assert torch.equal(ck.model.llm2vae.weight, ema["llm2vae.weight"])
    assert not torch.equal(ema["llm2vae.weight"], trained["llm2vae.weight"])


def test_stage2_lowers_flow_and_text_loss(stage1_run, assets):
    out1, _ = stage1_run
    out = assets["root"] / "s2"
    d = _cfg(assets, 2, out)
    d["init"]["path"] = str(out1 / "final")
    res = train(config_from_dict(d))
    log = _log(out)
    assert res.step == 20
    ce = [r["ce"] for r in log if r["ce_tokens"]]
    assert _mean(ce[-5:]) < _mean(ce[:5]) - 0.5
    assert _mean(res.losses[-5:]) < _mean(res.losses[:5])
    init = load_file(str(out1 / "final" / "model.safetensors"))
    trained = load_file(str(out / "checkpoints" / "step_00000020" / "model.safetensors"))
    for k in ("language_model.model.layers.0.mlp.up_proj.weight", "vit_model.vision_model.encoder.layers.0.mlp.fc1.weight",
              "connector.fc1.weight", "language_model.lm_head.weight"):
        if k in init:
            assert not torch.equal(init[k], trained[k]), k
    assert torch.equal(init["latent_pos_embed.pos_embed"], trained["latent_pos_embed.pos_embed"])


# ------------------------------------------------------------------------------------------ resume
def test_resume_reproduces_the_uninterrupted_loss_curve(stage1_run, assets):
    out, res = stage1_run
    ck = assets["root"] / "resume-from"
    shutil.copytree(out / "checkpoints" / "step_00000015", ck)
    out2 = assets["root"] / "s1-resumed"
    res2 = train(config_from_dict(_cfg(assets, 1, out2)), resume=ck)
    assert res2.losses == res.losses[15:]  # bit-identical floats
    full, resumed = _log(out), _log(out2)
    assert [r["loss"] for r in resumed] == [r["loss"] for r in full[15:]]
    a = load_file(str(out / "checkpoints" / "step_00000020" / "model.safetensors"))
    b = load_file(str(out2 / "checkpoints" / "step_00000020" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_corrupt_and_foreign_checkpoints_are_refused(stage1_run, assets, tmp_path):
    out, _ = stage1_run
    src = out / "checkpoints" / "step_00000020"
    cfg = load_checkpoint(assets["model"]).config
    with pytest.raises(ResumeError, match="not a uare training checkpoint"):
        load_train_checkpoint(assets["model"], cfg, 1)
    with pytest.raises(ResumeError, match="checkpoint of stage 1, this run is stage 2"):
        load_train_checkpoint(src, cfg, 2)
    other = micro(vocab_size=cfg.llm.vocab_size)
    other.llm.intermediate_size = 96
    with pytest.raises(ResumeError, match="checkpoint of another model"):
        load_train_checkpoint(src, other, 1)
    bad = tmp_path / "trunc"
    shutil.copytree(src, bad)
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ResumeError, match="corrupt or truncated"):
        load_train_checkpoint(bad, cfg, 1)
    bad2 = tmp_path / "pickle"
    shutil.copytree(src, bad2)
    (bad2 / "train_state.pt").write_bytes(b"not a torch file")
    with pytest.raises(ResumeError, match="train_state.pt: corrupt"):
        load_train_checkpoint(bad2, cfg, 1)
    # through the command line: one clear line, exit code 2
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(_cfg(assets, 2, tmp_path / "o")))
    assert main(["train", str(cfg_file), "--resume", str(src)]) == 2


def test_copy_und_to_gen_initialises_a_checkpoint_without_gen_weights(assets, tmp_path):
    tok_cfg = load_checkpoint(assets["model"])
    folder = tmp_path / "bagel"
    init_random(folder, tok_cfg.config, fmt="bagel", seed=1, tokenizer=tok_cfg.tokenizer)
    sd = load_file(str(folder / "ema.safetensors"))
    save_file({k: v for k, v in sd.items() if "_moe_gen" not in k}, str(folder / "ema.safetensors"))
    from uare.train.config import InitConfig

    with pytest.raises(Exception, match="init.copy_und_to_gen: true"):
        load_initial(InitConfig(path=str(folder)), torch.device("cpu"), tmp_path)
    ck = load_initial(InitConfig(path=str(folder), copy_und_to_gen=True), torch.device("cpu"), tmp_path)
    layer = ck.model.language_model.model.layers[1]
    assert torch.equal(layer.mlp_moe_gen.up_proj.weight, layer.mlp.up_proj.weight)
    assert torch.equal(layer.self_attn.q_proj_moe_gen.bias, layer.self_attn.q_proj.bias)
    assert torch.equal(ck.model.language_model.model.norm_moe_gen.weight, ck.model.language_model.model.norm.weight)
    # and on a checkpoint that has them, copy_und_to_gen overwrites them (init_moe)
    ck2 = load_initial(InitConfig(path=str(assets["model"]), copy_und_to_gen=True), torch.device("cpu"), tmp_path)
    l2 = ck2.model.language_model.model.layers[0]
    assert torch.equal(l2.mlp_moe_gen.down_proj.weight, l2.mlp.down_proj.weight)


# ------------------------------------------------------------------------------------------ processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_RANK_SCRIPT = """
import hashlib, os, sys, yaml, torch
from uare.train.config import config_from_dict
from uare.train.trainer import Trainer
t = Trainer(config_from_dict(yaml.safe_load(open(sys.argv[1]))))
res = t.run()
h = hashlib.sha256()
for k, v in sorted(t.model.state_dict().items()):
    h.update(k.encode()); h.update(v.detach().cpu().float().numpy().tobytes())
open(os.path.join(sys.argv[2], f"rank{os.environ['RANK']}.txt"), "w").write(h.hexdigest() + " " + repr(res.losses))
"""


def test_two_process_gloo_run_keeps_ranks_identical(assets, tmp_path):
    out = tmp_path / "ddp"
    d = _cfg(assets, 2, out, max_steps=3)
    d["checkpoint"]["every"] = 3
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(d))
    script = tmp_path / "rank.py"
    script.write_text(_RANK_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(script), str(cfg_file), str(tmp_path)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    h0, l0 = (tmp_path / "rank0.txt").read_text().split(" ", 1)
    h1, l1 = (tmp_path / "rank1.txt").read_text().split(" ", 1)
    assert h0 == h1 and l0 == l1  # identical weights and the same (all-reduced) losses
    meta = json.loads((out / "checkpoints" / "step_00000003" / "train.json").read_text())
    assert meta["world_size"] == 2
    assert len(_log(out)) == 3 and _log(out)[0]["samples"] > 0


def _tagged(tag: str) -> list[int]:
    """Live processes whose environment holds UARE_TEST_TAG=tag (zombies excluded)."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if f"UARE_TEST_TAG={tag}".encode() in (d / "environ").read_bytes().split(b"\0") and \
                    (d / "stat").read_text().split(")")[-1].split()[0] != "Z":
                pids.append(int(d.name))
        except OSError:
            continue
    return pids


def test_kill_9_mid_run_then_resume_matches_the_uninterrupted_run(assets, tmp_path, stage1_run):
    out0, res0 = stage1_run
    out = tmp_path / "killed"
    d = _cfg(assets, 1, out)
    d["checkpoint"]["every"] = 5
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(d))
    tag = f"uare-kill-test-{os.getpid()}-{time.time_ns()}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "UARE_TEST_TAG": tag}
    # with a DataLoader worker (forkserver): after SIGKILL none of the run's processes may linger
    proc = subprocess.Popen([sys.executable, "-m", "uare", "train", str(cfg_file), "--set", "data.num_workers=1"],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not (out / "checkpoints" / "step_00000010").is_dir():
        time.sleep(0.05)
    assert len(_tagged(tag)) >= 3  # the trainer, its forkserver and a worker
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (out / "checkpoints" / "step_00000010").is_dir()
    t_end = time.time() + 10
    while _tagged(tag) and time.time() < t_end:
        time.sleep(0.1)
    assert not _tagged(tag), "orphaned processes outlived the killed run"
    r = subprocess.run([sys.executable, "-m", "uare", "train", str(cfg_file), "--resume", str(out)], env=env,
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert [x["loss"] for x in _log(out)] == [x["loss"] for x in _log(out0)]


def test_init_vae_replaces_the_autoencoder_and_its_latent_scale(tmp_path):
    import torch
    from safetensors.torch import save_file

    from uare.model.config import micro
    from uare.model.random_init import init_random
    from uare.model.tokenizer import train_quality_tokenizer
    from uare.train.config import InitConfig
    from uare.train.model_setup import load_initial

    tok = train_quality_tokenizer(vocab_size=600, n_samples=1500)
    folder = init_random(tmp_path / "m", micro(vocab_size=tok.vocab_size), fmt="uare", seed=0, tokenizer=tok)
    base = load_initial(InitConfig(path=str(folder)), torch.device("cpu"), tmp_path)
    sd = {k: torch.full_like(v, 0.5) for k, v in base.vae.state_dict().items()}
    save_file(sd, str(tmp_path / "ae.safetensors"),
              metadata={"scale_factor": "0.7", "shift_factor": "0.05", "norm_groups": "32"})
    ck = load_initial(InitConfig(path=str(folder), vae=str(tmp_path)), torch.device("cpu"), tmp_path)
    assert all(torch.equal(v, sd[k]) for k, v in ck.vae.state_dict().items())
    assert ck.vae.scale_factor == 0.7 and ck.vae.shift_factor == 0.05
    assert ck.model.config.vae.scale_factor == 0.7


def test_export_writes_a_loadable_fp16_release(tmp_path):
    from safetensors import safe_open

    from uare.infer import UARE
    from uare.model.config import micro
    from uare.model.random_init import init_random
    from uare.model.tokenizer import train_quality_tokenizer
    from uare.train.export import export

    tok = train_quality_tokenizer(vocab_size=512, seed=0)
    init_random(tmp_path / "src", micro(vocab_size=tok.vocab_size), fmt="uare", seed=0, tokenizer=tok)
    inf = tmp_path / "inference.json"
    inf.write_text('{"steps": 1, "init": "source", "tile": 64}')
    bad = tmp_path / "bad.json"
    bad.write_text('{"stepz": 1}')
    with pytest.raises(UareError, match="unknown key"):
        export(tmp_path / "src", tmp_path / "never", inference=bad)
    assert not (tmp_path / "never").exists()
    sizes = export(tmp_path / "src", tmp_path / "rel", dtype="fp16", inference=inf)
    assert set(sizes) == {"config.json", "model.safetensors", "ae.safetensors", "tokenizer.json", "inference.json"}
    with safe_open(str(tmp_path / "rel" / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}  # noqa: SIM118
    with safe_open(str(tmp_path / "rel" / "ae.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float32}  # noqa: SIM118
    assert all((tmp_path / "rel" / n).stat().st_mode & 0o777 == 0o644 for n in sizes)
    m = UARE.from_pretrained(tmp_path / "rel")
    assert m.defaults.steps == 1 and m.defaults.sampler.flow_source == "degraded" and m.defaults.tile == 64
    with pytest.raises(UareError, match="already exists"):
        export(tmp_path / "src", tmp_path / "rel")


def test_export_overwrite_keeps_the_model_card(tmp_path):
    from uare.model.config import micro
    from uare.model.random_init import init_random
    from uare.model.tokenizer import train_quality_tokenizer
    from uare.train.export import export

    tok = train_quality_tokenizer(vocab_size=512, seed=0)
    init_random(tmp_path / "src", micro(vocab_size=tok.vocab_size), fmt="uare", seed=0, tokenizer=tok)
    export(tmp_path / "src", tmp_path / "rel")
    (tmp_path / "rel" / "MODEL_CARD.md").write_text("# card")
    (tmp_path / "rel" / "stale.bin").write_bytes(b"x")
    export(tmp_path / "src", tmp_path / "rel", overwrite=True)
    assert (tmp_path / "rel" / "MODEL_CARD.md").read_text() == "# card"
    assert not (tmp_path / "rel" / "stale.bin").exists()
    assert not list(tmp_path.glob(".rel.export-tmp*"))


def test_stage0_trains_only_the_understanding_path(stage1_run, assets):
    """Stage 0 (understanding pre-training): ViT, connector, und expert, embeddings and lm_head move; the
    generation expert and its adapters stay bit-identical; init options redraw the ViT (PCA patches)."""
    out1, _ = stage1_run
    out = assets["root"] / "s0"
    d = _cfg(assets, 2, out)
    d["stage"] = 0
    d["init"] = {"path": str(out1 / "final"), "reinit": ["vit_model.", "connector."], "seed": 5,
                 "config": {"vit_pos_scale": 0.1}, "vit_patch_init": "pca", "pca_folders": [str(assets["imgs"])]}
    d["data"]["sources"] = [
        {"kind": "iqa", "folders": [str(assets["imgs"])], "crop": [32, 48], "weight": 0.7, "balance_levels": True,
         "soft_levels": 0.5, "level_weight": 4.0},
        {"kind": "interleaved", "folders": [str(assets["imgs"])], "crop": [32, 32], "weight": 0.3, "target": False}]
    d["data"]["ce_norm"] = "item"
    d["train"]["ce_weight"] = 1.0
    res = train(config_from_dict(d))
    log = _log(out)
    assert res.step == 20 and all(r["mse_tokens"] == 0 and r["ce_tokens"] > 0 for r in log)
    # item normalisation: the CE normaliser is the number of trained texts, not of tokens
    assert all(r["ce_tokens"] == pytest.approx(r["samples"]) for r in log)
    init = load_file(str(out1 / "final" / "model.safetensors"))
    trained = load_file(str(out / "checkpoints" / "step_00000020" / "model.safetensors"))
    gen = [k for k in init if "_moe_gen" in k or k.startswith(("time_embedder.", "vae2llm.", "llm2vae."))]
    assert gen and all(torch.equal(init[k], trained[k]) for k in gen)
    for k in ("language_model.model.layers.0.mlp.up_proj.weight", "vit_model.vision_model.encoder.layers.0.mlp.fc1.weight",
              "connector.fc1.weight", "language_model.lm_head.weight", "language_model.model.embed_tokens.weight"):
        assert not torch.equal(init[k], trained[k]), k
    assert all(is_trainable(k, 0) != (k in gen) for k in init if not k.endswith("pos_embed"))
    assert load_checkpoint(out / "final").config.vit_pos_scale == 0.1


def test_pca_patch_init_makes_tokens_see_noise_and_blur(tmp_path):
    import cv2
    import numpy as np
    from skimage import data

    from uare.data.images import load_rgb
    from uare.model.config import tiny
    from uare.model.image_transforms import to_tensor_pm1, vit_patchify
    from uare.model.unified import UAREModel
    from uare.train.model_setup import init_vit_patch_pca

    for i, im in enumerate([data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]):
        Image.fromarray(im).save(tmp_path / f"{i}.png")
    m = UAREModel(tiny())
    info = init_vit_patch_pca(m, [str(tmp_path)], seed=0, n_patches=4000)
    assert 0.5 < info["explained"] <= 1.0
    emb = m.vit_model.vision_model.embeddings.patch_embedding
    img = load_rgb(tmp_path / "0.png")[:196, 98:294]

    def energy(x):  # mean |activation| of the components past the strongest ones
        patches, _ = vit_patchify(to_tensor_pm1(x), 14)
        with torch.no_grad():
            return float(emb(patches)[:, 48:].abs().mean())

    noisy = np.clip(img + np.random.default_rng(0).normal(0, 15, img.shape), 0, 255).astype(np.uint8)
    blurred = cv2.GaussianBlur(img, (0, 0), 2.0)
    assert energy(noisy) > 2 * energy(img) > 2 * 1.2 * energy(blurred)


def test_gpu_recipe_chains_the_three_phases_at_micro_size(tmp_path):
    """benchmarks/gpu_train.sh --micro: understanding -> stage 1 -> stage 2 -> export, on the CPU in seconds."""
    out = tmp_path / "out"
    r = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_train.sh"), "--micro"], cwd=REPO,
                       env={**os.environ, "OUT": str(out)}, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((out / "recipe.json").read_text())
    assert [p["name"] for p in summary["phases"]] == ["und", "stage1", "stage2"]
    assert all(p["steps"] == 4 for p in summary["phases"])
    ck = load_checkpoint(out / "uare-tiny")
    assert ck.config.name == "micro" and (out / "uare-tiny" / "inference.json").is_file()
    # each phase started from the previous one's result
    s1 = yaml.safe_load((out / "runs" / "stage1" / "train_config.yaml").read_text())
    s2 = yaml.safe_load((out / "runs" / "stage2" / "train_config.yaml").read_text())
    assert s1["init"]["path"].endswith("und/final") and s2["init"]["path"].endswith("stage1/final")
    # the release-14 continuation: the blur head trained on the chain's inputs, from the exported bank
    state = json.loads((out / "refiner" / "chain" / "blur" / "state.json").read_text())
    assert state["chain_draws"] is True and state["steps"] == 2


def test_max_seconds_stops_exports_and_keeps_going_from_there(assets, tmp_path):
    d = _cfg(assets, 1, tmp_path / "t", max_steps=10_000, max_seconds=3.0)
    res = train(config_from_dict(d))
    assert 0 < res.step < 10_000 and res.final is not None
    assert load_train_checkpoint(res.last_checkpoint, load_checkpoint(res.final).config, 1).step == res.step


def test_export_of_a_training_checkpoints_ema(stage1_run, tmp_path):
    from uare.train.export import export

    out, _ = stage1_run
    ck_dir = out / "checkpoints" / "latest"
    export(ck_dir, tmp_path / "ema", dtype="fp32", weights="ema")
    export(ck_dir, tmp_path / "raw", dtype="fp32")
    step = out / "checkpoints" / ck_dir.read_text().strip()
    ema = load_file(str(step / "ema.safetensors"))
    assert torch.equal(load_checkpoint(tmp_path / "ema").model.llm2vae.weight, ema["llm2vae.weight"])
    assert not torch.equal(load_checkpoint(tmp_path / "raw").model.llm2vae.weight, ema["llm2vae.weight"])
    with pytest.raises(UareError, match="no ema.safetensors"):
        export(tmp_path / "raw", tmp_path / "x", weights="ema")


def test_resume_falls_back_from_a_damaged_latest_and_cleans_killed_saves(stage1_run, assets, tmp_path):
    out, _ = stage1_run
    run = tmp_path / "run"
    shutil.copytree(out, run)
    cks = run / "checkpoints"
    (cks / ".step_00000099.tmp-abc").mkdir()  # what a kill during a save leaves
    ((cks / ".step_00000099.tmp-abc") / "model.safetensors").write_bytes(b"x" * 1000)
    latest = cks / (cks / "latest").read_text().strip()
    earlier = sorted(p for p in cks.iterdir() if p.name.startswith("step_") and p != latest)
    assert earlier, "the fixture keeps more than one checkpoint"
    (latest / "train_state.pt").write_bytes(b"")
    cfg = load_checkpoint(assets["model"]).config
    said = []
    r = load_train_checkpoint(run, cfg, 1, log=said.append)
    assert r.path == earlier[-1] and said and "empty file (0 bytes)" in said[0]
    assert not (cks / ".step_00000099.tmp-abc").exists()
    with pytest.raises(ResumeError, match=r"empty file \(0 bytes\)"):
        load_train_checkpoint(latest, cfg, 1)  # an explicit step folder is never swapped for another
