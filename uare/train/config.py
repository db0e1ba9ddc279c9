"""Training configs: YAML validated into dataclasses, with ``--set key=value`` overrides.

Every section is a dataclass; unknown keys and wrong types are refused with the dotted key that is wrong
and the keys that are allowed. Relative paths are resolved against the directory ``uare train`` runs in
(the repository root for the shipped configs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from uare.data.config import SOURCE_KINDS, DataConfig
from uare.data.items import CE_NORMS
from uare.errors import UareError


class TrainConfigError(UareError):
    """A training config (or a ``--set`` override) is invalid."""


@dataclass
class InitConfig:
    """Where the weights start.

    ``path``: a BAGEL or uare checkpoint folder (e.g. BAGEL-7B-MoT, or the stage-1 result for stage 2).
    ``preset``: a model config name (``tiny``, ``micro``, ``bagel-7b``) used when ``path`` is empty (random
    weights from ``seed``, written to ``<out>/init`` first) and by ``--dry-run`` when ``path`` is absent.
    ``copy_und_to_gen``: copy every understanding weight into its generation twin after loading (BAGEL's
    ``init_moe``); required when the checkpoint has no ``*_moe_gen`` tensors (e.g. a dense Qwen2 LLM).
    ``vae``: an ``ae.safetensors`` (or a folder holding one) that replaces the autoencoder after loading,
    e.g. the tiny AE pretrained by ``python -m uare.train.vae_pretrain``; its latent scale and shift
    (safetensors metadata) replace the config's.
    """

    path: str = ""
    preset: str = ""
    seed: int = 0
    copy_und_to_gen: bool = False
    vae: str = ""
    # zero the velocity head (llm2vae) after loading: with flow_source degraded the first one-step
    # restoration is then exactly the input, and training only ever has to learn the correction
    zero_velocity_head: bool = False
    # redraw these parameters (name prefixes, e.g. vit_model., connector.) from random after loading
    reinit: list[str] = field(default_factory=list)
    # model config fields set after loading (uare.train.model_setup.CONFIG_OVERRIDES, e.g. vit_pos_scale)
    config: dict[str, float] = field(default_factory=dict)
    # "pca": start the ViT patch embedding from whitened principal components of ``pca_folders``'
    # patches (uare.train.model_setup.init_vit_patch_pca); "" keeps the loaded / random weights
    vit_patch_init: str = ""
    pca_folders: list[str] = field(default_factory=list)


@dataclass
class OptimConfig:
    """AdamW with a linear warm-up to a constant learning rate (the paper: 2e-5 after 500 steps)."""

    lr: float = 2e-5
    warmup_steps: int = 500
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    eps: float = 1e-15
    weight_decay: float = 0.0
    grad_clip: float = 1.0


@dataclass
class TrainSection:
    """The loop: steps, accumulation, loss weights, EMA, precision and activation checkpointing."""

    max_steps: int = 1000
    grad_accum: int = 1
    ce_weight: float = 0.25
    mse_weight: float = 1.0
    timestep_shift: float = 1.0
    # "noise": BAGEL's flow from pure noise; "degraded": from the sample's degraded latent plus
    # ``source_noise`` x noise (see uare.model.packing.degraded_source); inference must match it.
    flow_source: str = "noise"
    source_noise: float = 0.0
    # "mean": VAE latents are the posterior mean (uare's default: one image, one latent); "sample": a
    # posterior draw per image and step, as BAGEL trains
    vae_posterior: str = "mean"
    ema_decay: float = 0.9999
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    gradient_checkpointing: bool = False
    # packed-sample attention: "loop" (one SDPA per sample; the CPU path), "flex" (one FlexAttention call
    # with a block-sparse mask; compiled on CUDA) or "auto" (flex on CUDA, loop elsewhere)
    packed_attention: str = "auto"
    threads: int = 0  # torch intra-op threads per process on CPU (0: torch's default)
    # stop after this many seconds of training (0: no limit) and still checkpoint and export the
    # weights reached; for fixed time budgets (the GPU recipe)
    max_seconds: float = 0.0
    # when set, the run's lr is multiplied by this on the understanding path (ViT, connector, und
    # expert, embeddings, lm_head) -- stage 2 can keep the understanding a stage-0 run taught
    und_lr_scale: float = 1.0


@dataclass
class CheckpointConfig:
    """Checkpoint cadence and retention; ``export`` picks the weights of ``<out>/final`` (ema or raw)."""

    every: int = 1000
    keep: int = 3
    export: str = "ema"


@dataclass
class LogConfig:
    """Logging cadence; TensorBoard files are written only when ``torch.utils.tensorboard`` imports."""

    every: int = 10
    tensorboard: bool = True
    progress: bool = True


@dataclass
class DistConfig:
    """``strategy``: auto (FSDP2 on CUDA, DDP over gloo on CPU, none for one process), fsdp, ddp or none."""

    strategy: str = "auto"
    timeout_s: int = 1800


@dataclass
class TrainConfig:
    """A whole training run."""

    name: str = "run"
    stage: int = 1
    seed: int = 0
    out: str = "runs/run"
    init: InitConfig = field(default_factory=InitConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainSection = field(default_factory=TrainSection)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    log: LogConfig = field(default_factory=LogConfig)
    dist: DistConfig = field(default_factory=DistConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------- validation
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (int, float, bool, str, list[...], dict[str, ...],
    dataclasses); ints are accepted for floats."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise TrainConfigError(f"{key}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, key)
    if origin is list:
        (inner,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise TrainConfigError(f"{key}: expected a list, got {value!r}")
        return [_convert(v, inner, f"{key}.{i}") for i, v in enumerate(value)]
    if origin is dict:
        _, inner = typing.get_args(tp)
        if not isinstance(value, dict):
            raise TrainConfigError(f"{key}: expected a mapping, got {value!r}")
        return {str(k): _convert(v, inner, f"{key}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        raise TrainConfigError(f"{key}: internal error, union types are not supported")
    if tp is bool:
        if not isinstance(value, bool):
            raise TrainConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TrainConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TrainConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise TrainConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise TrainConfigError(f"{key}: internal error, unsupported type {_type_name(tp)}")


def _build(cls: type, d: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(d) - set(names))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise TrainConfigError(f"unknown key(s) {', '.join(where + k for k in unknown)}; "
                               f"known in {prefix or 'the top level'}: {', '.join(names)}")
    kwargs = {k: _convert(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in d.items()}
    return cls(**kwargs)


def _check(cfg: TrainConfig) -> None:
    """Value checks that types alone do not catch."""
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise TrainConfigError(msg)

    need(cfg.stage in (0, 1, 2), f"stage: expected 0 (understanding), 1 or 2, got {cfg.stage}")
    need(cfg.train.max_steps >= 1, "train.max_steps must be >= 1")
    need(cfg.train.grad_accum >= 1, "train.grad_accum must be >= 1")
    need(0.0 <= cfg.train.ema_decay < 1.0, "train.ema_decay must be in [0, 1)")
    need(cfg.train.precision in ("auto", "fp32", "bf16"), "train.precision: expected auto, fp32 or bf16")
    need(cfg.train.packed_attention in ("auto", "loop", "flex"), "train.packed_attention: expected auto, loop or flex")
    need(cfg.train.flow_source in ("noise", "degraded"), "train.flow_source: expected noise or degraded")
    need(cfg.train.source_noise >= 0, "train.source_noise: must be >= 0")
    need(cfg.train.vae_posterior in ("mean", "sample"), "train.vae_posterior: expected mean or sample")
    need(cfg.train.max_seconds >= 0, "train.max_seconds must be >= 0")
    need(0 <= cfg.train.threads <= 1024, f"train.threads must be 0 (torch's default) or a thread count, got {cfg.train.threads}")
    need(cfg.train.und_lr_scale >= 0, "train.und_lr_scale must be >= 0")
    need(cfg.optim.lr > 0 and cfg.optim.warmup_steps >= 0, "optim.lr must be > 0 and optim.warmup_steps >= 0")
    need(len(cfg.optim.betas) == 2, "optim.betas must be two numbers")
    need(cfg.checkpoint.every >= 1 and cfg.checkpoint.keep >= 1, "checkpoint.every and checkpoint.keep must be >= 1")
    need(cfg.checkpoint.export in ("ema", "raw"), "checkpoint.export: expected ema or raw")
    need(cfg.dist.strategy in ("auto", "fsdp", "ddp", "none"), "dist.strategy: expected auto, fsdp, ddp or none")
    need(bool(cfg.init.path or cfg.init.preset), "init: give init.path (a checkpoint folder) or init.preset")
    need(cfg.init.vit_patch_init in ("", "pca"), "init.vit_patch_init: expected \"\" or pca")
    need(cfg.data.tokens_per_pack >= 16, "data.tokens_per_pack must be >= 16")
    need(cfg.data.num_workers >= 0, "data.num_workers must be >= 0")
    for name in ("text", "vit", "vae"):
        p = getattr(cfg.data.dropout, name)
        need(0.0 <= p <= 1.0, f"data.dropout.{name} must be in [0, 1]")
    for i, s in enumerate(cfg.data.sources):
        need(s.kind in SOURCE_KINDS, f"data.sources.{i}.kind: expected one of {', '.join(SOURCE_KINDS)}, got {s.kind!r}")
        need(len(s.crop) in (1, 2) and min(s.crop) > 0, f"data.sources.{i}.crop: expected [min, max] pixels")
        need(len(s.crop) == 1 or s.crop[0] <= s.crop[1],
             f"data.sources.{i}.crop: min {s.crop[0]} is above max {s.crop[-1]}; write [min, max]")
        need(s.weight >= 0, f"data.sources.{i}.weight must be >= 0")
        need(not s.shards or s.kind in ("restoration", "iqa", "interleaved"),
             f"data.sources.{i}.shards: only restoration, iqa and interleaved sources read shards")
        need(not (s.shards and s.folders), f"data.sources.{i}: give folders or shards, not both")
        need(s.balance_tries >= 1, f"data.sources.{i}.balance_tries must be >= 1")
        need(s.balance_by in ("category", "level"), f"data.sources.{i}.balance_by: expected category or level")
        from uare.degrade.types import OPT_IN_TYPES, TYPE_CATEGORY, TYPES, pool_types

        bad_xt = sorted(t for t in s.extra_types if t not in TYPES)
        need(not bad_xt, f"data.sources.{i}.extra_types: unknown type(s) {bad_xt}; the opt-in types are "
             f"{', '.join(OPT_IN_TYPES) or 'none'} (every type: {', '.join(TYPES)})")
        cats = {TYPE_CATEGORY[t] for t in pool_types(s.extra_types)}
        bad_cw = sorted(k for k, v in s.category_weights.items() if k not in cats or v < 0)
        need(not bad_cw, f"data.sources.{i}.category_weights: unknown category or negative weight: {bad_cw} "
             f"(categories of this source's types: {', '.join(sorted(cats))}; extra_types adds more)")
        need(s.soft_levels >= 0, f"data.sources.{i}.soft_levels must be >= 0")
        need(s.level_weight > 0, f"data.sources.{i}.level_weight must be > 0")
        need(0.0 <= s.clean_prob <= 1.0 and 0.0 <= s.auto_prob <= 1.0,
             f"data.sources.{i}.clean_prob and auto_prob must be in [0, 1]")
    need(0 <= cfg.data.vit_max_size <= 4096 and 0 <= cfg.data.vit_min_size <= 4096,
         "data.vit_max_size and data.vit_min_size must be in [0, 4096] px (0: the model's largest grid / one patch)")
    need(cfg.train.timestep_shift > 0, f"train.timestep_shift must be > 0, got {cfg.train.timestep_shift}")
    need(cfg.data.ce_norm in CE_NORMS, f"data.ce_norm: expected {', '.join(CE_NORMS)}")
    from uare.degrade.pipelines import HIGHORDER_PIPELINES

    hp = cfg.data.curriculum.highorder_pipelines
    need(bool(hp) and set(hp) <= set(HIGHORDER_PIPELINES) and min(hp.values()) >= 0 and sum(hp.values()) > 0,
         f"data.curriculum.highorder_pipelines: map {' / '.join(HIGHORDER_PIPELINES)} to weights >= 0, not all "
         f"zero; got {hp}")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], YAML value)."""
    if "=" not in text:
        raise TrainConfigError(f"--set {text!r}: expected key=value, e.g. train.max_steps=100")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise TrainConfigError(f"--set {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise TrainConfigError(f"--set {text!r}: value is not valid YAML ({e})") from None
    return parts, value


def apply_override(d: dict[str, Any], parts: list[str], value: Any) -> None:
    """Set ``d[parts[0]][parts[1]]...`` (list items by index), creating mappings on the way."""
    cur: Any = d
    for i, p in enumerate(parts[:-1]):
        if isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError):
                raise TrainConfigError(f"--set {'.'.join(parts)}: no list item {p!r}") from None
            continue
        if not isinstance(cur.get(p, {}), dict | list):
            raise TrainConfigError(f"--set {'.'.join(parts)}: {'.'.join(parts[:i + 1])} is not a section")
        cur = cur.setdefault(p, {})
    last = parts[-1]
    if isinstance(cur, list):
        try:
            cur[int(last)] = value
        except (ValueError, IndexError):
            raise TrainConfigError(f"--set {'.'.join(parts)}: no list item {last!r}") from None
    else:
        cur[last] = value


def config_from_dict(d: dict[str, Any], overrides: list[str] | None = None) -> TrainConfig:
    """Validate a mapping (plus ``key=value`` overrides) into a :class:`TrainConfig`."""
    d = yaml.safe_load(yaml.safe_dump(d)) or {}  # a deep copy with plain types
    for o in overrides or []:
        apply_override(d, *parse_override(o))
    cfg = _build(TrainConfig, d, "")
    _check(cfg)
    return cfg


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read and validate a YAML training config."""
    path = Path(path)
    if not path.is_file():
        raise TrainConfigError(f"{path}: config file not found")
    try:
        d = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise TrainConfigError(f"{path}: not valid YAML ({e})") from None
    if d is None:
        d = {}
    if not isinstance(d, dict):
        raise TrainConfigError(f"{path}: expected a mapping at the top level")
    try:
        return config_from_dict(d, overrides)
    except TrainConfigError as e:
        raise TrainConfigError(f"{path}: {e}") from None
