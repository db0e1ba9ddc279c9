"""Packed interleaved sequences: items -> rows, RoPE positions and the split attention mask.

A *sequence plan* is a list of items; several plans pack back to back into one batch row
(``batch_size = 1`` packing, as BAGEL trains). The rules (bagel.md §1.6–1.7):

- text: ``<|im_start|>`` + ids + ``<|im_end|>``, positions +1 per token, causal;
- ViT image: ``<|vision_start|>`` + patches + ``<|vision_end|>``, all at one position r, full
  attention inside; the counter then moves to r + 1;
- clean VAE image: the same bracket, latent tokens at r, full; counter to r + 1;
- noisy VAE image (flow loss): the same bracket at r, full inside, but the counter does *not*
  advance and the split's keys are hidden from every token outside it.

Every split sees all earlier splits of its sample (except noisy ones); samples never see each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from uare.model.image_transforms import latent_patchify, latent_position_ids


@dataclass
class TextItem:
    """Text tokens (without the wrapping specials). ``loss``: train to predict ids + ``<|im_end|>``.

    ``weights`` (one per target: ``len(ids) + 1``) weight each target's CE; ``None`` = 1 each.
    """

    ids: list[int]
    loss: bool = False
    weights: list[float] | None = None


@dataclass
class ViTItem:
    """An understanding image: patches [n, p*p*3] in (row, col, channel) order and its patch grid."""

    patches: torch.Tensor
    grid: tuple[int, int]


@dataclass
class VAEItem:
    """A generation image as scaled VAE latents [C, H, W]; ``noisy`` makes it a flow target at time ``t``.

    ``t`` follows BAGEL: x_t = (1 - t) x0 + t eps, t = 1 is pure noise, t = 0 the clean image.
    """

    latent: torch.Tensor
    noisy: bool = False
    t: float | None = None


Item = TextItem | ViTItem | VAEItem


@dataclass
class PackedBatch:
    """Everything the packed forward needs, with row indexes into the packed sequence."""

    input_ids: torch.Tensor  # [N] token ids of text / bracket rows (0 elsewhere)
    positions: torch.Tensor  # [N]
    sample_masks: list[torch.Tensor]  # per sample [n_i, n_i] bool, True = may attend
    gen: torch.Tensor  # [N] bool, latent rows (gen expert)
    text_rows: torch.Tensor  # rows embedded from input_ids
    vit_rows: torch.Tensor
    vit_patches: torch.Tensor  # [Nv, p*p*3]
    vit_positions: torch.Tensor  # [Nv] r * max_side + c
    vit_cu_seqlens: torch.Tensor  # [n_vit + 1] int32
    latent_rows: torch.Tensor
    latent_x0: torch.Tensor  # [Nl, p*p*C]
    latent_positions: torch.Tensor  # [Nl]
    latent_t: torch.Tensor  # [Nl], 0 for clean latents
    latent_noisy: torch.Tensor  # [Nl] bool
    latent_image: torch.Tensor  # [Nl] which VAE image each latent token belongs to
    ce_rows: torch.Tensor  # rows whose next-token logits carry the CE loss
    ce_labels: torch.Tensor
    sample_lens: list[int] = field(default_factory=list)
    # per-CE-row weights; None when no item carries weights (then every row weighs 1, BAGEL's loss)
    ce_weights: torch.Tensor | None = None
    split_modes: list[list[tuple[int, str]]] = field(default_factory=list)

    @property
    def ce_total(self) -> float:
        """The CE normaliser of this batch: its number of CE rows, or the sum of their weights."""
        return float(self.ce_rows.numel()) if self.ce_weights is None else float(self.ce_weights.sum())

    @property
    def num_rows(self) -> int:
        return int(self.positions.numel())

    @property
    def mask(self) -> torch.Tensor:
        """The whole pack's [N, N] mask (block diagonal); for tests and small packs."""
        return torch.block_diag(*self.sample_masks)

    def attention(self):
        """Per-sample masks with their row ranges, as the model's attention takes them."""
        from uare.model.mot import SampleMasks

        starts = [0, *torch.tensor(self.sample_lens).cumsum(0).tolist()]
        return SampleMasks([(starts[i], starts[i + 1]) for i in range(len(self.sample_lens))], self.sample_masks)


