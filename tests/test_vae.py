"""The VAE factory (uare.model.vae): the one module that knows which autoencoder uare uses."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from uare.errors import UareError
from uare.model.config import micro, tiny
from uare.model.loading import expected_shapes
from uare.model.safetensors_header import CheckpointError, read_header
from uare.model.vae import (
    VAE_FILE,
    build_vae,
    load_vae,
    save_vae,
    vae_config_from_header,
    vae_file,
    vae_metadata,
    vae_num_parameters,
    vae_shapes,
)

REPO = Path(__file__).resolve().parents[1]


def test_shapes_and_size_without_memory() -> None:
    cfg = micro().vae
    ae = build_vae(cfg)
    assert vae_shapes(cfg) == expected_shapes(ae)
    assert vae_num_parameters(cfg) == sum(p.numel() for p in ae.parameters())


@pytest.mark.parametrize("make", [micro, tiny])
def test_save_then_load_round_trip(tmp_path: Path, make) -> None:
    cfg = make().vae
    torch.manual_seed(0)
    ae = build_vae(cfg)
    save_vae(ae, tmp_path / VAE_FILE, cfg)
    infos, meta = read_header(tmp_path / VAE_FILE)
    assert meta == vae_metadata(cfg)
    back = vae_config_from_header(infos, meta, tmp_path / VAE_FILE)
    assert (back.ch, back.ch_mult, back.z_channels, back.norm_groups, back.patch_skip) == \
        (cfg.ch, cfg.ch_mult, cfg.z_channels, cfg.norm_groups, cfg.patch_skip)
    assert vae_file(tmp_path) == tmp_path / VAE_FILE
    loaded = load_vae(tmp_path, cfg, torch.device("cpu"))  # a folder or the file itself
    for k, v in ae.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k


def test_load_refuses_another_shape(tmp_path: Path) -> None:
    save_vae(build_vae(micro().vae), tmp_path / VAE_FILE, micro().vae)
    with pytest.raises(CheckpointError, match="keys do not match"):
        load_vae(tmp_path / VAE_FILE, tiny().vae, torch.device("cpu"))


def test_training_checkpoints_feed_init_vae(tmp_path) -> None:
    """A training checkpoint's VAE file states its norm_groups (it did not: ``init.vae`` then read 32 and
    refused a tiny model's VAE); an older file without it takes it from the config.json beside it."""
    import json

    from uare.model.vae import build_vae, load_pretrained_vae_weights, save_vae

    cfg = tiny().vae  # norm_groups 8
    src = build_vae(cfg)
    save_vae(src, tmp_path / VAE_FILE, cfg)
    old = tmp_path / "old"
    old.mkdir()
    save_vae(src, old / VAE_FILE, cfg, with_norm_groups=False)
    assert set(vae_metadata(cfg, with_norm_groups=False)) == {"scale_factor", "shift_factor"}
    for folder in (tmp_path, old):
        if folder == old:
            with pytest.raises(UareError, match="norm_groups 32 differs"):
                load_pretrained_vae_weights(build_vae(cfg), tiny().vae, folder, torch.device("cpu"))
            (old / "config.json").write_text(json.dumps({"vae": {"norm_groups": 8}}))
        dst, dst_cfg = build_vae(cfg), tiny().vae
        load_pretrained_vae_weights(dst, dst_cfg, folder, torch.device("cpu"))
        assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values(), strict=True))


def test_only_the_factory_builds_the_autoencoder() -> None:
    """Swapping the VAE means editing uare/model/vae.py (and the class): nothing else names the class."""
    allowed = {Path("uare/model/vae.py"), Path("uare/model/autoencoder.py")}
    offenders = []
    for f in sorted((REPO / "uare").rglob("*.py")):
        rel = f.relative_to(REPO)
        if rel in allowed:
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "uare.model.autoencoder":
                offenders.append(f"{rel}:{node.lineno}")
            if isinstance(node, ast.Constant) and node.value == VAE_FILE:
                offenders.append(f"{rel}:{node.lineno} ({VAE_FILE!r} literal)")
    assert not offenders, offenders
