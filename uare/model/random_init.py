"""Random checkpoints in either layout, for tests and for anyone checking the loader.

Tensors are written one at a time by a streaming safetensors writer (header first, then each
tensor's bytes), so even the 14.6 B-parameter BAGEL-7B-MoT layout needs memory for one tensor only
(and about 29 GB of disk in bf16). Values depend only on the seed and the key name:

- norm weights 1, biases 0; the 2-D sin-cos position tables exactly as the model computes them;
- every other weight N(0, 0.02) (``llm2vae`` too, so a random model's velocity is not zero).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from uare import __version__
from uare.model.checkpoint import _llm_json, _publish, _vit_json, expected_shapes, resolve_dtype
from uare.model.config import UAREConfig
from uare.model.embeddings import get_2d_sincos_pos_embed
from uare.model.safetensors_header import CheckpointError
from uare.model.tokenizer import Tokenizer, train_quality_tokenizer
from uare.model.unified import UAREModel
from uare.model.vae import VAE_FILE, vae_metadata, vae_shapes

_ST_NAMES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}


def write_safetensors_streaming(path: Path, specs: Iterable[tuple[str, tuple[int, ...]]], dtype: torch.dtype,
                                fill: Callable[[str, tuple[int, ...]], torch.Tensor],
                                metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file whose tensors are produced one at a time by ``fill(key, shape)``."""
    specs = list(specs)
    itemsize = torch.empty((), dtype=dtype).element_size()
    header: dict = {"__metadata__": metadata or {}}
    offset = 0
    for key, shape in specs:
        n = math.prod(shape) * itemsize
        header[key] = {"dtype": _ST_NAMES[dtype], "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)))
        fh.write(raw)
        for key, shape in specs:
            t = fill(key, shape).to(dtype).contiguous()
            if tuple(t.shape) != tuple(shape):
                raise AssertionError(f"{key}: produced {tuple(t.shape)}, expected {shape}")
            # bf16 has no numpy dtype: write its raw 16-bit pattern
            fh.write(t.view(torch.int16).numpy().tobytes() if dtype == torch.bfloat16 else t.numpy().tobytes())


def _key_generator(seed: int, key: str) -> torch.Generator:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


def random_fill(seed: int) -> Callable[[str, tuple[int, ...]], torch.Tensor]:
    """The value rule of the module docstring, as a ``fill`` for :func:`write_safetensors_streaming`."""

    def fill(key: str, shape: tuple[int, ...]) -> torch.Tensor:
        module = key.rsplit(".", 1)[0].rsplit(".", 1)[-1]
        if key.endswith("pos_embed"):
            side = math.isqrt(shape[0])
            return torch.from_numpy(get_2d_sincos_pos_embed(shape[1], side).astype(np.float32))
        if "norm" in module and key.endswith(".weight"):
            return torch.ones(shape)
        if key.endswith(".bias"):
            return torch.zeros(shape)
        return torch.randn(shape, generator=_key_generator(seed, key)) * 0.02

    return fill


def init_random(out: str | Path, config: UAREConfig, fmt: str = "uare", seed: int = 0,
                dtype: str | torch.dtype = "fp32", tokenizer: Tokenizer | None = None, overwrite: bool = False
                ) -> Path:
    """Write a random checkpoint folder for ``config`` in ``uare`` or ``bagel`` layout (atomically)."""
    if fmt not in ("uare", "bagel"):
        raise CheckpointError(f"unknown checkpoint format {fmt!r}; choose uare or bagel")
    out = Path(out)
    if out.exists() and not overwrite:
        raise CheckpointError(f"{out}: already exists; pass --overwrite to replace it")
    dt = resolve_dtype(dtype)
    if tokenizer is None:
        tokenizer = train_quality_tokenizer(vocab_size=min(2048, config.llm.vocab_size - 16), seed=seed)
    if tokenizer.vocab_size > config.llm.vocab_size:
        raise CheckpointError(f"tokenizer has {tokenizer.vocab_size} tokens; the config only "
                              f"{config.llm.vocab_size} embeddings")
    with torch.device("meta"):
        model_shapes = expected_shapes(UAREModel(config))
    ae_shapes = vae_shapes(config.vae)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        fill = random_fill(seed)
        meta = {"format": fmt, "uare_version": __version__, "random_seed": str(seed)}
        weights = "model.safetensors" if fmt == "uare" else "ema.safetensors"
        write_safetensors_streaming(tmp / weights, model_shapes.items(), dt, fill, meta)
        write_safetensors_streaming(tmp / VAE_FILE, ae_shapes.items(), torch.float32 if fmt == "bagel" else dt,
                                    fill, vae_metadata(config.vae))
        if fmt == "uare":
            (tmp / "config.json").write_text(json.dumps({"format": "uare", "uare_version": __version__,
                                                         **config.to_dict()}, indent=2))
            tokenizer.save(tmp, qwen2_files=False)
        else:
            (tmp / "llm_config.json").write_text(json.dumps(_llm_json(config.llm), indent=2))
            (tmp / "vit_config.json").write_text(json.dumps(_vit_json(config.vit), indent=2))
            tokenizer.save(tmp, qwen2_files=True)
        _publish(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
