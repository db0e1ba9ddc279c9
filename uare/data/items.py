"""Data-side sequence plans: items with pixels (not yet latents), condition dropout and packing.

A dataset sample is a list of items in sequence order:

- :class:`Text` — token ids; ``loss`` trains next-token prediction on it, ``cfg`` lets dropout remove it;
- :class:`ViT` — an understanding image, already patchified (cheap, done in the data workers);
- :class:`VAE` — a generation image as *pixels* in [-1, 1]; the frozen VAE encodes it in the train loop
  (under ``no_grad``), ``noisy`` makes it a flow target;
- :class:`Skip` — a dropped condition image: no tokens, but the RoPE position counter still advances by
  one, as in BAGEL's ``pack_sequence``.

Why :class:`Skip`: :func:`uare.model.packing.pack` has no notion of dropout; removing an image item would
also remove its position step, shifting every later RoPE position by one relative to BAGEL's training.
:func:`pack_samples` therefore packs the plan without the skipped items and then adds one to the positions
of all later rows of that sample, which is exactly BAGEL's numbering. A dropped *text* is simply removed
(BAGEL does not advance the counter for it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from uare.model.packing import PackedBatch, TextItem, VAEItem, ViTItem, pack

#: ``data.ce_norm`` values (see :func:`normalize_ce`)
CE_NORMS = ("token", "sqrt", "item")


@dataclass
class Text:
    """Text tokens (without the ``<|im_start|>`` / ``<|im_end|>`` wrapping).

    ``weights``: one CE weight per target (``len(ids) + 1``, the ids and ``<|im_end|>``); ``None`` = 1 each.
    """

    ids: list[int]
    loss: bool = False
    cfg: bool = False
    weights: list[float] | None = None


@dataclass
class ViT:
    """An understanding image: patches ``[h*w, p*p*3]`` and the patch grid ``(h, w)``."""

    patches: torch.Tensor
    grid: tuple[int, int]
    cfg: bool = False


@dataclass
class VAE:
    """A generation image as pixels ``[3, H, W]`` in [-1, 1] (H, W multiples of the latent stride)."""

    pixels: torch.Tensor
    noisy: bool = False
    cfg: bool = False


@dataclass
class Skip:
    """A condition image removed by dropout: zero rows, one RoPE position."""

    what: str = "image"


DataItem = Text | ViT | VAE | Skip


@dataclass
class Sample:
    """One training sample: its items, what kind of sample it is, and free-form metadata (for tests/logs)."""

    items: list[DataItem]
    kind: str
    meta: dict[str, Any] = field(default_factory=dict)

    def num_tokens(self, latent_stride: int) -> int:
        """Rows this sample occupies in a pack (``latent_stride`` = pixels per latent token along a side)."""
        return sum(item_rows(it, latent_stride) for it in self.items)

    def num_image_tokens(self, latent_stride: int, noisy_only: bool = True) -> int:
        """Latent tokens of the (noisy) generation images: the paper's "image tokens" (see the configs)."""
        return sum(item_rows(it, latent_stride) - 2 for it in self.items
                   if isinstance(it, VAE) and (it.noisy or not noisy_only))


