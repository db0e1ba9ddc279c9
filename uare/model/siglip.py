"""SigLIP NaViT vision encoder, as BAGEL uses it for understanding (``siglip-so400m-14-980`` + NaViT packing).

Images of any size are cut into ``p x p`` patches (see :func:`uare.model.image_transforms.vit_patchify`),
the patches of several images are packed back to back into one ``[N, p*p*3]`` tensor, and each patch
gets the position id ``r * max_num_patch_per_side + c`` of its cell. ``cu_seqlens`` (cumulative token
counts, starting at 0) marks where each image starts; attention is bidirectional **within** an image and
never crosses images.

Layout and numerics follow BAGEL's checkpoint (``vit_model.`` prefix stripped):

* ``vision_model.embeddings.patch_embedding`` is a **Linear** ``[hidden, p*p*3]`` whose inputs are ordered
  (row-in-patch, col-in-patch, channel); :func:`load_conv_patch_embedding` converts SigLIP's Conv2d kernel.
* ``vision_model.embeddings.position_embedding`` is a learned ``nn.Embedding(max_side**2, hidden)``, added
  to the patch embeddings (BAGEL runs with ``rope=False``).
* ``vision_model.encoder.layers.{i}``: pre-LN blocks, ``x += attn(LN1(x))``; ``x += fc2(gelu_tanh(fc1(LN2(x))))``,
  for ``i < config.layers_used`` (26 for BAGEL: the file says 27, the penultimate output is used).
* ``vision_model.post_layernorm`` is still applied to that penultimate output, as BAGEL does.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from uare.model.config import ViTConfig
from uare.model.embeddings import activation


def load_conv_patch_embedding(conv_weight: torch.Tensor) -> torch.Tensor:
    """Turn a Conv2d patch kernel ``[hidden, C, p, p]`` into the equivalent Linear weight ``[hidden, p*p*C]``.

    A stride-``p`` conv computes ``sum_{c,i,j} W[o, c, i, j] * x[c, r*p + i, q*p + j]``; the Linear sees the
    patch flattened as (row-in-patch i, col-in-patch j, channel c), i.e. feature ``(i*p + j)*C + c``. So the
    kernel is permuted to ``(out, kh, kw, c)`` and flattened, as BAGEL's ``convert_conv2d_to_linear`` does.
    The conv bias carries over unchanged.
    """
    if conv_weight.ndim != 4 or conv_weight.shape[2] != conv_weight.shape[3]:
        raise ValueError(f"expected a square conv kernel [out, C, p, p], got {tuple(conv_weight.shape)}")
    return conv_weight.permute(0, 2, 3, 1).reshape(conv_weight.shape[0], -1).contiguous()


class SiglipVisionEmbeddings(nn.Module):
    """Linear patch embedding plus a learned absolute position table indexed by packed position ids."""

    def __init__(self, config: ViTConfig, max_num_patch_per_side: int):
        super().__init__()
        self.patch_size = config.patch_size
        self.num_channels = config.num_channels
        self.max_num_patch_per_side = max_num_patch_per_side
        self.patch_embedding = nn.Linear(config.patch_size**2 * config.num_channels, config.hidden_size)
        self.position_embedding = nn.Embedding(max_num_patch_per_side**2, config.hidden_size)
        # SigLIP's init scale; N(0, 1) positions would swamp the patch signal in a random model.
        nn.init.normal_(self.position_embedding.weight, std=config.hidden_size**-0.5)

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        # Accept an original SigLIP Conv2d kernel as well as BAGEL's Linear one.
        key = prefix + "patch_embedding.weight"
        w = state_dict.get(key)
        if isinstance(w, torch.Tensor) and w.ndim == 4:
            state_dict[key] = load_conv_patch_embedding(w)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, packed_pixel_values: torch.Tensor, packed_position_ids: torch.Tensor) -> torch.Tensor:
        x = packed_pixel_values.to(self.patch_embedding.weight.dtype)
        return self.patch_embedding(x) + self.position_embedding(packed_position_ids)


class SiglipAttention(nn.Module):
    """Multi-head self-attention over packed images; a token only attends to tokens of its own image."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scale = self.head_dim**-0.5
        d = config.hidden_size
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor, seqlens: list[int]) -> torch.Tensor:
        n = x.shape[0]
        q, k, v = (
            proj(x).view(n, self.num_heads, self.head_dim) for proj in (self.q_proj, self.k_proj, self.v_proj)
        )
        if len(set(seqlens)) == 1:
            # Equal-length images: one batched call, no mask.
            b, s = len(seqlens), seqlens[0]
            q, k, v = (t.view(b, s, self.num_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
            o = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
            o = o.transpose(1, 2).reshape(n, -1)
        else:
            # One unmasked call per image: cheaper on CPU than an N x N block-diagonal mask, whose cost
            # grows with the square of the whole pack and which disables the fused kernels.
            outs = []
            start = 0
            for s in seqlens:
                sl = slice(start, start + s)
                qi, ki, vi = (t[sl].transpose(0, 1) for t in (q, k, v))
                outs.append(F.scaled_dot_product_attention(qi, ki, vi, scale=self.scale).transpose(0, 1))
                start += s
            o = torch.cat(outs, dim=0).reshape(n, -1)
        return self.out_proj(o)


class SiglipMLP(nn.Module):
    """``fc2(act(fc1(x)))`` with SigLIP's ``gelu_pytorch_tanh``."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.act = activation(config.hidden_act)
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SiglipEncoderLayer(nn.Module):
    """Pre-LN transformer block: ``x += attn(LN1(x)); x += mlp(LN2(x))``."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.self_attn = SiglipAttention(config)
        self.layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = SiglipMLP(config)
        self.layer_norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, seqlens: list[int]) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x), seqlens)
        return x + self.mlp(self.layer_norm2(x))