def split_mask(splits: list[tuple[int, str]]) -> torch.Tensor:
    """The attention mask of one sample from its splits ``(length, mode)``, mode in causal / full / noise."""
    n = sum(length for length, _ in splits)
    mask = torch.zeros(n, n, dtype=torch.bool)
    start = 0
    noisy_keys = torch.zeros(n, dtype=torch.bool)
    for length, mode in splits:
        end = start + length
        if mode not in ("causal", "full", "noise"):
            raise ValueError(f"unknown split mode {mode!r}")
        # everything earlier, except the keys of earlier noisy splits
        mask[start:end, :start] = ~noisy_keys[:start]
        if mode == "causal":
            mask[start:end, start:end] = torch.ones(length, length, dtype=torch.bool).tril()
        else:
            mask[start:end, start:end] = True
        if mode == "noise":
            noisy_keys[start:end] = True
        start = end
    return mask


def pack(plans: list[list[Item]], special, max_vit_side: int, max_latent_size: int, latent_patch: int = 2,
         t_sampler=None) -> PackedBatch:
    """Pack sequence plans into one :class:`PackedBatch`.

    ``special`` provides the ids ``bos``, ``eos``, ``start_of_image``, ``end_of_image`` (read from the
    tokenizer). ``t_sampler()`` gives t for noisy VAE items whose ``t`` is None.
    """
    ids, pos, gen = [], [], []
    text_rows, vit_rows, lat_rows = [], [], []
    vit_patches, vit_pos, vit_lens = [], [], []
    lat_x0, lat_pos, lat_t, lat_noisy, lat_img = [], [], [], [], []
    ce_rows, ce_labels, ce_w = [], [], []
    weighted = False
    masks, sample_lens, all_splits = [], [], []
    row = 0
    n_img = 0
    for plan in plans:
        if not plan:
            raise ValueError("empty sequence plan")
        splits: list[tuple[int, str]] = []
        r = 0
        start_row = row
        for item in plan:
            if isinstance(item, TextItem):
                toks = [special.bos, *item.ids, special.eos]
                for i, tok in enumerate(toks):
                    ids.append(tok)
                    pos.append(r + i)
                    gen.append(False)
                    text_rows.append(row + i)
                if item.loss:
                    targets = [*item.ids, special.eos]
                    ce_rows.extend(range(row, row + len(targets)))
                    ce_labels.extend(targets)
                    if item.weights is not None:
                        if len(item.weights) != len(targets):
                            raise ValueError(f"text item has {len(targets)} targets but {len(item.weights)} weights")
                        weighted = True
                        ce_w.extend(float(w) for w in item.weights)
                    else:
                        ce_w.extend([1.0] * len(targets))
                splits.append((len(toks), "causal"))
                row += len(toks)
                r += len(toks)
            elif isinstance(item, ViTItem):
                n = item.patches.shape[0]
                h, w = item.grid
                if h * w != n:
                    raise ValueError(f"ViT grid {h}x{w} does not match {n} patches")
                _bracket(ids, pos, gen, text_rows, row, r, n, special)
                vit_rows.extend(range(row + 1, row + 1 + n))
                vit_patches.append(item.patches)
                gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
                if h > max_vit_side or w > max_vit_side:
                    raise ValueError(f"ViT grid {h}x{w} exceeds the {max_vit_side}x{max_vit_side} position table")
                vit_pos.append((gy * max_vit_side + gx).flatten())
                vit_lens.append(n)
                splits.append((n + 2, "full"))
                row += n + 2
                r += 1
            elif isinstance(item, VAEItem):
                tokens = latent_patchify(item.latent, latent_patch)
                c_h, c_w = item.latent.shape[1] // latent_patch, item.latent.shape[2] // latent_patch
                n = tokens.shape[0]
                _bracket(ids, pos, gen, text_rows, row, r, n, special, gen_inside=True)
                lat_rows.extend(range(row + 1, row + 1 + n))
                lat_x0.append(tokens)
                lat_pos.append(latent_position_ids(c_h, c_w, max_latent_size))
                if item.noisy:
                    t = item.t if item.t is not None else (t_sampler() if t_sampler else 1.0)
                else:
                    t = 0.0
                lat_t.append(torch.full((n,), float(t)))
                lat_noisy.append(torch.full((n,), bool(item.noisy)))
                lat_img.append(torch.full((n,), n_img, dtype=torch.long))
                n_img += 1
                splits.append((n + 2, "noise" if item.noisy else "full"))
                row += n + 2
                if not item.noisy:
                    r += 1
            else:
                raise TypeError(f"unknown sequence item {type(item).__name__}")
        masks.append(split_mask(splits))
        sample_lens.append(row - start_row)
        all_splits.append(splits)

    d = latent_patch * latent_patch
    return PackedBatch(
        input_ids=torch.tensor(ids, dtype=torch.long),
        positions=torch.tensor(pos, dtype=torch.long),
        sample_masks=masks,
        gen=torch.tensor(gen, dtype=torch.bool),
        text_rows=torch.tensor(text_rows, dtype=torch.long),
        vit_rows=torch.tensor(vit_rows, dtype=torch.long),
        vit_patches=torch.cat(vit_patches) if vit_patches else torch.zeros(0, 0),
        vit_positions=torch.cat(vit_pos) if vit_pos else torch.zeros(0, dtype=torch.long),
        vit_cu_seqlens=torch.tensor([0, *torch.tensor(vit_lens).cumsum(0).tolist()] if vit_lens else [0],
                                    dtype=torch.int32),
        latent_rows=torch.tensor(lat_rows, dtype=torch.long),
        latent_x0=torch.cat(lat_x0) if lat_x0 else torch.zeros(0, d),
        latent_positions=torch.cat(lat_pos) if lat_pos else torch.zeros(0, dtype=torch.long),
        latent_t=torch.cat(lat_t) if lat_t else torch.zeros(0),
        latent_noisy=torch.cat(lat_noisy) if lat_noisy else torch.zeros(0, dtype=torch.bool),
        latent_image=torch.cat(lat_img) if lat_img else torch.zeros(0, dtype=torch.long),
        ce_rows=torch.tensor(ce_rows, dtype=torch.long),
        ce_labels=torch.tensor(ce_labels, dtype=torch.long),
        sample_lens=sample_lens,
        split_modes=all_splits,
        ce_weights=torch.tensor(ce_w, dtype=torch.float32) if weighted else None,
    )


