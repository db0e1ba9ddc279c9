"""A deterministic, resumable stream of packs (one pack = one micro-batch of one rank).

Order: rank ``r`` trains on packs ``0, 1, 2, ...``; pack ``p`` belongs to optimizer step ``p // grad_accum``.
Pack ``p`` is filled with samples ``j = 0, 1, ...``, sample ``(p, j)`` being drawn from
``numpy.random.default_rng([seed, r, p, j])`` (the source, the image, the crop, the degradation, the texts
and the dropout). Filling stops before the first sample that would exceed ``tokens_per_pack`` (that sample
is dropped, not carried over) or at ``max_samples_per_pack``. With folder sources the whole stream is a
pure function of ``(seed, rank, global sample index (p, j))``: resuming at step ``s`` just starts at pack
``s * grad_accum``. Packs are independent, so DataLoader workers build them in parallel and the loader
returns them in order.

Shard sources (:mod:`uare.data.shards`) read their images as a stream instead: pack ``p`` belongs to reader
slot ``p % W`` (``W = max(1, num_workers)``; the loader hands pack ``p`` to the same worker for every ``p``
of that slot), global slot ``rank * W + p % W`` of ``world * W``. A slot's images follow one another, so
the image of sample ``(p, j)`` depends on the packs of its slot before ``p``; the record of a sample that
did not fit its pack is the next one used. Each pack carries its slot's :class:`~uare.data.shards.Cursor`
after it; the trainer keeps the latest per slot and a checkpoint stores them, so a resumed run starts
every slot where it stood (:meth:`PackDataset.set_cursors`).
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
    slot: int = 0  # the reader slot of this rank that built it (shard sources)
    cursors: dict[int, list[int]] | None = None  # shard source index -> its slot's cursor after this pack
    skipped: int = 0  # damaged shard records skipped while building it


class PackDataset(Dataset):
    """Map-style dataset: item ``p`` is :class:`Pack` ``p`` of this rank (see the module docstring)."""

    def __init__(self, cfg: DataConfig, geo: Geometry, tokenizer, seed: int, rank: int = 0, grad_accum: int = 1,
                 world: int = 1):
        if not cfg.sources:
            raise DataError("the config has no data sources (data.sources is empty)")
        self.cfg, self.geo, self.seed, self.rank, self.accum = cfg, geo, int(seed), int(rank), int(grad_accum)
        self.world, self.readers = int(world), max(1, int(cfg.num_workers))
        self._cursors: dict[int, dict[int, list[int]]] = {}  # slot -> source -> cursor to start from
        self.cache = ImageCache()
        self.sources = [build_source(s, geo, tokenizer, self.cache, cfg.curriculum) for s in cfg.sources]
        w = np.array([s.weight for s in cfg.sources], dtype=np.float64)
        if (w < 0).any() or w.sum() <= 0:
            raise DataError("data source weights must be >= 0 and not all 0")
        self.weights = w / w.sum()
        #: indices of the sources that read shards
        self.shard_sources = [k for k, s in enumerate(self.sources) if getattr(s, "shards", None) is not None]
        for k in self.shard_sources:
            if len(self.sources[k].shards) < self.world * self.readers:
                raise DataError(f"data.sources.{k}: {len(self.sources[k].shards)} shard units for {self.world} "
                                f"rank(s) x {self.readers} data worker(s); every reader needs one: pack smaller "
                                "shards (uare data pack --shard-size) or use fewer data workers")
        self.dropout = Dropout(cfg.dropout.text, cfg.dropout.vit, cfg.dropout.vae)

    def __len__(self) -> int:
        return 2**62  # an endless stream; the loader's sampler picks the range

    def set_cursors(self, cursors: dict[int, dict[int, list[int]]]) -> None:
        """Where each reader slot of this rank starts (``slot -> source -> [epoch, unit, record]``, as packs
        carry them); call before the loader is built (its workers copy the dataset)."""
        self._cursors = {int(k): {int(a): list(b) for a, b in v.items()} for k, v in cursors.items()}

    def _use_slot(self, slot: int) -> None:
        """Point every shard source at its stream for reader slot ``slot`` of this rank."""
        from uare.data.shards import Cursor, ShardStream

        for k in self.shard_sources:
            src = self.sources[k]
            streams = src.__dict__.setdefault("_streams", {})
            if slot not in streams:
                start = self._cursors.get(slot, {}).get(k)
                streams[slot] = ShardStream(src.shards, self.seed, self.rank * self.readers + slot,
                                            self.world * self.readers,
                                            Cursor.from_list(start) if start is not None else None)
            src.stream = streams[slot]

    def sample(self, p: int, j: int) -> Sample:
        """Sample ``j`` of pack ``p``, dropout applied."""
        if self.shard_sources:
            self._use_slot(int(p) % self.readers)
        rng = np.random.default_rng([self.seed, self.rank, int(p), int(j)])
        k = int(rng.choice(len(self.sources), p=self.weights)) if len(self.sources) > 1 else 0
        s = self.sources[k](rng, int(p) // self.accum)
        s.items = apply_dropout(s.items, rng, self.dropout)
        normalize_ce(s, self.cfg.ce_norm)
        s.meta["source"] = k
        stream = getattr(self.sources[k], "stream", None)
        if stream is not None:  # the record this sample was cut from (what coverage checks count)
            s.meta["record"] = [stream.cursor.epoch, stream.unit_name(), stream.peek()[0].key]
        return s

    def __getitem__(self, p: int) -> Pack:
        pack = Pack(int(p), int(p) // self.accum, slot=int(p) % self.readers)
        shard = self.shard_sources
        if shard:
            self._use_slot(pack.slot)
            skipped0 = sum(self.sources[k].stream.skipped for k in shard)
        budget = self.cfg.tokens_per_pack
        for j in range(self.cfg.max_samples_per_pack):
            s = self.sample(p, j)
            n = s.num_tokens(self.geo.latent_stride)
            if n > budget:
                raise DataError(f"one sample needs {n} tokens, more than data.tokens_per_pack = {budget}; "
                                "raise the budget or lower the crop / ViT sizes")
            if pack.tokens + n > budget:
                break
            src = self.sources[s.meta["source"]]
            if hasattr(src, "commit"):
                src.commit()
            pack.samples.append(s)
            pack.tokens += n
            pack.image_tokens += s.num_image_tokens(self.geo.latent_stride)
        if shard:
            pack.cursors = {k: self.sources[k].stream.cursor.to_list() for k in shard}
            pack.skipped = sum(self.sources[k].stream.skipped for k in shard) - skipped0
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
