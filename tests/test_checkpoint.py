"""Checkpoint folders: strict BAGEL-format loading, our format, broken folders, inspect, init-random."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from bagel_layout import bagel_ema_layout, flux_layout, write_bagel_folder
from safetensors.torch import save_file

from uare.cli import main
from uare.model.checkpoint import load_checkpoint, save_checkpoint
from uare.model.config import VAEConfig, micro
from uare.model.inspect import inspect_checkpoint
from uare.model.random_init import init_random
from uare.model.safetensors_header import CheckpointError, read_header
from uare.model.tokenizer import train_quality_tokenizer
from uare.model.unified import Context

MICRO_VAE = VAEConfig(ch=32, ch_mult=[1, 1, 1, 1], num_res_blocks=1, z_channels=16)


@pytest.fixture(scope="module")
def tok():
    return train_quality_tokenizer(vocab_size=600, n_samples=1500, seed=0)


def sizes(vocab: int) -> dict:
    return dict(hidden=64, layers=2, heads=4, kv_heads=2, inter=128, vocab=vocab, vit_hidden=32,
                vit_layers_in_file=3, vit_inter=64, patch=14, vit_side=8, latent_side=16)


@pytest.fixture(scope="module")
def bagel_dir(tmp_path_factory, tok):
    folder = tmp_path_factory.mktemp("bagel")
    ema = write_bagel_folder(folder, sizes(tok.vocab_size), flux_layout(MICRO_VAE), tok, seed=0)
    return folder, ema


def test_strict_load_of_an_independently_written_bagel_folder(bagel_dir):
    folder, ema = bagel_dir
    ck = load_checkpoint(folder, dtype="fp32")
    assert ck.format == "bagel"
    assert ck.config.vit.layers_used == 2 and ck.config.max_latent_size == 16
    assert ck.config.vit_max_num_patch_per_side == 8 and ck.config.vae.ch_mult == [1, 1, 1, 1]
    sd = ck.model.state_dict()
    assert set(sd) == set(ema)
    for k, v in ema.items():
        assert torch.equal(sd[k], v.float()), k  # bf16 -> fp32 is exact
    assert not any(p.is_meta for p in ck.model.parameters())
    # it runs: a text prefill and a flow step
    sp = ck.tokenizer.special
    ctx = ck.model.prefill_text(Context(), ck.tokenizer.encode("Restore this photo."), sp)
    v = ck.model.velocity(ctx, torch.randn(4, 64), 0.5, (2, 2), sp)
    assert v.shape == (4, 64) and torch.isfinite(v).all()


def test_load_in_bf16(bagel_dir):
    ck = load_checkpoint(bagel_dir[0], dtype="bf16")
    assert ck.model.vae2llm.weight.dtype == torch.bfloat16
    assert ck.vae.encoder.conv_in.weight.dtype == torch.float32  # the VAE stays fp32 on the CPU


def test_uare_and_bagel_formats_hold_the_same_model(tmp_path, tok):
    cfg = micro(vocab_size=tok.vocab_size)
    a = load_checkpoint(init_random(tmp_path / "u", cfg, "uare", seed=3, tokenizer=tok))
    b = load_checkpoint(init_random(tmp_path / "b", cfg, "bagel", seed=3, tokenizer=tok))
    c = load_checkpoint(init_random(tmp_path / "c", cfg, "uare", seed=4, tokenizer=tok))
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a.config.to_dict() == {**b.config.to_dict(), "name": a.config.name}


def test_save_round_trip_keeps_outputs(tmp_path, tok):
    torch.manual_seed(0)
    from uare.model.autoencoder import AutoEncoder
    from uare.model.unified import UAREModel

    cfg = micro(vocab_size=tok.vocab_size)
    model, vae = UAREModel(cfg).eval(), AutoEncoder(cfg.vae).eval()
    torch.nn.init.normal_(model.llm2vae.weight, std=0.05)
    sp = tok.special
    ids = tok.encode("The quality of the image is")
    ref = model.next_token_logits(Context(), ids, sp)
    for fmt in ("uare", "bagel"):
        out = save_checkpoint(tmp_path / fmt, model, vae, tok, fmt=fmt)
        ck = load_checkpoint(out)
        assert torch.equal(ck.model.next_token_logits(Context(), ids, sp), ref)
        x = torch.rand(1, 3, 16, 16) * 2 - 1
        assert torch.equal(ck.vae.encode(x), vae.encode(x))
    with pytest.raises(CheckpointError, match="already exists"):
        save_checkpoint(tmp_path / "uare", model, vae, tok)


# ---------------------------------------------------------------- broken folders
def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_missing_file(bagel_dir, tmp_path):
    d = _copy(bagel_dir[0], tmp_path / "x")
    (d / "ae.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing ae.safetensors"):
        load_checkpoint(d)


def test_truncated_safetensors(bagel_dir, tmp_path):
    d = _copy(bagel_dir[0], tmp_path / "x")
    data = (d / "ema.safetensors").read_bytes()
    (d / "ema.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(d)
    with pytest.raises(CheckpointError, match="truncated"):
        inspect_checkpoint(d)


def test_wrong_shapes_missing_and_unexpected_keys_are_listed(tmp_path, tok):
    d = tmp_path / "x"
    layout = bagel_ema_layout(**sizes(tok.vocab_size))
    write_bagel_folder(d, sizes(tok.vocab_size), flux_layout(MICRO_VAE), tok)
    ema = {k: torch.zeros(s) for k, s in layout.items()}
    ema["connector.fc1.weight"] = torch.zeros(64, 31)  # mis-shaped
    del ema["language_model.model.norm_moe_gen.weight"]  # missing
    ema["language_model.extra.weight"] = torch.zeros(3)  # unexpected
    save_file(ema, str(d / "ema.safetensors"))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(d)
    msg = str(e.value)
    assert "1 missing: language_model.model.norm_moe_gen.weight" in msg
    assert "1 unexpected: language_model.extra.weight" in msg
    assert "connector.fc1.weight [64, 31] != expected [64, 32]" in msg
    assert "\n" not in msg


def test_pickles_and_non_folders_are_refused(tmp_path):
    d = tmp_path / "p"
    d.mkdir()
    (d / "pytorch_model.bin").write_bytes(b"\x80\x04not really")
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(d)
    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        load_checkpoint(tmp_path / "nope")
    f = tmp_path / "file.safetensors"
    f.write_bytes(b"abc")
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(f)


def test_cli_inspect_and_init_random(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["init-random", str(out), "--config", "micro", "--format", "bagel", "--seed", "1"]) == 0
    assert main(["inspect", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert report["format"] == "bagel" and report["valid"]
    assert report["parameters"]["llm.und_expert"] == report["parameters"]["llm.gen_expert"]
    assert main(["init-random", str(out), "--config", "micro"]) == 2  # exists
    (out / "ema.safetensors").write_bytes(b"\x00" * 4)
    r = subprocess.run([sys.executable, "-m", "uare", "inspect", str(out)], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "ema.safetensors" in r.stderr and "Traceback" not in r.stderr


def _sparse_safetensors(path: Path, layout: dict[str, tuple[int, ...]], dtype: str = "BF16") -> None:
    """A header with full-size tensors whose data is a hole: a 29 GB file that takes no disk."""
    width = {"BF16": 2, "F32": 4}[dtype]
    header, off = {}, 0
    for k, s in layout.items():
        n = width
        for d in s:
            n *= d
        header[k] = {"dtype": dtype, "shape": list(s), "data_offsets": [off, off + n]}
        off += n
    raw = json.dumps(header).encode()
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw)
        fh.seek(8 + len(raw) + off - 1)
        fh.write(b"\0")


def test_inspect_validates_the_full_bagel_7b_layout_from_headers(tmp_path, tok):
    d = tmp_path / "bagel7b"
    d.mkdir()
    big = dict(hidden=3584, layers=28, heads=28, kv_heads=4, inter=18944, vocab=152064, vit_hidden=1152,
               vit_layers_in_file=27, vit_inter=4304, patch=14, vit_side=70, latent_side=64)
    _sparse_safetensors(d / "ema.safetensors", bagel_ema_layout(**big))
    _sparse_safetensors(d / "ae.safetensors", flux_layout(VAEConfig()), "F32")
    llm = {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
           "num_key_value_heads": 4, "vocab_size": 152064, "rms_norm_eps": 1e-6, "rope_theta": 1e6,
           "max_position_embeddings": 32768, "hidden_act": "silu", "model_type": "qwen2", "sliding_window": 131072}
    vit = {"hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27, "num_attention_heads": 16,
           "patch_size": 14, "image_size": 980, "model_type": "siglip_vision_model"}
    (d / "llm_config.json").write_text(json.dumps(llm))
    (d / "vit_config.json").write_text(json.dumps(vit))
    tok.save(d, qwen2_files=True)
    r = inspect_checkpoint(d)
    p = r["parameters"]
    assert round(p["total"] / 1e9, 2) == 14.61
    assert round(p["llm.gen_expert"] / 1e9, 3) == 6.526
    assert round(r["vae_parameters"]["total"] / 1e6, 1) == 83.8
    assert r["memory"]["kv_cache_bytes_per_token_bf16"] == 56 * 1024
    assert r["derived"]["vit_layers_used"] == 26 and r["derived"]["max_output_side_px"] == 1024
    infos, _ = read_header(d / "ema.safetensors")
    assert infos["latent_pos_embed.pos_embed"].shape == (4096, 3584)
