"""``uare train``: the staged UARE training recipe, one process or one rank of a ``torchrun`` job."""

from __future__ import annotations

import argparse

from uare.cli_args import positive_int

TRAIN_EPILOG = """\
examples:
  uare train configs/tiny/stage1.yaml                     one process (CPU or one GPU)
  torchrun --nproc_per_node 8 -m uare train configs/paper/stage1.yaml
  uare train configs/tiny/stage1.yaml --resume runs/tiny/stage1      continue from its latest checkpoint
  uare train configs/paper/stage2.yaml --dry-run --gpus 64           plan only, nothing is loaded
  uare train configs/tiny/stage2.yaml --set train.max_steps=50 --set data.num_workers=0

outputs in OUT: log.jsonl (one JSON object per logged step), tb/ (TensorBoard, when installed),
checkpoints/step_N/ (resumable; each also loads as a uare checkpoint), final/ (the EMA weights).
"""




def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``train`` on the ``uare`` sub-parsers."""
    p = sub.add_parser("train", help="train or fine-tune the model (stage 1 / stage 2 recipe)",
                       description="Train UARE from a YAML config: stage 1 (restoration expert) or stage 2 "
                       "(everything but the VAE). Runs under torchrun for several GPUs or processes.",
                       epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", metavar="CONFIG", help="YAML training config")
    p.add_argument("--resume", metavar="DIR", default=None,
                   help="resume from a checkpoint folder (or a run folder: its latest checkpoint)")
    p.add_argument("--out", metavar="DIR", default=None, help="output folder (default: the config's out)")
    p.add_argument("--max-steps", type=positive_int, default=None, metavar="N", help="stop after step N")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, dotted keys, YAML values (repeatable)")
    p.add_argument("--dry-run", action="store_true",
                   help="print trainable parameters, tokens per step and memory per GPU; train nothing")
    p.add_argument("--gpus", type=positive_int, default=None, metavar="N",
                   help="GPUs to plan for with --dry-run (default: WORLD_SIZE, else 64)")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    import os

    from uare.train.config import load_config

    cfg = load_config(args.config, args.overrides)
    if getattr(args, "threads_given", False):  # --threads overrides train.threads
        cfg.train.threads = args.threads
    if getattr(args, "quiet", False):
        cfg.log.progress = False
    if args.max_steps:
        cfg.train.max_steps = args.max_steps
    if args.dry_run:
        from uare.train.plan import dry_run

        gpus = args.gpus or int(os.environ.get("WORLD_SIZE", "0")) or 64
        print(dry_run(cfg, gpus))
        return 0
    from uare.train.trainer import train

    res = train(cfg, out=args.out, resume=args.resume, max_steps=args.max_steps)
    if int(os.environ.get("RANK", "0")) == 0:
        last = f"{res.losses[-1]:.4f}" if res.losses else "n/a"
        print(f"trained to step {res.step} (last loss {last}) -> {res.out}"
              + (f"; final weights in {res.final}" if res.final else ""))
    return 0