def item_rows(item: DataItem, latent_stride: int) -> int:
    """Packed rows of one item: text +2 specials, images +2 brackets, skips 0."""
    if isinstance(item, Text):
        return len(item.ids) + 2
    if isinstance(item, ViT):
        return item.grid[0] * item.grid[1] + 2
    if isinstance(item, VAE):
        h, w = item.pixels.shape[-2:]
        return (h // latent_stride) * (w // latent_stride) + 2
    if isinstance(item, Skip):
        return 0
    raise TypeError(f"unknown data item {type(item).__name__}")


def normalize_ce(sample: Sample, mode: str) -> None:
    """Apply ``data.ce_norm`` to a sample's trained texts, in place.

    ``token`` (BAGEL's default loss): leave the weights as they are, so every target token counts the same
    and a long text outweighs a short one. ``sqrt`` (BAGEL's ``ce_loss_reweighting``): every target of a
    text of n targets (its ids and ``<|im_end|>``) weighs 1 / sqrt(n), BAGEL's ``len2weight``; the batch CE
    is then divided by the sum of the weights, as BAGEL divides by the all-reduced weight sum. ``item``: scale each trained text's weights to sum to 1, so every
    answer counts the same however long it is; a 9-token score answer then weighs as much as an
    80-token analysis instead of a ninth of it.
    """
    if mode == "token":
        return
    if mode not in CE_NORMS:
        raise ValueError(f"unknown ce_norm {mode!r}; choose {', '.join(CE_NORMS)}")
    for it in sample.items:
        if isinstance(it, Text) and it.loss:
            w = it.weights if it.weights is not None else [1.0] * (len(it.ids) + 1)
            if mode == "sqrt":  # BAGEL's len2weight: 1 / sqrt(targets), ids + <|im_end|>
                it.weights = [float(x) / len(w) ** 0.5 for x in w]
                continue
            total = float(sum(w))
            it.weights = [float(x) / total for x in w] if total > 0 else w


@dataclass(frozen=True)
class Dropout:
    """Condition dropout probabilities for classifier-free guidance (the paper: 0.1 each)."""

    text: float = 0.1
    vit: float = 0.1
    vae: float = 0.1


def apply_dropout(items: list[DataItem], rng: np.random.Generator, p: Dropout) -> list[DataItem]:
    """Drop ``cfg`` items independently: text disappears, a ViT / clean VAE image becomes a :class:`Skip`.

    One uniform draw per ``cfg`` item, always, so the rng stream does not depend on the outcome.
    """
    out: list[DataItem] = []
    for it in items:
        if not getattr(it, "cfg", False):
            out.append(it)
            continue
        u = float(rng.uniform())
        if isinstance(it, Text):
            if u >= p.text:
                out.append(it)
        elif isinstance(it, ViT):
            out.append(Skip("vit") if u < p.vit else it)
        elif isinstance(it, VAE):
            if it.noisy:  # a flow target is never a condition
                out.append(it)
            else:
                out.append(Skip("vae") if u < p.vae else it)
        else:
            out.append(it)
    return out


@torch.no_grad()
def encode_vae_images(samples: list[Sample], vae: torch.nn.Module, device: torch.device,
                      dtype: torch.dtype | None = None, sample: bool = False,
                      generator: torch.Generator | None = None) -> list[list[torch.Tensor]]:
    """Encode every :class:`VAE` item of ``samples`` with the frozen VAE: the posterior mean, or with
    ``sample`` a draw from the posterior as BAGEL trains (``train.vae_posterior: sample``; ``generator``
    on the VAE's device makes it reproducible).

    Images of equal size are encoded together in one batch (no padding, so the encoder's global
    attention never sees padding). Returns, per sample, the latents ``[C, h, w]`` of its VAE items in order.
    """
    by_shape: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for si, s in enumerate(samples):
        k = 0
        for it in s.items:
            if isinstance(it, VAE):
                by_shape.setdefault(tuple(it.pixels.shape[-2:]), []).append((si, k))
                k += 1
    out: list[list[torch.Tensor | None]] = [
        [None] * sum(isinstance(it, VAE) for it in s.items) for s in samples]
    vae_items = [[it for it in s.items if isinstance(it, VAE)] for s in samples]
    for _, where in sorted(by_shape.items()):
        x = torch.stack([vae_items[si][k].pixels for si, k in where]).to(device)
        if dtype is not None:
            x = x.to(dtype)
        z = (vae.encode(x, sample=True, generator=generator) if sample else vae.encode(x)).float().cpu()
        for (si, k), zi in zip(where, z, strict=True):
            out[si][k] = zi
    return out  # type: ignore[return-value]


def to_model_plan(sample: Sample, latents: list[torch.Tensor], t_of: Any, latent_patch: int = 2
                  ) -> tuple[list, list[int]]:
    """Model items for :func:`pack` and the row offsets (within the sample) where a :class:`Skip` sits.

    ``t_of()`` gives the flow time of each noisy image, drawn in plan order.
    """
    plan: list = []
    skips: list[int] = []
    rows, k = 0, 0
    for it in sample.items:
        if isinstance(it, Text):
            plan.append(TextItem(list(it.ids), loss=it.loss, weights=it.weights))
        elif isinstance(it, ViT):
            plan.append(ViTItem(it.patches, it.grid))
        elif isinstance(it, VAE):
            z = latents[k]
            k += 1
            plan.append(VAEItem(z, noisy=it.noisy, t=float(t_of()) if it.noisy else None))
        elif isinstance(it, Skip):
            skips.append(rows)
            continue
        rows += _model_rows(plan[-1], latent_patch)
    return plan, skips


def _model_rows(item: Any, latent_patch: int) -> int:
    if isinstance(item, TextItem):
        return len(item.ids) + 2
    if isinstance(item, ViTItem):
        return item.patches.shape[0] + 2
    return (item.latent.shape[1] // latent_patch) * (item.latent.shape[2] // latent_patch) + 2


def pack_samples(plans: list[tuple[list, list[int]]], special: Any, max_vit_side: int, max_latent_size: int,
                 latent_patch: int = 2) -> PackedBatch:
    """:func:`pack` the model plans, then apply the position steps of the skipped (dropped) images."""
    batch = pack([p for p, _ in plans], special, max_vit_side, max_latent_size, latent_patch)
    start = 0
    for (_, skips), n in zip(plans, batch.sample_lens, strict=True):
        for off in skips:
            # every row from the dropped image's place to the sample's end moves one position on
            batch.positions[start + off:start + n] += 1
        start += n
    return batch
