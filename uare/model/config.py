"""Model configuration: the BAGEL-7B-MoT sizes, the tiny CPU sizes, and the JSON files of both formats.

Field names follow the files they are read from: :class:`LLMConfig` uses Qwen2's ``llm_config.json``
names, :class:`ViTConfig` SigLIP's ``vit_config.json`` names, :class:`VAEConfig` FLUX's
``AutoEncoderParams``. ``ViTConfig.num_hidden_layers`` is the value *in the file*; like BAGEL, the
model builds one layer fewer and reads the penultimate layer's features.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from uare.errors import UareError


class ConfigError(UareError):
    """A configuration file is missing a field, has a wrong value or an unknown key."""


def _from_dict(cls, d: dict[str, Any], source: str, strict: bool):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if strict and unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    kwargs = {k: v for k, v in d.items() if k in names}
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{source}: {e}") from None


@dataclass
class LLMConfig:
    """Qwen2 decoder with QK-norm, as BAGEL's MoT language model (names of ``llm_config.json``)."""

    hidden_size: int = 3584
    intermediate_size: int = 18944
    num_hidden_layers: int = 28
    num_attention_heads: int = 28
    num_key_value_heads: int = 4
    vocab_size: int = 152064
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1_000_000.0
    max_position_embeddings: int = 32768
    hidden_act: str = "silu"
    qk_norm: bool = True
    tie_word_embeddings: bool = False

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(f"hidden_size {self.hidden_size} is not divisible by {self.num_attention_heads} heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ConfigError("num_attention_heads must be a multiple of num_key_value_heads")
        if self.head_dim % 2:
            raise ConfigError(f"head_dim {self.head_dim} must be even for RoPE")
        if self.hidden_size % 4:
            raise ConfigError("hidden_size must be divisible by 4 for the 2-D sin-cos position tables")
        if self.hidden_act != "silu":
            raise ConfigError(f"only hidden_act 'silu' (SwiGLU) is supported, got {self.hidden_act!r}")
        if self.tie_word_embeddings:
            raise ConfigError("BAGEL unties lm_head from embed_tokens; tie_word_embeddings must be false")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


@dataclass
class ViTConfig:
    """SigLIP NaViT understanding encoder (names of ``vit_config.json``)."""

    hidden_size: int = 1152
    intermediate_size: int = 4304
    num_hidden_layers: int = 27
    num_attention_heads: int = 16
    patch_size: int = 14
    image_size: int = 980
    num_channels: int = 3
    layer_norm_eps: float = 1e-6
    hidden_act: str = "gelu_pytorch_tanh"
    select_layer: int = -2  # BAGEL's vit_select_layer: the penultimate layer's output

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError("ViT hidden_size must be divisible by num_attention_heads")
        if self.layers_used < 1:
            raise ConfigError(f"ViT needs at least one layer after select_layer {self.select_layer}")

    @property
    def layers_used(self) -> int:
        """Layers actually built: ``num_hidden_layers + 1 + select_layer`` (27 -> 26 for BAGEL)."""
        return self.num_hidden_layers + 1 + self.select_layer


@dataclass
class VAEConfig:
    """FLUX-style autoencoder (``AutoEncoderParams``)."""

    resolution: int = 256
    in_channels: int = 3
    ch: int = 128
    out_ch: int = 3
    ch_mult: list[int] = field(default_factory=lambda: [1, 2, 4, 4])
    num_res_blocks: int = 2
    z_channels: int = 16
    scale_factor: float = 0.3611
    shift_factor: float = 0.1159
    # FLUX: 32 GroupNorm groups. A narrow AE needs fewer: at one channel per group GroupNorm becomes
    # instance norm, and the last norm then erases each image's mean colour.
    norm_groups: int = 32
    # uare-tiny only (FLUX: False): a linear path from the f x f pixel patches to the latent and back,
    # added to the deep encoder/decoder outputs. A small AE trained for minutes on a CPU then starts
    # from a PCA of the patches (~30 dB) instead of ~17 dB; adds the keys ``{encoder,decoder}.patch_skip``.
    patch_skip: bool = False

    def __post_init__(self) -> None:
        self.ch_mult = list(self.ch_mult)
        if any((self.ch * m) % self.norm_groups for m in self.ch_mult):
            raise ConfigError(f"VAE channel widths must be multiples of norm_groups ({self.norm_groups})")

    @property
    def downsample(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)


@dataclass
class UAREConfig:
    """The whole model: MoT LLM, ViT, VAE and the glue between them (BAGEL's ``BagelConfig``)."""

    llm: LLMConfig = field(default_factory=LLMConfig)
    vit: ViTConfig = field(default_factory=ViTConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    latent_patch_size: int = 2
    max_latent_size: int = 64
    vit_max_num_patch_per_side: int = 70
    connector_act: str = "gelu_pytorch_tanh"
    # the shift of the flow times these weights were trained with (the trainer writes train.timestep_shift
    # here; a record, read by nothing: sampling takes its settings from inference.json's sampler)
    timestep_shift: float = 1.0
    # uare-tiny only (BAGEL: 1.0, the exact BAGEL function): scale of the fixed 2-D sin-cos table added
    # to the connector output of every ViT row. Its rows have norm sqrt(D / 2) (11.3 at D = 256) while a
    # small, freshly trained connector outputs ~1, so at 1.0 the rows entering a tiny LLM are 99 %
    # position and the image barely reaches it; the ViT's own learned position table still says where
    # each patch is.
    vit_pos_scale: float = 1.0
    name: str = "bagel-7b"

    @property
    def latent_channels(self) -> int:
        return self.vae.z_channels

    @property
    def latent_downsample(self) -> int:
        """Pixels per generation token along a side: VAE factor x latent patch (16 for BAGEL)."""
        return self.vae.downsample * self.latent_patch_size

    @property
    def patch_latent_dim(self) -> int:
        return self.latent_patch_size**2 * self.vae.z_channels

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config.json") -> UAREConfig:
        d = dict(d)
        llm = _from_dict(LLMConfig, d.pop("llm", {}), f"{source} [llm]", strict=True)
        vit = _from_dict(ViTConfig, d.pop("vit", {}), f"{source} [vit]", strict=True)
        vae = _from_dict(VAEConfig, d.pop("vae", {}), f"{source} [vae]", strict=True)
        d.pop("format", None)
        d.pop("uare_version", None)
        top = _from_dict(cls, d, source, strict=True)
        top.llm, top.vit, top.vae = llm, vit, vae
        return top

    @classmethod
    def from_bagel_files(cls, llm_json: Path, vit_json: Path, vae: VAEConfig | None = None) -> UAREConfig:
        """Build from BAGEL's ``llm_config.json`` and ``vit_config.json`` (HF keys we do not use are ignored).

        BAGEL's loader forces ``qk_norm=True`` and ``tie_word_embeddings=False``; so do we.
        """
        llm_d = _read_json(llm_json)
        vit_d = _read_json(vit_json)
        llm_d.update(qk_norm=True, tie_word_embeddings=False)
        llm_d.setdefault("hidden_act", "silu")
        llm = _from_dict(LLMConfig, llm_d, str(llm_json), strict=False)
        vit = _from_dict(ViTConfig, vit_d, str(vit_json), strict=False)
        return cls(llm=llm, vit=vit, vae=vae or VAEConfig(), name="bagel")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None


def bagel_7b(vocab_size: int = 152064) -> UAREConfig:
    """BAGEL-7B-MoT: Qwen2.5-7B MoT (14 B parameters), SigLIP-so400m/14 NaViT, FLUX VAE."""
    return UAREConfig(llm=LLMConfig(vocab_size=vocab_size), name="bagel-7b")


def tiny(vocab_size: int = 2048) -> UAREConfig:
    """uare-tiny: the same architecture at a few million parameters, for the CPU."""
    return UAREConfig(
        llm=LLMConfig(hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=8,
                      num_key_value_heads=2, vocab_size=vocab_size, rope_theta=10_000.0, max_position_embeddings=8192),
        vit=ViTConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4,
                      patch_size=14, image_size=14 * 32),
        vae=VAEConfig(ch=32, ch_mult=[1, 2, 2], num_res_blocks=1, z_channels=16, norm_groups=8, patch_skip=True),
        max_latent_size=64,
        vit_max_num_patch_per_side=32,
        vit_pos_scale=0.1,
        name="tiny",
    )


def micro(vocab_size: int = 512) -> UAREConfig:
    """The smallest configuration that exercises every code path; for unit tests."""
    return UAREConfig(
        llm=LLMConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=vocab_size, rope_theta=10_000.0, max_position_embeddings=4096),
        vit=ViTConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
                      patch_size=14, image_size=14 * 8),
        vae=VAEConfig(ch=32, ch_mult=[1, 1, 1, 1], num_res_blocks=1, z_channels=16),
        max_latent_size=16,
        vit_max_num_patch_per_side=8,
        name="micro",
    )


PRESETS = {"bagel-7b": bagel_7b, "tiny": tiny, "micro": micro}


def preset(name: str, **kw: Any) -> UAREConfig:
    """A named configuration: ``bagel-7b``, ``tiny`` or ``micro``."""
    if name not in PRESETS:
        raise ConfigError(f"unknown model config {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name](**kw)
