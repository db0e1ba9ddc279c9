"""Look for shortcuts in a training config's data before training on it (see :mod:`uare.data.audit`).

    python -m uare.train.audit configs/tiny/stage0_und.yaml --n 3000
"""

from __future__ import annotations

import argparse
import sys

from uare.data.audit import Leak, draw, measure


def audit(config_path: str, n: int = 2000, seed: int = 0) -> dict[str, dict[str, Leak]]:
    """Leaks per source kind of a training config (sources without quality labels are skipped)."""
    from pathlib import Path

    from uare.data.images import ImageCache
    from uare.data.sources import Geometry, build_source
    from uare.model.config import preset
    from uare.model.tokenizer import Tokenizer, train_quality_tokenizer
    from uare.train.config import load_config
    from uare.train.model_setup import model_config_for_plan

    cfg = load_config(config_path)
    try:
        mc = model_config_for_plan(cfg.init)
    except Exception:  # noqa: BLE001 - the plan only needs the geometry
        mc = preset("tiny")
    folder = Path(cfg.init.path) if cfg.init.path else None
    tok = Tokenizer.from_folder(folder) if folder and (folder / "tokenizer.json").is_file() else \
        train_quality_tokenizer(vocab_size=2048, seed=0)
    geo = Geometry.for_model(mc, cfg.data.vit_max_size, cfg.data.vit_min_size)
    cache = ImageCache()
    report = {}
    for i, sc in enumerate(cfg.data.sources):
        if sc.kind not in ("iqa", "interleaved"):
            continue
        src = build_source(sc, geo, tok, cache, cfg.data.curriculum)
        report[f"{i}:{sc.kind}"] = measure(draw([src], n, seed))
    return report



def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Measure how well non-content properties predict a config's labels.")
    ap.add_argument("config")
    ap.add_argument("--n", type=int, default=2000, help="samples per source (default 2000)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    for name, leaks in audit(a.config, a.n, a.seed).items():
        print(f"source {name}: {a.n} samples")
        print("  property        eta^2   chance  spearman  groups")
        for lk in leaks.values():
            print(f"  {lk.prop:14s} {lk.eta2:6.3f}  {lk.chance:6.3f}  {lk.spearman:+7.3f}  {lk.groups:6d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
