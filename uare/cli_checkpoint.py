"""``uare init-random`` and ``uare inspect``: write random checkpoints, describe checkpoint folders."""

from __future__ import annotations

import argparse
import json
import sys


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the checkpoint commands on the ``uare`` sub-parser."""
    p = sub.add_parser(
        "init-random",
        help="write a randomly initialised checkpoint folder (tiny by default), for tests and loader checks",
        description="Write a random checkpoint folder in BAGEL's layout or ours. Tensors are streamed to disk one "
        "at a time, so even --config bagel-7b (14.6 B parameters, ~29 GB in bf16) needs little memory.",
    )
    p.add_argument("output", metavar="OUT", help="checkpoint folder to create")
    p.add_argument("--config", default="tiny", choices=("tiny", "micro", "bagel-7b"),
                   help="model size (default: tiny)")
    p.add_argument("--format", default="uare", choices=("uare", "bagel"),
                   help="uare: config.json + model.safetensors; bagel: llm_config.json + vit_config.json + "
                   "ema.safetensors (default: uare)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--dtype", default=None, choices=("fp32", "bf16", "fp16"),
                   help="tensor dtype (default: fp32, bf16 for bagel-7b)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    p.set_defaults(func=cmd_init_random)

    q = sub.add_parser(
        "inspect",
        help="validate a checkpoint folder from its headers and show its configs, sizes and memory needs",
        description="Check every key and shape of a BAGEL or uare checkpoint folder against its config without "
        "loading tensors, and report parameter counts per expert and component, dtypes and memory needs.",
    )
    q.add_argument("folder", metavar="DIR", help="checkpoint folder")
    q.add_argument("--json", action="store_true", help="print the report as JSON")
    q.set_defaults(func=cmd_inspect)


def cmd_init_random(args: argparse.Namespace) -> int:
    from uare.model.config import preset
    from uare.model.random_init import init_random
    from uare.model.tokenizer import train_quality_tokenizer

    tok = train_quality_tokenizer(vocab_size=2048 if args.config != "micro" else 600, seed=args.seed)
    cfg = preset("bagel-7b") if args.config == "bagel-7b" else preset(args.config, vocab_size=tok.vocab_size)
    dtype = args.dtype or ("bf16" if args.config == "bagel-7b" else "fp32")
    out = init_random(args.output, cfg, fmt=args.format, seed=args.seed, dtype=dtype, tokenizer=tok,
                      overwrite=args.overwrite)
    print(f"wrote a random {args.config} checkpoint ({args.format} format, {dtype}) to {out}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from uare.model.inspect import format_report, inspect_checkpoint

    report = inspect_checkpoint(args.folder)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print(format_report(report))
    return 0