def _bracket(ids, pos, gen, text_rows, row, r, n, special, gen_inside: bool = False) -> None:
    """Rows of an image block: start special, n image rows, end special, all at position r."""
    ids.extend([special.start_of_image] + [0] * n + [special.end_of_image])
    pos.extend([r] * (n + 2))
    # the bracketing specials are text tokens: always the und expert
    gen.extend([False] + [gen_inside] * n + [False])
    text_rows.extend([row, row + n + 1])


def degraded_source(batch: PackedBatch, noise: torch.Tensor, sigma: float = 0.0) -> torch.Tensor:
    """Flow sources that start at the degraded image: x1 = z_LQ + sigma * eps instead of eps.

    For every noisy (target) image, the condition is the latest clean VAE image *of the same sample*
    with the same latent grid (the LQ image a restoration sample shows before its HQ target); its
    latent tokens, plus ``sigma`` times the drawn noise, replace that image's noise rows. Targets
    without such a condition (e.g. the LQ item was dropped) keep pure noise. The flow then carries
    the degraded latent to the clean one (x_t = (1 - t) z_HQ + t x1), so a one-step sample from t = 1
    is the model's estimate of z_HQ given z_LQ -- a residual a small model learns far more easily than
    a full generation from noise. Returns a new tensor shaped like ``noise``.
    """
    out = noise.clone()
    if not batch.latent_rows.numel():
        return out
    starts = torch.tensor([0, *batch.sample_lens]).cumsum(0)
    sample_of = torch.bucketize(batch.latent_rows, starts[1:], right=True)
    images = batch.latent_image.unique(sorted=True).tolist()
    clean_seen: dict[int, list[int]] = {}  # sample -> its clean images so far, in order
    for img in images:
        rows = (batch.latent_image == img).nonzero().squeeze(1)
        smp = int(sample_of[rows[0]])
        if not bool(batch.latent_noisy[rows[0]]):
            clean_seen.setdefault(smp, []).append(img)
            continue
        for cond in reversed(clean_seen.get(smp, [])):
            crow = (batch.latent_image == cond).nonzero().squeeze(1)
            if crow.numel() == rows.numel() and torch.equal(batch.latent_positions[crow],
                                                             batch.latent_positions[rows]):
                out[rows] = batch.latent_x0[crow].to(out.dtype) + sigma * noise[rows]
                break
    return out
