"""Training data: interleaved sequence plans, their sources, condition dropout and a resumable pack stream.

- :mod:`uare.data.items` — data-side plan items (pixels, not latents), dropout, packing with BAGEL positions;
- :mod:`uare.data.sources` — restoration (on-the-fly or paired), IQA (synthetic or MOS tables), interleaved;
- :mod:`uare.data.mos` — KonIQ / SPAQ / KADID / generic MOS tables mapped to the five levels;
- :mod:`uare.data.stream` — packs to a token budget, a pure function of (seed, rank, sample index) for folder
  sources, with per-reader cursors for shard sources;
- :mod:`uare.data.shards` — WebDataset tar / BAGEL parquet shards: packing, manifests, a resumable stream.
"""

from uare.data.config import CurriculumConfig, DataConfig, DropoutConfig, SourceConfig
from uare.data.images import DataError
from uare.data.items import (
    VAE,
    Dropout,
    Sample,
    Skip,
    Text,
    ViT,
    apply_dropout,
    encode_vae_images,
    pack_samples,
)
from uare.data.mos import MOSRow, read_mos_table
from uare.data.sources import Geometry, build_source, pick_task
from uare.data.stream import Pack, PackDataset, pack_loader

__all__ = [
    "VAE", "CurriculumConfig", "DataConfig", "DataError", "Dropout", "DropoutConfig", "Geometry", "MOSRow", "Pack",
    "PackDataset", "Sample", "Skip", "SourceConfig", "Text", "ViT", "apply_dropout", "build_source",
    "encode_vae_images", "pack_loader", "pack_samples", "pick_task", "read_mos_table",
]
