"""Small embedding modules shared by the understanding and generation paths (BAGEL's ``modeling_utils``).

* :class:`MLPConnector` maps SigLIP features (1152) into the LLM width (3584): ``fc2(act(fc1(x)))``.
* :class:`TimestepEmbedder` embeds the flow-matching time t of a latent token (DiT style, but on raw
  t in [0, 1], *not* t x 1000).
* :class:`PositionEmbedding` is a frozen 2-D sin-cos table indexed by ``r * n + c``; BAGEL builds one
  for the ViT grid (70 x 70) and one for the latent grid (64 x 64).

State-dict keys match BAGEL's checkpoint: ``fc1``/``fc2``, ``mlp.0``/``mlp.2`` and ``pos_embed``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu": F.gelu,
    "silu": F.silu,
}


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation function called ``name`` in HF configs (``gelu_pytorch_tanh``, ``gelu``, ``silu``)."""
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; supported: {', '.join(_ACTIVATIONS)}") from None


class MLPConnector(nn.Module):
    """Two-layer MLP ``fc2(act(fc1(x)))`` with ``fc1: in_dim -> out_dim`` and ``fc2: out_dim -> out_dim``."""

    def __init__(self, in_dim: int, out_dim: int, act: str = "gelu_pytorch_tanh"):
        super().__init__()
        self.act_name = act
        self.act = activation(act)
        self.fc1 = nn.Linear(in_dim, out_dim)
        self.fc2 = nn.Linear(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))

    def extra_repr(self) -> str:
        return f"act={self.act_name}"


def timestep_sinusoid(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """DiT sinusoid of ``t`` ([N] or scalar) as float32 ``[N, dim]``, laid out ``[cos(t f), sin(t f)]``.

    ``f_k = exp(-ln(max_period) * k / half)`` for ``k = 0 .. half-1`` with ``half = dim // 2``; an odd
    ``dim`` gets a trailing zero column. ``t`` is used as given (BAGEL feeds t in [0, 1] directly).
    """
    t = torch.as_tensor(t).reshape(-1).float()
    half = dim // 2
    k = torch.arange(half, dtype=torch.float32, device=t.device)
    freqs = torch.exp(-math.log(max_period) * k / half)
    args = t[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class TimestepEmbedder(nn.Module):
    """Flow time -> ``[N, hidden_size]``: ``mlp.2(silu(mlp.0(sinusoid(t))))``."""

    def __init__(self, hidden_size: int, frequency_embedding_size: int = 256):
        super().__init__()
        self.frequency_embedding_size = frequency_embedding_size
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size),
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """``t``: ``[N]`` (or a scalar) in [0, 1]; returns ``[N, hidden_size]`` in the weights' dtype."""
        freq = timestep_sinusoid(t, self.frequency_embedding_size).to(self.mlp[0].weight.device)
        return self.mlp(freq.to(self.mlp[0].weight.dtype))


def _sincos_1d(dim: int, pos: np.ndarray) -> np.ndarray:
    # [len(pos), dim] = [sin(pos * w_k), cos(pos * w_k)], w_k = 10000^(-k / (dim/2)).
    omega = 1.0 / 10000.0 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.outer(pos.astype(np.float64).reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def get_2d_sincos_pos_embed(embed_dim: int, grid_size: int) -> np.ndarray:
    """Float64 table ``[grid_size**2, embed_dim]``; row ``r * grid_size + c`` encodes cell (row r, column c).

    The first ``embed_dim / 2`` dims encode the **column** c and the second half the row r (BAGEL/MAE's
    ``np.meshgrid(w, h)`` ordering); each half is ``[sin(pos w_k), cos(pos w_k)]`` with
    ``w_k = 1 / 10000^(k / (embed_dim / 4))``, ``k = 0 .. embed_dim/4 - 1``.
    """
    if embed_dim % 4:
        raise ValueError(f"embed_dim {embed_dim} must be divisible by 4 for a 2-D sin-cos table")
    r, c = np.divmod(np.arange(grid_size * grid_size), grid_size)
    return np.concatenate([_sincos_1d(embed_dim // 2, c), _sincos_1d(embed_dim // 2, r)], axis=1)


class PositionEmbedding(nn.Module):
    """Frozen 2-D sin-cos table ``pos_embed`` ``[n*n, D]`` (a Parameter so that it is saved, as in BAGEL)."""

    def __init__(self, max_num_patch_per_side: int, hidden_size: int):
        super().__init__()
        if hidden_size % 4:
            raise ValueError(f"hidden_size {hidden_size} must be divisible by 4 for a 2-D sin-cos table")
        self.max_num_patch_per_side = max_num_patch_per_side
        self.hidden_size = hidden_size
        n2 = max_num_patch_per_side**2
        self.pos_embed = nn.Parameter(torch.zeros(n2, hidden_size), requires_grad=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """(Re)fill the table: computed in float64, stored in the parameter's dtype (float32 by default)."""
        if self.pos_embed.is_meta:  # nothing to fill; call again after ``to_empty``
            return
        table = get_2d_sincos_pos_embed(self.hidden_size, self.max_num_patch_per_side)
        self.pos_embed.copy_(torch.from_numpy(table).to(self.pos_embed.dtype))

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        """Rows of the table for ``position_ids`` (``r * n + c``), shape ``[..., D]``."""
        return self.pos_embed[position_ids]
