"""A deterministic, resumable stream of packs (one pack = one micro-batch of one rank).

Order: rank ``r`` trains on packs ``0, 1, 2, ...``; pack ``p`` belongs to optimizer step ``p // grad_accum``.
Pack ``p`` is filled with samples ``j = 0, 1, ...``, sample ``(p, j)`` being drawn from
``numpy.random.default_rng([seed, r, p, j])`` (the source, the image, the crop, the degradation, the texts
and the dropout). Filling stops before the first sample that would exceed ``tokens_per_pack`` (that sample
is dropped, not carried over) or at ``max_samples_per_pack``. So the whole stream is a pure function of
``(seed, rank, global sample index (p, j))``: resuming at step ``s`` just starts at pack ``s * grad_accum``,
and no data-loader state beyond that index needs saving. Packs are independent, so DataLoader workers
build them in parallel and the loader returns them in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from uare.data.config import DataConfig
from uare.data.images import DataError, ImageCache
from uare.data.items import Dropout, Sample, apply_dropout, normalize_ce
from uare.data.sources import Geometry, build_source


@dataclass
class Pack:
    """The samples of one micro-batch, with its index, its optimizer step and its token count."""

    index: int
    step: int
    samples: list[Sample] = field(default_factory=list)
    tokens: int = 0
    image_tokens: int = 0  # latent tokens of the noisy (target) images


class PackDataset(Dataset):
    """Map-style dataset: item ``p`` is :class:`Pack` ``p`` of this rank (see the module docstring)."""

    def __init__(self, cfg: DataConfig, geo: Geometry, tokenizer, seed: int, rank: int = 0, grad_accum: int = 1):
        if not cfg.sources:
            raise DataError("the config has no data sources (data.sources is empty)")
        self.cfg, self.geo, self.seed, self.rank, self.accum = cfg, geo, int(seed), int(rank), int(grad_accum)
        self.cache = ImageCache()
        self.sources = [build_source(s, geo, tokenizer, self.cache, cfg.curriculum) for s in cfg.sources]
        w = np.array([s.weight for s in cfg.sources], dtype=np.float64)
        if (w < 0).any() or w.sum() <= 0:
            raise DataError("data source weights must be >= 0 and not all 0")
        self.weights = w / w.sum()
        self.dropout = Dropout(cfg.dropout.text, cfg.dropout.vit, cfg.dropout.vae)

    def __len__(self) -> int:
        return 2**62  # an endless stream; the loader's sampler picks the range

    def sample(self, p: int, j: int) -> Sample:
        """Sample ``j`` of pack ``p``, dropout applied."""
        rng = np.random.default_rng([self.seed, self.rank, int(p), int(j)])
        k = int(rng.choice(len(self.sources), p=self.weights)) if len(self.sources) > 1 else 0
        s = self.sources[k](rng, int(p) // self.accum)
        s.items = apply_dropout(s.items, rng, self.dropout)
        normalize_ce(s, self.cfg.ce_norm)
        s.meta["source"] = k
        return s

    def __getitem__(self, p: int) -> Pack:
        pack = Pack(int(p), int(p) // self.accum)
        budget = self.cfg.tokens_per_pack
        for j in range(self.cfg.max_samples_per_pack):
            s = self.sample(p, j)
            n = s.num_tokens(self.geo.latent_stride)
            if n > budget:
                raise DataError(f"one sample needs {n} tokens, more than data.tokens_per_pack = {budget}; "
                                "raise the budget or lower the crop / ViT sizes")
            if pack.tokens + n > budget:
                break
            pack.samples.append(s)
            pack.tokens += n
            pack.image_tokens += s.num_image_tokens(self.geo.latent_stride)
        return pack


def _identity(x):
    return x


def _worker_init(_: int) -> None:
    from uare.data._parent_watch import die_with_parent

    die_with_parent()  # a worker outlives neither the forkserver nor, through it, a SIGKILLed trainer
    # Workers share 2 cores with the trainer on small machines: one thread each, no oversubscription.
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def pack_loader(dataset: PackDataset, start: int, stop: int) -> DataLoader:
    """A loader over packs ``start .. stop - 1`` in order (``data.num_workers`` build them in parallel)."""
    workers = dataset.cfg.num_workers
    # forkserver, not fork: forking a process whose OpenMP / OpenCV thread pools are already running can
    # deadlock the child (it did, in the test suite, after earlier tests had used torch).
    kw = {}
    if workers > 0:
        import multiprocessing as mp

        ctx = mp.get_context("forkserver")
        # the forkserver imports this first, so it dies with the trainer (see uare.data._parent_watch)
        ctx.set_forkserver_preload(["uare.data._parent_watch"])
        kw = {"prefetch_factor": dataset.cfg.prefetch_factor, "worker_init_fn": _worker_init,
              "multiprocessing_context": ctx, "persistent_workers": False}
    return DataLoader(dataset, batch_size=None, sampler=range(start, stop), num_workers=workers,
                      collate_fn=_identity, **kw)
