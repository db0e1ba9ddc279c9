"""The Mixture-of-Transformers decoder: a Qwen2 LLM whose every layer has two experts.

BAGEL (and so UARE) duplicates every parameterised part of each Qwen2 layer: the original weights
form the *understanding* (IQA) expert, the ``*_moe_gen`` twins the *generation* (restoration)
expert. Routing is static, by token type: text and ViT tokens go through und, VAE latent tokens
through gen. Both experts meet in one softmax attention over the joint sequence, so restoration
tokens read the analysis text and the image, and later text reads clean images.

A layer, for a sequence whose rows are split into und rows U and gen rows G:

    h = input_layernorm(x)                       | input_layernorm_moe_gen(x)
    q, k, v = {q,k,v}_proj(h); q, k = {q,k}_norm | the _moe_gen twins
    q, k = RoPE(q, k, positions)                   (shared)
    o = softmax(q k^T / sqrt(d) + mask) v          (one attention over U and G together)
    x = x + o_proj(o)                            | o_proj_moe_gen(o)
    x = x + mlp(post_attention_layernorm(x))     | mlp_moe_gen(post_attention_layernorm_moe_gen(x))

Attention always runs through ``torch.nn.functional.scaled_dot_product_attention`` with a boolean
mask (True = may attend), over the cached keys followed by the current chunk's keys; a training pack
passes :class:`SampleMasks` instead, so attention runs per sample (cost linear in the pack's sample
count, not quadratic in its length).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from uare.model.config import LLMConfig


class RMSNorm(nn.Module):
    """Root-mean-square norm computed in fp32, returned in the input dtype (as Qwen2)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dtype)