class SiglipEncoder(nn.Module):
    """The stack of ``config.layers_used`` encoder layers."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.layers = nn.ModuleList(SiglipEncoderLayer(config) for _ in range(config.layers_used))

    def forward(self, x: torch.Tensor, seqlens: list[int]) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, seqlens)
        return x


class SiglipVisionTransformer(nn.Module):
    """Embeddings, encoder and ``post_layernorm`` (the ``vision_model`` submodule)."""

    def __init__(self, config: ViTConfig, max_num_patch_per_side: int):
        super().__init__()
        self.embeddings = SiglipVisionEmbeddings(config, max_num_patch_per_side)
        self.encoder = SiglipEncoder(config)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(
        self, packed_pixel_values: torch.Tensor, packed_position_ids: torch.Tensor, seqlens: list[int]
    ) -> torch.Tensor:
        x = self.embeddings(packed_pixel_values, packed_position_ids)
        return self.post_layernorm(self.encoder(x, seqlens))


def _seqlens(cu_seqlens: torch.Tensor | list[int], n_tokens: int) -> list[int]:
    cu = [int(v) for v in (cu_seqlens.tolist() if isinstance(cu_seqlens, torch.Tensor) else cu_seqlens)]
    if len(cu) < 2 or cu[0] != 0 or cu[-1] != n_tokens:
        raise ValueError(f"cu_seqlens must run from 0 to the number of tokens ({n_tokens}), got {cu}")
    lens = [b - a for a, b in zip(cu[:-1], cu[1:], strict=True)]
    if any(s <= 0 for s in lens):
        raise ValueError(f"cu_seqlens must be strictly increasing, got {cu}")
    return lens


class SiglipVisionModel(nn.Module):
    """BAGEL's understanding ViT; ``state_dict`` keys start with ``vision_model.`` as in ``ema.safetensors``.

    Args:
        config: the ViT sizes; ``config.layers_used`` layers are built.
        max_num_patch_per_side: side of the learned position grid (70 for BAGEL).
    """

    def __init__(self, config: ViTConfig, max_num_patch_per_side: int):
        super().__init__()
        if config.num_channels != 3:
            raise ValueError(f"the ViT expects RGB input, got num_channels={config.num_channels}")
        self.config = config
        self.max_num_patch_per_side = max_num_patch_per_side
        self.vision_model = SiglipVisionTransformer(config, max_num_patch_per_side)

    def forward(
        self,
        packed_pixel_values: torch.Tensor,
        packed_position_ids: torch.Tensor,
        cu_seqlens: torch.Tensor | list[int],
    ) -> torch.Tensor:
        """Encode packed images.

        Args:
            packed_pixel_values: ``[N, p*p*3]`` patches in [-1, 1], each flattened (row, col, channel).
            packed_position_ids: ``[N]`` long, ``r * max_num_patch_per_side + c`` per patch.
            cu_seqlens: ``[n_images + 1]`` cumulative token counts ``0, n_1, n_1 + n_2, ..., N``.

        Returns:
            ``[N, hidden]`` features (penultimate layer, then ``post_layernorm``).
        """
        n, feat = packed_pixel_values.shape
        want = self.config.patch_size**2 * self.config.num_channels
        if feat != want:
            raise ValueError(f"packed_pixel_values has {feat} features per patch, expected {want}")
        if packed_position_ids.shape != (n,):
            raise ValueError(
                f"packed_position_ids must have shape ({n},), got {tuple(packed_position_ids.shape)}"
            )
        return self.vision_model(packed_pixel_values, packed_position_ids, _seqlens(cu_seqlens, n))
