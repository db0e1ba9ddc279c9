"""The training loop for both UARE stages.

One optimizer step = ``grad_accum`` packs per rank. The loss of a step is the global mean over every
rank's packs: ``mse_weight * sum(MSE) / #noisy latent tokens + ce_weight * sum(CE) / #CE tokens``; the token
counts are all-reduced before the backward passes, and each micro-batch's loss is scaled by the world
size because DDP / FSDP average gradients. The gradient is therefore that of the global mean whatever the
split into ranks and micro-batches.

Exact resume: the data stream, the flow times and the noise are pure functions of
``(seed, rank, pack index)`` (see :mod:`uare.data.stream`), and a checkpoint holds the fp32 weights, the
EMA, the optimizer moments, the step and the RNG states. Resuming at step ``s`` replays steps ``s+1 ...``
bit for bit (same world size and thread count).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from uare.data.items import encode_vae_images, pack_samples, to_model_plan
from uare.data.sources import Geometry, source_paths
from uare.data.stream import PackDataset, pack_loader
from uare.errors import UareError
from uare.model.flow import sample_train_timesteps
from uare.model.mot import set_packed_attention
from uare.model.packing import degraded_source
from uare.train.config import TrainConfig
from uare.train.distributed import (
    PackedForward,
    all_reduce_sum,
    barrier,
    cleanup,
    full_tensor,
    init_distributed,
    wrap,
)
from uare.train.model_setup import is_trainable, load_initial, random_init_folder, set_trainable
from uare.train.state import load_train_checkpoint, save_train_checkpoint


@dataclass
class RunResult:
    """What a finished (or stopped) run reports."""

    out: Path
    step: int
    losses: list[float] = field(default_factory=list)
    last_checkpoint: Path | None = None
    final: Path | None = None


def check_no_test_data(cfg: TrainConfig) -> None:
    """Refuse data paths inside a ``test`` folder of ``shared/datasets`` (benchmarks must stay unseen)."""
    for s in cfg.data.sources:
        for p in source_paths(s):
            parts = Path(p).resolve().parts
            if "datasets" in parts and "test" in parts[parts.index("datasets"):]:
                raise UareError(f"{p}: a test dataset folder; training on benchmark images is refused")


def _seed_int(*keys: int) -> int:
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, np.uint64)[0] >> 1)


def lr_at(step: int, base: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps (step 0 gets base/warmup), then constant."""
    return base if warmup <= 0 else base * min(1.0, (step + 1) / warmup)


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    st: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "python": [int(x) for x in random.getstate()[1]],
    }
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict[str, Any]) -> None:
    torch.set_rng_state(st["torch"])
    n = st["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    random.setstate((3, tuple(st["python"]), None))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


class Trainer:
    """Builds everything from a :class:`TrainConfig` and runs the loop (see the module docstring)."""

    def __init__(self, cfg: TrainConfig, out: str | Path | None = None, resume: str | Path | None = None,
                 max_steps: int | None = None):
        self.cfg = cfg
        self.out = Path(out or cfg.out)
        self.resume_path = resume
        self.max_steps = int(max_steps or cfg.train.max_steps)
        self.stage = cfg.stage
        check_no_test_data(cfg)

    # ------------------------------------------------------------------------------------------ setup
    def _setup(self) -> None:
        cfg = self.cfg
        env = self.env = init_distributed(cfg.dist.strategy, cfg.dist.timeout_s)
        if env.device.type == "cpu":
            torch.set_num_threads(cfg.train.threads or torch.get_num_threads())
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        random.seed(cfg.seed)
        if env.main:
            self.out.mkdir(parents=True, exist_ok=True)
            if cfg.init.preset and not cfg.init.path:
                random_init_folder(cfg.init, self.out / "init")
        barrier(env)
        ck = load_initial(cfg.init, torch.device("cpu"), self.out)
        self.model, self.vae, self.tok, self.model_cfg = ck.model, ck.vae, ck.tokenizer, ck.config
        # config.json records the flow-time shift these weights are trained with (it computes nothing)
        self.model_cfg.timestep_shift = float(cfg.train.timestep_shift)
        self.tok_src = ck.path
        self.trainable = set_trainable(self.model, self.stage)
        self.frozen_names = [n for n, _ in self.model.named_parameters() if n not in set(self.trainable)]
        self.start_step = 0
        resumed = None
        if self.resume_path is not None:
            resumed = load_train_checkpoint(self.resume_path, self.model_cfg, self.stage,
                                            log=lambda m: print(f"uare: warning: {m}", file=sys.stderr))
            self.model.load_state_dict(resumed.raw, strict=True)
            self.start_step = resumed.step
        cuda = env.device.type == "cuda"
        self.bf16 = cfg.train.precision == "bf16" or (cfg.train.precision == "auto" and cuda)
        for p in self.vae.parameters():
            p.requires_grad_(False)
        self.vae.to(env.device, torch.bfloat16 if (self.bf16 and cuda) else torch.float32).eval()
        self.model.to(env.device).train()
        self.model.language_model.model.gradient_checkpointing = cfg.train.gradient_checkpointing
        set_packed_attention(cfg.train.packed_attention)
        self.wrapper = PackedForward(self.model, detach_und=self.stage == 1, anchor=self.trainable[-1])
        self.module = wrap(self.wrapper, env, self.bf16)
        # after wrapping: under FSDP2 the parameters are DTensors (shards), and so is the EMA
        params = dict(self.model.named_parameters())
        self.params = [params[n] for n in self.trainable]
        src = resumed.ema if resumed is not None else None
        self.ema = {}
        for n in self.trainable:
            p = params[n]
            e = p.detach().clone().float()
            if src is not None:
                e = _like(p, src[n].float())
            self.ema[n] = e
        o = cfg.optim
        # two groups when the understanding path has its own lr scale (train.und_lr_scale)
        und = [p for n, p in zip(self.trainable, self.params, strict=True) if is_trainable(n, 0)]
        gen = [p for n, p in zip(self.trainable, self.params, strict=True) if not is_trainable(n, 0)]
        scale = cfg.train.und_lr_scale
        groups = [{"params": self.params, "lr_scale": 1.0}] if scale == 1.0 or not und or not gen else \
            [{"params": gen, "lr_scale": 1.0}, {"params": und, "lr_scale": scale}]
        lr0 = lr_at(self.start_step, o.lr, o.warmup_steps)
        for g in groups:
            g["lr"] = lr0 * g["lr_scale"]
        # the fused kernel on CUDA (one launch for all parameters); the reference loop on the CPU
        fused = {"fused": True} if self.env.device.type == "cuda" else {}
        self.optim = torch.optim.AdamW(groups, betas=tuple(o.betas), eps=o.eps, weight_decay=o.weight_decay, **fused)
        if resumed is not None:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            set_optimizer_state_dict(self.wrapper, self.optim, resumed.state["optimizer"],
                                     options=StateDictOptions(full_state_dict=True))
            for g, want in zip(self.optim.param_groups, groups, strict=True):
                g["lr_scale"] = want["lr_scale"]  # the config's, not the checkpoint's
            rng = resumed.state.get("rng", {}).get(str(env.rank))
            if rng is not None:
                _set_rng_state(rng)
        geo = Geometry.for_model(self.model_cfg, cfg.data.vit_max_size, cfg.data.vit_min_size)
        self.geo = geo
        self.dataset = PackDataset(cfg.data, geo, self.tok, cfg.seed, env.rank, cfg.train.grad_accum, env.world)
        # shard sources: each reader slot's cursor after the last pack trained on (saved in checkpoints)
        self.cursors: dict[int, dict[int, list[int]]] = {}
        if self.dataset.shard_sources and resumed is not None:
            self.cursors = _resume_cursors(resumed.state.get("data", {}), env, self.dataset.readers)
            self.dataset.set_cursors(self.cursors)
        self._curriculum = next((getattr(s, "curriculum", None) for s in self.dataset.sources
                                 if getattr(s, "curriculum", None) is not None), None)

    # ------------------------------------------------------------------------------------------ one step
    def _prepare(self, pack) -> tuple[Any, torch.Tensor | None, int, int]:
        """VAE-encode a pack, draw its flow times and noise, and pack it into one batch."""
        g = torch.Generator().manual_seed(_seed_int(self.cfg.seed, self.env.rank, pack.index, 1))
        posterior = None
        if self.cfg.train.vae_posterior == "sample":  # its own stream: the other draws stay as with "mean"
            posterior = torch.Generator(self.env.device).manual_seed(
                _seed_int(self.cfg.seed, self.env.rank, pack.index, 2))
        latents = encode_vae_images(pack.samples, self.vae, self.env.device, next(self.vae.parameters()).dtype,
                                    sample=posterior is not None, generator=posterior)
        shift = self.cfg.train.timestep_shift

        def t_of() -> float:
            return float(sample_train_timesteps(1, generator=g, shift=shift)[0])

        plans = [to_model_plan(s, z, t_of, self.model_cfg.latent_patch_size) for s, z in zip(pack.samples, latents,
                                                                                            strict=True)]
        c = self.model_cfg
        batch = pack_samples(plans, self.tok.special, c.vit_max_num_patch_per_side, c.max_latent_size,
                             c.latent_patch_size)
        noise = torch.randn(batch.latent_x0.shape, generator=g) if batch.latent_rows.numel() else None
        if noise is not None and self.cfg.train.flow_source == "degraded":
            noise = degraded_source(batch, noise, self.cfg.train.source_noise)
        return batch, noise, int(batch.latent_noisy.sum()), batch.ce_total

    def _step(self, step: int, packs: list) -> dict[str, float]:
        env, cfg = self.env, self.cfg
        prepared = [self._prepare(p) for p in packs]
        mse_n, ce_n = all_reduce_sum(env, [sum(p[2] for p in prepared), sum(p[3] for p in prepared)])
        mse_n = int(mse_n)
        ce_n = float(ce_n)  # CE rows, or the sum of their weights (data.ce_norm / level_weight)
        lr = lr_at(step, cfg.optim.lr, cfg.optim.warmup_steps)
        for g in self.optim.param_groups:
            g["lr"] = lr * g.get("lr_scale", 1.0)
        mse_sum = ce_sum = 0.0
        dev = env.device
        for i, (batch, noise, _, _) in enumerate(prepared):
            last = i == len(prepared) - 1
            sync = self.module.no_sync() if (env.strategy == "ddp" and not last) else _nullcontext()
            if env.strategy == "fsdp":
                self.module.set_requires_gradient_sync(last)
            with sync, torch.autocast(dev.type, dtype=torch.bfloat16, enabled=self.bf16):
                m, c = self.module(batch, noise)
                loss = (cfg.train.mse_weight * m / max(mse_n, 1) + cfg.train.ce_weight * c / (ce_n or 1.0)) * env.world
                loss.backward()
            mse_sum += float(m.detach())
            ce_sum += float(c.detach())
        gn = torch.nn.utils.clip_grad_norm_(self.params, cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else math.inf)
        gn = float(full_tensor(gn)) if hasattr(gn, "full_tensor") else float(gn)
        self.optim.step()
        self.optim.zero_grad(set_to_none=True)
        d = cfg.train.ema_decay
        with torch.no_grad():
            for n, p in zip(self.trainable, self.params, strict=True):
                self.ema[n].lerp_(p.detach().float(), 1.0 - d)
        tot = all_reduce_sum(env, [mse_sum, ce_sum, sum(p.tokens for p in packs), sum(len(p.samples) for p in packs),
                                   sum(p.image_tokens for p in packs)])
        mse = tot[0] / max(mse_n, 1)
        ce = tot[1] / (ce_n or 1.0)
        return {"loss": cfg.train.mse_weight * mse + cfg.train.ce_weight * ce, "mse": mse, "ce": ce,
                "lr": lr, "grad_norm": gn, "tokens": tot[2], "samples": tot[3], "image_tokens": tot[4],
                "mse_tokens": mse_n, "ce_tokens": ce_n}

    # ------------------------------------------------------------------------------------------ checkpoints
    def _full_states(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any]]:
        """Full (unsharded) raw weights, EMA weights and optimizer state on the CPU (collectives under FSDP)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        raw = {k: full_tensor(v).detach().float().cpu().clone() for k, v in self.model.state_dict().items()}
        ema = dict(raw)
        for n, e in self.ema.items():
            ema[n] = full_tensor(e).detach().cpu().clone()
        osd = get_optimizer_state_dict(self.wrapper, self.optim,
                                       options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return raw, ema, osd

    def _rng_states(self) -> dict[str, Any]:
        if not self.env.distributed:
            return {"0": _rng_state()}
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.env.world
        dist.all_gather_object(gathered, _rng_state())
        return {str(r): s for r, s in enumerate(gathered)}

    def _all_cursors(self) -> dict[str, Any]:
        """Every rank's reader-slot cursors (``rank -> slot -> source -> cursor``), gathered."""
        mine = {str(slot): {str(k): c for k, c in v.items()} for slot, v in self.cursors.items()}
        if not self.env.distributed:
            return {"0": mine}
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.env.world
        dist.all_gather_object(gathered, mine)
        return {str(r): c for r, c in enumerate(gathered)}

    def save(self, step: int) -> Path | None:
        raw, ema, osd = self._full_states()
        rngs = self._rng_states()
        cursors = self._all_cursors() if self.dataset.shard_sources else None
        path = None
        if self.env.main:
            state = {"step": step, "optimizer": osd, "rng": rngs,
                     "scheduler": {"kind": "linear_warmup_constant", "base_lr": self.cfg.optim.lr,
                                   "warmup_steps": self.cfg.optim.warmup_steps, "step": step},
                     "data": {"seed": self.cfg.seed, "next_pack": step * self.cfg.train.grad_accum,
                              "world_size": self.env.world, "grad_accum": self.cfg.train.grad_accum}}
            if cursors is not None:
                state["data"].update(readers=self.dataset.readers, cursors=cursors)
            meta = {"stage": self.stage, "world_size": self.env.world, "model_config": self.model_cfg.to_dict(),
                    "trainable": len(self.trainable), "train_config": self.cfg.to_dict()}
            vae_state = {k: v.detach().float().cpu() for k, v in self.vae.state_dict().items()}
            path = save_train_checkpoint(self.out / "checkpoints", step, raw, ema, vae_state, self.model_cfg,
                                         self.tok_src, state, meta, self.cfg.checkpoint.keep)
        barrier(self.env)
        return path

    def export(self, step: int) -> Path | None:
        """``<out>/final``: a uare checkpoint with the EMA (or raw) weights, loadable by every command."""
        raw, ema, _ = self._full_states()
        if not self.env.main:
            return None
        from uare.model.checkpoint import save_checkpoint

        weights = ema if self.cfg.checkpoint.export == "ema" else raw
        with torch.device("meta"):
            from uare.model.unified import UAREModel

            m = UAREModel(self.model_cfg)
        m.load_state_dict(weights, strict=True, assign=True)
        vae = self.vae.float().cpu()
        path = save_checkpoint(self.out / "final", m, vae, self.tok, fmt="uare", overwrite=True,
                               metadata={"train_step": str(step), "weights": self.cfg.checkpoint.export})
        # what inference must sample with, from this run's config (the release exporter builds on it)
        from uare.train.export import inference_from_training, write_inference

        inference = inference_from_training(self.cfg)
        inference["trained_with"]["step"] = int(step)
        write_inference(path, inference)
        self.vae.to(self.env.device)
        return path

    # ------------------------------------------------------------------------------------------ logging
    def _open_logs(self) -> None:
        self.log_path = self.out / "log.jsonl"
        self.tb = None
        if not self.env.main:
            return
        if self.log_path.is_file():  # drop entries past the resumed step (written after the checkpoint)
            keep = [ln for ln in self.log_path.read_text().splitlines()
                    if ln.strip() and json.loads(ln).get("step", 0) <= self.start_step]
            self.log_path.write_text("".join(k + "\n" for k in keep))
        if self.start_step == 0 and self.env.main:
            (self.out / "train_config.yaml").write_text(yaml.safe_dump(self.cfg.to_dict(), sort_keys=False))
        if self.cfg.log.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # optional dependency: JSON lines only
                self.tb = None
            else:
                self.tb = SummaryWriter(str(self.out / "tb"), purge_step=self.start_step + 1)

    def _log(self, rec: dict[str, Any]) -> None:
        if not self.env.main:
            return
        with self.log_path.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
        if self.tb is not None:
            for k, v in rec.items():
                if isinstance(v, int | float) and k != "step":
                    self.tb.add_scalar(f"train/{k}", v, rec["step"])

    # ------------------------------------------------------------------------------------------ run
    def run(self) -> RunResult:
        self._setup()
        try:
            return self._run()
        finally:
            cleanup(self.env)

    def _run(self) -> RunResult:
        cfg, env = self.cfg, self.env
        self._open_logs()
        result = RunResult(self.out, self.start_step)
        accum = cfg.train.grad_accum
        if self.start_step >= self.max_steps:
            return result
        loader = pack_loader(self.dataset, self.start_step * accum, self.max_steps * accum)
        bar = None
        if env.main and cfg.log.progress:
            from uare.progress import Progress

            # a bar on a terminal; in a log, a status line (step, loss, ETA) at most every 30 s
            bar = Progress(self.max_steps, f"train stage {self.stage}", unit="step", initial=self.start_step,
                           every_s=30.0)
        it = iter(loader)
        step = self.start_step
        t_start = time.perf_counter()
        limit = cfg.train.max_seconds
        timed_out = False
        while step < self.max_steps:
            # every rank stops at the same step: one over-time rank stops them all
            if limit and all_reduce_sum(env, [float(time.perf_counter() - t_start >= limit)])[0] > 0:
                timed_out = True
                break
            t0 = time.perf_counter()
            packs = [next(it) for _ in range(accum)]
            for p in packs:
                if p.cursors is not None:
                    self.cursors[p.slot] = p.cursors
            stats = self._step(step, packs)
            if self.dataset.shard_sources:
                stats["skipped_records"] = int(all_reduce_sum(env, [float(sum(p.skipped for p in packs))])[0])
            step += 1
            dt = time.perf_counter() - t0
            rec = {"step": step, **{k: round(v, 6) if isinstance(v, float) else v for k, v in stats.items()},
                   "tokens_per_s": round(stats["tokens"] / dt, 1), "samples_per_s": round(stats["samples"] / dt, 3),
                   "step_s": round(dt, 4), "elapsed_s": round(time.perf_counter() - t_start, 2)}
            if any(s.kind == "restoration" and s.degradation == "curriculum" for s in cfg.data.sources):
                rec["substage"] = self._curriculum.stage_at(step - 1)
            result.losses.append(stats["loss"])
            result.step = step
            if step % cfg.log.every == 0 or step == self.max_steps or step == self.start_step + 1:
                self._log(rec)
            if bar is not None:
                bar.update(1, loss=f"{stats['loss']:.4f}", tok_s=f"{rec['tokens_per_s']:.0f}")
            if step % cfg.checkpoint.every == 0 or step == self.max_steps:
                result.last_checkpoint = self.save(step)
        if bar is not None:
            bar.close()
        if timed_out and step > self.start_step and step % cfg.checkpoint.every:
            result.last_checkpoint = self.save(step)
        if step == self.max_steps or timed_out:
            result.final = self.export(step)
        if self.tb is not None:
            self.tb.close()
        return result


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _resume_cursors(data: dict[str, Any], env, readers: int) -> dict[int, dict[int, list[int]]]:
    """This rank's reader-slot cursors from a checkpoint's data state; the same ranks and data workers are
    needed (each reader slot owns a share of the shards)."""
    cursors = data.get("cursors")
    if cursors is None:
        return {}  # saved before any shard source was read: every slot starts at the beginning
    if data.get("world_size") != env.world or data.get("readers") != readers:
        raise UareError(f"the checkpoint's shard stream was read by {data.get('world_size')} rank(s) x "
                        f"{data.get('readers')} data worker(s); resume with the same (now {env.world} x {readers}: "
                        "set data.num_workers)")
    mine = cursors.get(str(env.rank), {})
    return {int(slot): {int(k): list(c) for k, c in v.items()} for slot, v in mine.items()}


def _like(p: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
    """``full`` laid out like parameter ``p`` (sharded the same way when ``p`` is a DTensor)."""
    if hasattr(p, "device_mesh"):
        from torch.distributed.tensor import distribute_tensor

        return distribute_tensor(full.to(p.device_mesh.device_type), p.device_mesh, p.placements)
    return full.to(p.device).clone()


def train(cfg: TrainConfig, out: str | Path | None = None, resume: str | Path | None = None,
          max_steps: int | None = None) -> RunResult:
    """Run training as configured (one process, or one rank of a torchrun job)."""
    return Trainer(cfg, out, resume, max_steps).run()