class SwiGLU(nn.Module):
    """Qwen2's MLP: down(silu(gate(x)) * up(x))."""

    def __init__(self, hidden: int, inner: int):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, inner, bias=False)
        self.up_proj = nn.Linear(hidden, inner, bias=False)
        self.down_proj = nn.Linear(inner, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class RotaryEmbedding(nn.Module):
    """1-D rotary position embedding (rotate-half), cos/sin computed in fp32."""

    def __init__(self, head_dim: int, theta: float):
        super().__init__()
        self.theta = theta
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = positions.float()[:, None] * self.inv_freq.float()[None, :]
        emb = torch.cat([freqs, freqs], dim=-1)
        return emb.cos().to(dtype), emb.sin().to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` [N, heads, head_dim] by per-row angles (cos/sin [N, head_dim])."""
    return x * cos[:, None, :] + _rotate_half(x) * sin[:, None, :]


@dataclass
class Routing:
    """Which rows go to which expert, worked out once per forward instead of once per routed op.

    ``mode`` is ``"und"`` (no gen row), ``"gen"`` (only gen rows) or ``"mixed"``; for mixed chunks the
    row indices of each expert (ascending, as boolean-mask indexing would take them). ``mask`` is the
    boolean gen mask itself (or ``None``).
    """

    mode: str
    mask: torch.Tensor | None = None
    und_idx: torch.Tensor | None = None
    gen_idx: torch.Tensor | None = None

    @classmethod
    def of(cls, gen: torch.Tensor | Routing | None) -> Routing:
        if isinstance(gen, Routing):
            return gen
        if gen is None:
            return cls("und")
        n_gen = int(gen.sum())
        if n_gen == 0:
            return cls("und", gen)
        if n_gen == gen.numel():
            return cls("gen", gen)
        return cls("mixed", gen, torch.nonzero(~gen).squeeze(1), torch.nonzero(gen).squeeze(1))


def route(x: torch.Tensor, gen: torch.Tensor | Routing | None, f_und: Callable, f_gen: Callable,
          out_dim: int) -> torch.Tensor:
    """Apply ``f_und`` to the und rows of ``x`` and ``f_gen`` to its gen rows (``gen``: a bool mask or a
    :class:`Routing`). The same rows in the same order as boolean-mask indexing: bit-identical results."""
    r = Routing.of(gen)
    if r.mode == "und":
        return f_und(x)
    if r.mode == "gen":
        return f_gen(x)
    out = x.new_empty((x.shape[0], out_dim))
    out = out.index_copy(0, r.und_idx, f_und(x.index_select(0, r.und_idx)))
    return out.index_copy(0, r.gen_idx, f_gen(x.index_select(0, r.gen_idx)))


@dataclass
class SampleMasks:
    """The attention of a pack of samples: each sample's row range and its own [n_i, n_i] mask."""

    bounds: list[tuple[int, int]]
    masks: list[torch.Tensor]

    def to(self, device: torch.device) -> SampleMasks:
        return SampleMasks(self.bounds, [m.to(device) for m in self.masks])


#: how packed samples attend: "loop" (one SDPA per sample with its dense mask: right everywhere, the CPU
#: path), "flex" (one FlexAttention call over the pack with a block-sparse mask: the GPU path, compiled on
#: CUDA) or "auto" (flex on CUDA, loop elsewhere). ``UARE_PACKED_ATTENTION`` or ``set_packed_attention``.
PACKED_ATTENTION = os.environ.get("UARE_PACKED_ATTENTION", "auto")
_FLEX: dict[str, Callable] = {}


def set_packed_attention(mode: str) -> None:
    """Choose the packed-attention path: ``auto``, ``loop`` or ``flex`` (see :data:`PACKED_ATTENTION`)."""
    global PACKED_ATTENTION
    if mode not in ("auto", "loop", "flex"):
        raise ValueError(f"packed attention must be auto, loop or flex, got {mode!r}")
    PACKED_ATTENTION = mode


def _flex_fn(device: torch.device) -> Callable:
    from torch.nn.attention.flex_attention import flex_attention

    key = device.type
    if key not in _FLEX:
        _FLEX[key] = torch.compile(flex_attention, dynamic=False) if device.type == "cuda" else flex_attention
    return _FLEX[key]


def packed_attention(qh: torch.Tensor, kh: torch.Tensor, vh: torch.Tensor, masks: SampleMasks,
                     mode: str | None = None) -> torch.Tensor:
    """Attention of packed samples [1, H, N, d] that never see each other, each under its own mask.

    ``loop``: one SDPA per sample. ``flex``: one FlexAttention call whose mask_mod reads the pack's
    document ids and the samples' own masks (flattened, O(sum n_i^2) memory, never [N, N]); blocks
    outside every sample are skipped. Both give the same result within fp32 rounding (tested).
    """
    mode = mode or PACKED_ATTENTION
    if mode == "auto":
        mode = "flex" if qh.device.type == "cuda" else "loop"
    if mode == "loop":
        return torch.cat([F.scaled_dot_product_attention(qh[:, :, a:b], kh[:, :, a:b], vh[:, :, a:b],
                                                         attn_mask=m[None, None])
                          for (a, b), m in zip(masks.bounds, masks.masks, strict=True)], dim=2)
    from torch.nn.attention.flex_attention import create_block_mask

    dev, n = qh.device, qh.shape[2]
    doc = torch.full((n,), -1, dtype=torch.long, device=dev)
    start = torch.zeros(len(masks.bounds), dtype=torch.long, device=dev)
    size = torch.zeros_like(start)
    offset = torch.zeros_like(start)
    flat, off = [], 0
    for i, ((a, b), m) in enumerate(zip(masks.bounds, masks.masks, strict=True)):
        doc[a:b] = i
        start[i], size[i], offset[i] = a, b - a, off
        flat.append(m.reshape(-1).to(dev, torch.bool))
        off += (b - a) ** 2
    flat_t = torch.cat(flat)

    def mask_mod(b, h, q_idx, kv_idx):
        d = doc[q_idx]
        same = (d == doc[kv_idx]) & (d >= 0)
        dc = d.clamp(min=0)
        idx = offset[dc] + (q_idx - start[dc]) * size[dc] + (kv_idx - start[dc])
        return same & flat_t[idx.clamp(0, flat_t.numel() - 1)]

    block = create_block_mask(mask_mod, None, None, n, n, device=dev)
    return _flex_fn(dev)(qh, kh, vh, block_mask=block)


@dataclass
class LayerCache:
    """Keys and values of every earlier token of one sequence for one layer: [T, kv_heads, head_dim]."""

    k: torch.Tensor
    v: torch.Tensor


class MoTAttention(nn.Module):
    """Grouped-query attention with q/k/v bias, per-head QK-norm, and a gen twin of every part."""

    def __init__(self, cfg: LLMConfig):
        super().__init__()
        d, hd = cfg.hidden_size, cfg.head_dim
        self.n_heads, self.n_kv, self.head_dim = cfg.num_attention_heads, cfg.num_key_value_heads, hd
        for suffix in ("", "_moe_gen"):
            setattr(self, "q_proj" + suffix, nn.Linear(d, self.n_heads * hd, bias=True))
            setattr(self, "k_proj" + suffix, nn.Linear(d, self.n_kv * hd, bias=True))
            setattr(self, "v_proj" + suffix, nn.Linear(d, self.n_kv * hd, bias=True))
            setattr(self, "o_proj" + suffix, nn.Linear(self.n_heads * hd, d, bias=False))
            setattr(self, "q_norm" + suffix, RMSNorm(hd, cfg.rms_norm_eps))
            setattr(self, "k_norm" + suffix, RMSNorm(hd, cfg.rms_norm_eps))

    def _qkv(self, h: torch.Tensor, suffix: str) -> torch.Tensor:
        n = h.shape[0]
        q = getattr(self, "q_proj" + suffix)(h).view(n, self.n_heads, self.head_dim)
        k = getattr(self, "k_proj" + suffix)(h).view(n, self.n_kv, self.head_dim)
        v = getattr(self, "v_proj" + suffix)(h).view(n, self.n_kv, self.head_dim)
        q = getattr(self, "q_norm" + suffix)(q)
        k = getattr(self, "k_norm" + suffix)(k)
        return torch.cat([q.flatten(1), k.flatten(1), v.flatten(1)], dim=1)

    def forward(self, h: torch.Tensor, gen: torch.Tensor | Routing | None, cos: torch.Tensor, sin: torch.Tensor,
                mask: torch.Tensor, cache: LayerCache | None = None, detach_und: bool = False
                ) -> tuple[torch.Tensor, LayerCache]:
        """Attend the chunk ``h`` [n, D] to ``cache`` + itself under ``mask`` [n, T + n].

        Returns the attention output (before the residual) and the cache extended by this chunk.
        ``detach_und`` cuts the gradient through und rows (BAGEL's ``freeze_und``).
        """
        n = h.shape[0]
        qd, kd = self.n_heads * self.head_dim, self.n_kv * self.head_dim

        def und(x):
            out = self._qkv(x, "")
            return out.detach() if detach_und else out

        qkv = route(h, gen, und, lambda x: self._qkv(x, "_moe_gen"), qd + 2 * kd)
        q = qkv[:, :qd].view(n, self.n_heads, self.head_dim)
        k = qkv[:, qd:qd + kd].view(n, self.n_kv, self.head_dim)
        v = qkv[:, qd + kd:].view(n, self.n_kv, self.head_dim)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k = torch.cat([cache.k, k], dim=0)
            v = torch.cat([cache.v, v], dim=0)
        new_cache = LayerCache(k, v)
        # SDPA wants [batch, heads, seq, dim]; GQA by repeating kv heads.
        rep = self.n_heads // self.n_kv
        qh = q.transpose(0, 1).unsqueeze(0)
        kh = k.repeat_interleave(rep, dim=1).transpose(0, 1).unsqueeze(0)
        vh = v.repeat_interleave(rep, dim=1).transpose(0, 1).unsqueeze(0)
        if isinstance(mask, SampleMasks):
            # packed samples never see each other: per-sample attention (CPU) or one block-sparse call (GPU)
            o = packed_attention(qh, kh, vh, mask)
        else:
            o = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=mask[None, None])
        o = o[0].transpose(0, 1).reshape(n, qd)
        out = route(o, gen, self.o_proj, self.o_proj_moe_gen, h.shape[1])
        return out, new_cache


class MoTDecoderLayer(nn.Module):
    """One Qwen2 layer with und and gen experts sharing one attention."""

    def __init__(self, cfg: LLMConfig):
        super().__init__()
        d = cfg.hidden_size
        self.self_attn = MoTAttention(cfg)
        self.mlp = SwiGLU(d, cfg.intermediate_size)
        self.mlp_moe_gen = SwiGLU(d, cfg.intermediate_size)
        self.input_layernorm = RMSNorm(d, cfg.rms_norm_eps)
        self.input_layernorm_moe_gen = RMSNorm(d, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(d, cfg.rms_norm_eps)
        self.post_attention_layernorm_moe_gen = RMSNorm(d, cfg.rms_norm_eps)

    def forward(self, x: torch.Tensor, gen: torch.Tensor | Routing | None, cos: torch.Tensor, sin: torch.Tensor,
                mask: torch.Tensor, cache: LayerCache | None = None, detach_und: bool = False
                ) -> tuple[torch.Tensor, LayerCache]:
        d = x.shape[1]
        h = route(x, gen, self.input_layernorm, self.input_layernorm_moe_gen, d)
        a, new_cache = self.self_attn(h, gen, cos, sin, mask, cache, detach_und)
        x = x + a
        h = route(x, gen, lambda t: self.mlp(self.post_attention_layernorm(t)),
                  lambda t: self.mlp_moe_gen(self.post_attention_layernorm_moe_gen(t)), d)
        out = x + h
        mask = gen.mask if isinstance(gen, Routing) else gen
        if detach_und and mask is not None:
            # Stage 1 trains the gen expert only: no gradient may reach it through und rows.
            out = torch.where(mask[:, None], out, out.detach())
        return out, new_cache


class MoTModel(nn.Module):
    """Embeddings, the decoder layers and both final norms (``language_model.model``)."""

    def __init__(self, cfg: LLMConfig):
        super().__init__()
        self.config = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(MoTDecoderLayer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.norm_moe_gen = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(cfg.head_dim, cfg.rope_theta)
        self.gradient_checkpointing = False

    def forward(self, x: torch.Tensor, gen: torch.Tensor | Routing | None, positions: torch.Tensor, mask: torch.Tensor,
                cache: list[LayerCache] | None = None, detach_und: bool = False
                ) -> tuple[torch.Tensor, list[LayerCache]]:
        """Run embedded rows ``x`` [n, D] through every layer; returns final-normed rows and the new cache."""
        cos, sin = self.rotary_emb(positions, x.dtype)
        gen = Routing.of(gen)  # once for all layers (was a mask test and two gathers per routed op)
        new_cache = []
        for i, layer in enumerate(self.layers):
            c = cache[i] if cache is not None else None
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x, lc = torch.utils.checkpoint.checkpoint(layer, x, gen, cos, sin, mask, c, detach_und,
                                                          use_reentrant=False)
            else:
                x, lc = layer(x, gen, cos, sin, mask, c, detach_und)
            new_cache.append(lc)
        x = route(x, gen, self.norm, self.norm_moe_gen, x.shape[1])
        return x, new_cache


class MoTForCausalLM(nn.Module):
    """``language_model``: the MoT model plus the untied ``lm_head`` (read on und rows only)."""

    def __init__(self, cfg: LLMConfig):
        super().__init__()
        self.config = cfg
        self.model = MoTModel(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    def init_moe(self) -> None:
        """Copy every und weight into its gen twin (BAGEL's ``init_moe``), e.g. from a dense Qwen2."""
        with torch.no_grad():
            sd = self.state_dict()
            for name, t in sd.items():
                twin = _gen_twin_name(name)
                if twin is not None and twin in sd:
                    sd[twin].copy_(t)


def _gen_twin_name(name: str) -> str | None:
    """``...q_proj.weight`` -> ``...q_proj_moe_gen.weight``, ``model.norm.weight`` -> ``model.norm_moe_gen.weight``."""
    parts = name.split(".")
    for i, p in enumerate(parts):
        if p in ("q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm", "mlp", "input_layernorm",
                 "post_attention_layernorm"):
            return ".".join(parts[:i] + [p + "_moe_gen"] + parts[i + 1:])
    if name == "model.norm.weight":
        return "model.norm_moe_gen.weight"
    return None
