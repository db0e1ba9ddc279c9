"""The unified model: the MoT language model, the understanding ViT and the generation adapters.

Attribute names are BAGEL's, so ``state_dict()`` has exactly the keys of BAGEL's ``ema.safetensors``:
``language_model.*``, ``vit_model.*``, ``connector.*``, ``vit_pos_embed.pos_embed``,
``time_embedder.*``, ``vae2llm.*``, ``llm2vae.*``, ``latent_pos_embed.pos_embed``. The VAE lives
apart (its own file), as in BAGEL.

Two ways to run it:

- :meth:`UAREModel.forward_packed` — the training forward over a :class:`PackedBatch` (several
  interleaved samples, split masks), returning the CE and flow losses;
- the inference methods over a :class:`Context` (a KV cache plus the next RoPE position):
  ``prefill_text`` / ``prefill_vit`` / ``prefill_vae`` add to the context, ``velocity`` runs one
  flow step of a noisy block against it without caching it, ``generate_text`` decodes with the
  cache, ``next_token_logits`` reads the distribution after a prompt (Q-Align-style scoring).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from uare.model.config import UAREConfig
from uare.model.embeddings import MLPConnector, PositionEmbedding, TimestepEmbedder
from uare.model.flow import euler_sample, flow_target, guide, noisy_latents
from uare.model.mot import LayerCache, MoTForCausalLM
from uare.model.packing import PackedBatch
from uare.model.sampler import FlowSampler
from uare.model.siglip import SiglipVisionModel


@dataclass
class Context:
    """What the model has read so far in one sequence: per-layer KV cache and the next RoPE position."""

    cache: list[LayerCache] | None = None
    next_pos: int = 0
    segments: list[str] = field(default_factory=list)

    @property
    def length(self) -> int:
        return 0 if self.cache is None else int(self.cache[0].k.shape[0])

    def copy(self) -> Context:
        """A cheap copy: cache tensors are never modified in place, only extended into new tensors."""
        return Context(None if self.cache is None else list(self.cache), self.next_pos, list(self.segments))


@dataclass
class PackedOutput:
    """Losses of a packed forward, as sums with their counts (so ranks and micro-batches can be reduced)."""

    ce_sum: torch.Tensor
    ce_count: int
    mse_sum: torch.Tensor
    mse_count: int
    velocity: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    ce_total: float | None = None  # the CE normaliser when targets are weighted (else ce_count)

    @property
    def ce(self) -> torch.Tensor:
        total = self.ce_count if self.ce_total is None else self.ce_total
        return self.ce_sum / (total if total > 0 else 1)

    @property
    def mse(self) -> torch.Tensor:
        return self.mse_sum / max(self.mse_count, 1)


@dataclass
class GeneratedText:
    ids: list[int]
    context: Context
    finished: bool


class UAREModel(nn.Module):
    """BAGEL's ``Bagel`` module: two experts, one attention, one checkpoint layout."""

    def __init__(self, config: UAREConfig):
        super().__init__()
        self.config = config
        d = config.llm.hidden_size
        self.language_model = MoTForCausalLM(config.llm)
        self.vit_model = SiglipVisionModel(config.vit, config.vit_max_num_patch_per_side)
        self.connector = MLPConnector(config.vit.hidden_size, d, config.connector_act)
        self.vit_pos_embed = PositionEmbedding(config.vit_max_num_patch_per_side, d)
        self.time_embedder = TimestepEmbedder(d)
        self.vae2llm = nn.Linear(config.patch_latent_dim, d)
        self.llm2vae = nn.Linear(d, config.patch_latent_dim)
        # BAGEL zero-initialises the velocity head so a fresh gen expert starts from v = 0.
        nn.init.zeros_(self.llm2vae.weight)
        nn.init.zeros_(self.llm2vae.bias)
        self.latent_pos_embed = PositionEmbedding(config.max_latent_size, d)

    # ------------------------------------------------------------------ embeddings
    @property
    def dtype(self) -> torch.dtype:
        return self.vae2llm.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.vae2llm.weight.device

    def embed_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self.language_model.model.embed_tokens(ids)

    def embed_vit(self, patches: torch.Tensor, positions: torch.Tensor, cu_seqlens: torch.Tensor) -> torch.Tensor:
        """ViT features -> connector -> + fixed 2-D position table: the rows of understanding images.

        ``config.vit_pos_scale`` scales the table (1.0, BAGEL's function, skips the multiply).
        """
        feats = self.vit_model(patches.to(self.dtype), positions, cu_seqlens)
        pos = self.vit_pos_embed(positions)
        if self.config.vit_pos_scale != 1.0:
            pos = pos * self.config.vit_pos_scale
        return self.connector(feats) + pos

    def embed_latents(self, x: torch.Tensor, t: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """vae2llm(x_t) + time_embedder(t) + latent position table (t = 0 for clean conditions)."""
        emb_t = self.time_embedder(t.to(self.dtype))
        return self.vae2llm(x.to(self.dtype)) + emb_t + self.latent_pos_embed(positions)

    # ------------------------------------------------------------------ training
    def forward_packed(self, batch: PackedBatch, noise: torch.Tensor | None = None, detach_und: bool = False,
                       return_velocity: bool = False, return_logits: bool = False) -> PackedOutput:
        """Training forward over packed samples; CE on ``batch.ce_rows``, flow MSE on noisy latent rows.

        ``noise`` (same shape as ``batch.latent_x0``) makes the draw reproducible; by default one
        Gaussian draw covers all latent rows.
        """
        dev = self.device
        n, d = batch.num_rows, self.config.llm.hidden_size
        x = torch.zeros(n, d, dtype=self.dtype, device=dev)
        x[batch.text_rows.to(dev)] = self.embed_text(batch.input_ids.to(dev)[batch.text_rows.to(dev)])
        if batch.vit_rows.numel():
            # cu_seqlens is read as a list of lengths: it stays on the host (no device-to-host sync)
            x[batch.vit_rows.to(dev)] = self.embed_vit(batch.vit_patches.to(dev), batch.vit_positions.to(dev),
                                                       batch.vit_cu_seqlens)
        x0 = batch.latent_x0.to(dev, self.dtype)
        if batch.latent_rows.numel():
            if noise is None:
                noise = torch.randn_like(x0)
            noise = noise.to(dev, self.dtype)
            t = batch.latent_t.to(dev)
            xt = noisy_latents(x0, noise, t)
            x[batch.latent_rows.to(dev)] = self.embed_latents(xt, t, batch.latent_positions.to(dev))
        h, _ = self.language_model.model(x, batch.gen.to(dev), batch.positions.to(dev),
                                         batch.attention().to(dev), detach_und=detach_und)
        ce_sum, ce_count, logits = h.new_zeros(()).float(), int(batch.ce_rows.numel()), None
        if ce_count:
            logits = self.language_model.lm_head(h[batch.ce_rows.to(dev)])
            if batch.ce_weights is None:
                ce_sum = F.cross_entropy(logits.float(), batch.ce_labels.to(dev), reduction="sum")
            else:  # weighted targets (see PackedBatch.ce_weights); the normaliser is batch.ce_total
                ce = F.cross_entropy(logits.float(), batch.ce_labels.to(dev), reduction="none")
                ce_sum = (ce * batch.ce_weights.to(dev)).sum()
        mse_sum, mse_count, v = h.new_zeros(()).float(), 0, None
        noisy = batch.latent_noisy.to(dev)
        if batch.latent_rows.numel() and bool(noisy.any()):
            v = self.llm2vae(h[batch.latent_rows.to(dev)[noisy]])
            target = flow_target(x0[noisy], noise[noisy])
            mse_sum = ((v.float() - target.float()) ** 2).mean(dim=-1).sum()
            mse_count = int(noisy.sum())
        return PackedOutput(ce_sum, ce_count, mse_sum, mse_count, ce_total=batch.ce_total,
                            velocity=v if return_velocity else None,
                            logits=logits.float() if return_logits and logits is not None else None)

    # ------------------------------------------------------------------ inference
    def _run_chunk(self, ctx: Context, x: torch.Tensor, gen: torch.Tensor | None, positions: torch.Tensor,
                   causal: bool, update: bool) -> tuple[torch.Tensor, Context]:
        n, past = x.shape[0], ctx.length
        chunk = torch.ones(n, n, dtype=torch.bool, device=x.device)
        if causal:
            chunk = chunk.tril()
        mask = torch.cat([torch.ones(n, past, dtype=torch.bool, device=x.device), chunk], dim=1)
        h, cache = self.language_model.model(x, gen, positions, mask, ctx.cache)
        if not update:
            return h, ctx
        return h, Context(cache, ctx.next_pos, ctx.segments)

    def _ids(self, ids: list[int]) -> torch.Tensor:
        return torch.tensor(ids, dtype=torch.long, device=self.device)

    @torch.no_grad()
    def prefill_text(self, ctx: Context, ids: list[int], special, close: bool = True) -> Context:
        """Append ``<|im_start|>`` + ids (+ ``<|im_end|>`` when ``close``) as a causal text segment."""
        toks = [special.bos, *ids] + ([special.eos] if close else [])
        pos = torch.arange(ctx.next_pos, ctx.next_pos + len(toks), device=self.device)
        _, out = self._run_chunk(ctx, self.embed_text(self._ids(toks)), None, pos, causal=True, update=True)
        out.next_pos = ctx.next_pos + len(toks)
        out.segments = [*ctx.segments, "text"]
        return out

    def _image_block(self, ctx: Context, inner: torch.Tensor, special, gen_inside: bool
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ends = self.embed_text(self._ids([special.start_of_image, special.end_of_image]))
        x = torch.cat([ends[:1], inner, ends[1:]], dim=0)
        n = inner.shape[0]
        gen = torch.zeros(n + 2, dtype=torch.bool, device=self.device)
        gen[1:-1] = gen_inside
        pos = torch.full((n + 2,), ctx.next_pos, dtype=torch.long, device=self.device)
        return x, gen, pos

    @torch.no_grad()
    def prefill_vit(self, ctx: Context, patches: torch.Tensor, grid: tuple[int, int], special) -> Context:
        """Append an understanding image (patches [h*w, p*p*3], row-major) as a full-attention block."""
        h, w = grid
        side = self.config.vit_max_num_patch_per_side
        if h > side or w > side:
            raise ValueError(f"ViT grid {h}x{w} exceeds the {side}x{side} position table")
        gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        vpos = (gy * side + gx).flatten().to(self.device)
        cu = torch.tensor([0, h * w], dtype=torch.int32, device=self.device)
        inner = self.embed_vit(patches.to(self.device), vpos, cu)
        x, gen, pos = self._image_block(ctx, inner, special, gen_inside=False)
        _, out = self._run_chunk(ctx, x, gen, pos, causal=False, update=True)
        out.next_pos = ctx.next_pos + 1
        out.segments = [*ctx.segments, "vit"]
        return out

    def latent_positions(self, grid: tuple[int, int]) -> torch.Tensor:
        h, w = grid
        m = self.config.max_latent_size
        if h > m or w > m:
            raise ValueError(f"latent grid {h}x{w} exceeds the {m}x{m} position table "
                             f"({m * self.config.latent_downsample} px); use tiling")
        gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        return (gy * m + gx).flatten().to(self.device)

    @torch.no_grad()
    def prefill_vae(self, ctx: Context, tokens: torch.Tensor, grid: tuple[int, int], special) -> Context:
        """Append a clean generation image (latent tokens [h*w, p*p*C]) at t = 0, through the gen expert."""
        t = torch.zeros(tokens.shape[0], device=self.device)
        inner = self.embed_latents(tokens.to(self.device), t, self.latent_positions(grid))
        x, gen, pos = self._image_block(ctx, inner, special, gen_inside=True)
        _, out = self._run_chunk(ctx, x, gen, pos, causal=False, update=True)
        out.next_pos = ctx.next_pos + 1
        out.segments = [*ctx.segments, "vae"]
        return out

    @torch.no_grad()
    def velocity(self, ctx: Context, x_t: torch.Tensor, t: float, grid: tuple[int, int], special) -> torch.Tensor:
        """One flow evaluation: the noisy block at the context's next position, attending to the whole
        context, never cached (later tokens must not see noisy latents). Returns v [h*w, p*p*C]."""
        tt = torch.full((x_t.shape[0],), float(t), device=self.device)
        inner = self.embed_latents(x_t.to(self.device), tt, self.latent_positions(grid))
        x, gen, pos = self._image_block(ctx, inner, special, gen_inside=True)
        h, _ = self._run_chunk(ctx, x, gen, pos, causal=False, update=False)
        return self.llm2vae(h[1:-1]).float()

    @torch.no_grad()
    def next_token_logits(self, ctx: Context, ids: list[int], special) -> torch.Tensor:
        """Logits of the token after ``<|im_start|>`` + ids (an open text segment): [vocab] fp32."""
        toks = [special.bos, *ids]
        pos = torch.arange(ctx.next_pos, ctx.next_pos + len(toks), device=self.device)
        h, _ = self._run_chunk(ctx, self.embed_text(self._ids(toks)), None, pos, causal=True, update=False)
        return self.language_model.lm_head(h[-1:]).float()[0]

    @torch.no_grad()
    def continuation_logprob(self, ctx: Context, ids: list[int], special, prefix: list[int] | None = None) -> float:
        """log p(ids | context, ``<|im_start|>`` + prefix): teacher-forced, summed over the tokens."""
        toks = [special.bos, *(prefix or []), *ids]
        pos = torch.arange(ctx.next_pos, ctx.next_pos + len(toks), device=self.device)
        h, _ = self._run_chunk(ctx, self.embed_text(self._ids(toks)), None, pos, causal=True, update=False)
        start = 1 + len(prefix or [])
        logp = torch.log_softmax(self.language_model.lm_head(h[start - 1:-1]).float(), dim=-1)
        return float(logp.gather(1, self._ids(ids)[:, None]).sum())

    @torch.no_grad()
    def generate_text(self, ctx: Context, special, max_new_tokens: int = 256, temperature: float = 0.0,
                      generator: torch.Generator | None = None, prefix: list[int] | None = None,
                      min_new_tokens: int = 0) -> GeneratedText:
        """Decode a new text segment with the KV cache: greedy (temperature 0) or sampled.

        The segment starts with ``<|im_start|>`` (+ ``prefix``) and stops on ``<|im_end|>``, which is fed
        too, so the returned context holds the closed segment: later image generation attends to it.
        ``<|im_end|>`` is banned for the first ``min_new_tokens`` tokens.

        ``max_new_tokens`` is the number of tokens written at most (``<|im_end|>`` not counted). BAGEL's
        ``max_length`` = N writes at most N - 1: its ids start with ``<|im_start|>`` and its last argmax
        is dropped. So BAGEL's ``max_length`` N is ``max_new_tokens`` N - 1 here (docs/bagel.md).
        """
        toks = [special.bos, *(prefix or [])]
        pos = torch.arange(ctx.next_pos, ctx.next_pos + len(toks), device=self.device)
        h, cur = self._run_chunk(ctx, self.embed_text(self._ids(toks)), None, pos, causal=True, update=True)
        next_pos = ctx.next_pos + len(toks)
        out: list[int] = []
        finished = False
        for step in range(max_new_tokens):
            logits = self.language_model.lm_head(h[-1:]).float()[0]
            if step < min_new_tokens:
                logits[special.eos] = float("-inf")
            if temperature <= 0:
                tok = int(logits.argmax())
            else:
                probs = torch.softmax(logits / temperature, dim=-1)
                tok = int(torch.multinomial(probs.cpu(), 1, generator=generator))
            pos = torch.tensor([next_pos], device=self.device)
            h, cur = self._run_chunk(cur, self.embed_text(self._ids([tok])), None, pos, causal=True, update=True)
            next_pos += 1
            if tok == special.eos:
                finished = True
                break
            out.append(tok)
        if not finished:  # close the segment so the context stays well-formed
            pos = torch.tensor([next_pos], device=self.device)
            _, cur = self._run_chunk(cur, self.embed_text(self._ids([special.eos])), None, pos, causal=True,
                                     update=True)
            next_pos += 1
        cur.next_pos = next_pos
        cur.segments = [*ctx.segments, "text"]
        return GeneratedText(out, cur, finished)

    @torch.no_grad()
    def generate_latents(self, ctx: Context, grid: tuple[int, int], special, sampler: FlowSampler | None = None,
                         text_uncond: Context | None = None, img_uncond: Context | None = None,
                         generator: torch.Generator | None = None, x_init: torch.Tensor | None = None,
                         callback=None) -> torch.Tensor:
        """Sample latent tokens [h*w, p*p*C] with ``sampler`` (:class:`~uare.model.sampler.FlowSampler`,
        default settings when None): the shifted Euler sampler with three-context guidance.

        The contexts are computed once (their KV caches); each step runs only the noisy block against
        them. Guidance applies while ``cfg_interval[0] < t <= cfg_interval[1]``, and an unconditional
        pass runs only when its scale is above 1. ``x_init`` is the latent at the sampler's start time
        (:meth:`FlowSampler.initial_latent`); without it the start is ``torch.randn(h*w, p*p*C)`` from
        ``generator`` on the CPU, as BAGEL draws it.
        """
        s = sampler if sampler is not None else FlowSampler()
        n = grid[0] * grid[1]
        if x_init is None:
            x_init = torch.randn(n, self.config.patch_latent_dim, generator=generator)
        x = x_init.to(self.device, torch.float32)

        def v_of(xt: torch.Tensor, t: float) -> torch.Tensor:
            v_c = self.velocity(ctx, xt, t, grid, special)
            if not s.guides_at(t) or text_uncond is None:
                return v_c
            v_t = self.velocity(text_uncond, xt, t, grid, special)
            v_i = self.velocity(img_uncond, xt, t, grid, special) if s.cfg_img > 1.0 and img_uncond else None
            return guide(v_c, v_t, v_i, s.cfg_text, s.cfg_img, s.cfg_renorm, s.cfg_renorm_min)

        return euler_sample(v_of, x, s.timesteps(), callback)

    def num_parameters(self) -> dict[str, int]:
        """Parameter counts per component and per expert."""
        counts: dict[str, int] = {"und_expert": 0, "gen_expert": 0}
        for name, p in self.named_parameters():
            top = name.split(".")[0]
            counts[top] = counts.get(top, 0) + p.numel()
            if name.startswith("language_model.model.layers") or name.startswith("language_model.model.norm"):
                counts["gen_expert" if "_moe_gen" in name else "und_expert"] += p.numel()
        counts["total"] = sum(p.numel() for p in self.parameters())
        return counts
