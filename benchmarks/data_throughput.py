"""Training-data throughput per core: decode + degrade + pack, from shards against folders, in one run.

    python benchmarks/data_throughput.py --out benchmarks/results/data_throughput

The training images of BSD200 (481x321 PNG) are packed once into tar shards (the PNG files as they are, and
raw pixels: ``--encoding raw``) and into BAGEL's parquet layout (``uare.data.shards.pack_folder``), then one process on one thread (torch, OpenCV and numpy's BLAS) builds
training samples the way ``uare train`` does (``PackDataset``: a 256x256 crop, the degradation, the
instruction, the ViT / VAE views, packed to a token budget), with uare-tiny's geometry and tokenizer:

- sources: tar shards, parquet shards, the folder (files read and decoded every time: the at-scale case, no
  cache), and the folder through the trainer's in-memory LRU cache (how a small run on one machine reads);
- degradations: ``clean`` (no degradation: decode + crop + pack alone), ``single``, ``multi``, Real-ESRGAN,
  APISR, and the stage-1 ``mix`` (single 0.4 / multi 0.4 / Real-ESRGAN 0.2).

Reported: samples per second per core (the median of three timed passes after a warm-up) and, for the shard
readers, decode alone (records per second). Writes ``data_throughput.json`` and ``data_throughput.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT.parent / "shared" / "datasets" / "train" / "bsd200"


def _one_thread() -> None:
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[k] = "1"
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=Path, default=IMAGES)
    ap.add_argument("--samples", type=int, default=100, help="samples per timed pass (default: 100)")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "data_throughput")
    a = ap.parse_args(argv)
    _one_thread()
    from uare.data import DataConfig, Geometry, PackDataset, SourceConfig
    from uare.data.images import ImageCache
    from uare.data.shards import ShardStream, open_shards, pack_folder
    from uare.model.checkpoint import load_config
    from uare.model.tokenizer import Tokenizer

    model = ROOT / "uare" / "weights" / "uare-tiny"
    mcfg, _ = load_config(model)
    tok = Tokenizer.from_folder(model)
    tmp = Path(tempfile.mkdtemp(prefix="uare-throughput-"))
    t0 = time.perf_counter()
    pack_folder(a.images, tmp / "tar", shard_size=25, layout="tar", log=lambda m: None)
    t_tar = time.perf_counter() - t0
    t0 = time.perf_counter()
    pack_folder(a.images, tmp / "parquet", shard_size=25, layout="parquet", row_group=25, log=lambda m: None)
    t_pq = time.perf_counter() - t0
    pack_folder(a.images, tmp / "raw", shard_size=25, layout="tar", encoding="raw", log=lambda m: None)
    n_images = len(list(a.images.iterdir()))

    results: dict = {"decode": {}, "samples": {}}
    for name in ("tar", "parquet", "raw"):  # decode alone: records per second
        st = ShardStream(open_shards([tmp / name]), 0, 0, 1)
        t0 = time.perf_counter()
        for _ in range(n_images):
            st.peek()
            st.advance()
        results["decode"][name] = round(n_images / (time.perf_counter() - t0), 1)

    pipelines = {"clean": None, "single": {"single": 1.0}, "multi": {"multi": 1.0},
                 "realesrgan": {"realesrgan": 1.0}, "apisr": {"apisr": 1.0},
                 "mix": {"single": 0.4, "multi": 0.4, "realesrgan": 0.2}}
    readers = {"tar shards": {"shards": [str(tmp / "tar")]}, "parquet shards": {"shards": [str(tmp / "parquet")]},
               "tar shards, raw pixels": {"shards": [str(tmp / "raw")]},
               "folder": {"folders": [str(a.images)]}, "folder (LRU cache)": {"folders": [str(a.images)]}}
    for rname, where in readers.items():
        for pname, pipes in pipelines.items():
            kind = {"kind": "restoration", "degradation": "mix", "crop": [a.crop, a.crop],
                    "pipelines": pipes or {"single": 1.0}, "sr_prob": 0.2 if pipes else 0.0}
            src = SourceConfig(**kind, **where)
            cfg = DataConfig(sources=[src], tokens_per_pack=200_000, max_samples_per_pack=a.samples)
            geo = Geometry.for_model(mcfg, cfg.vit_max_size, cfg.vit_min_size)
            ds = PackDataset(cfg, geo, tok, seed=0)
            s = ds.sources[0]
            if pipes is None:  # no degradation: the clean crop stands in for the degraded one
                s.degrade = lambda img, rng, step: (img, _clean_record(img), "clean")
            if rname == "folder":
                s.cache = ImageCache(max_items=0)
            times = []
            for p in range(4):
                t0 = time.perf_counter()
                pack = ds[p]
                times.append(len(pack.samples) / (time.perf_counter() - t0))
            rate = statistics.median(times[1:])
            results["samples"].setdefault(rname, {})[pname] = round(rate, 1)
            print(f"{rname:20s} {pname:10s} {rate:7.1f} samples/s", flush=True)
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    meta = {"images": str(a.images), "n_images": n_images, "crop": a.crop, "samples_per_pass": a.samples,
            "threads": 1, "cpu": platform.processor() or platform.machine(), "python": sys.version.split()[0],
            "pack_seconds": {"tar": round(t_tar, 2), "parquet": round(t_pq, 2)},
            "command": "python benchmarks/data_throughput.py --out benchmarks/results/data_throughput"}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "data_throughput.json").write_text(json.dumps({**meta, **results}, indent=1) + "\n")
    cols = list(pipelines)
    lines = [f"Samples per second on one core ({a.crop}x{a.crop} crops of {n_images} BSD200 images; decode + crop + "
             "degrade + instruction + ViT / VAE views + pack; median of 3 passes of "
             f"{a.samples}).", "", "| images from | " + " | ".join(cols) + " |",
             "|---|" + "---|" * len(cols)]
    for rname, row in results["samples"].items():
        lines.append(f"| {rname} | " + " | ".join(f"{row[c]:.0f}" for c in cols) + " |")
    lines += ["", "Decode alone (records per second, one core): " +
              ", ".join(f"{k} {v:.0f}" for k, v in results["decode"].items()) +
              f". Packing {n_images} images: tar {t_tar:.1f} s, parquet {t_pq:.1f} s."]
    (a.out / "data_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _clean_record(img):
    from uare.degrade.record import DegradationRecord

    h, w = img.shape[:2]
    return DegradationRecord("clean", input_size=(h, w), output_size=(h, w))


if __name__ == "__main__":
    raise SystemExit(main())
