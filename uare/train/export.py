"""Export a trained checkpoint folder as a release: weights cast (fp16 by default), inference defaults added.

    python -m uare.train.export runs/tiny/stage2c/final uare/weights/uare-tiny \\
        --dtype fp16 --train-config configs/tiny/stage2_iqa.yaml --inference configs/tiny/inference.json
    python -m uare.train.export --inference-only uare/weights/uare-tiny \\
        --train-config configs/tiny/stage2_iqa.yaml --inference configs/tiny/inference.json

The output is an ordinary uare checkpoint folder (config.json, model.safetensors, ae.safetensors,
tokenizer.json) plus ``inference.json`` (:class:`uare.infer.pipeline.InferenceDefaults`): what the model
was trained with (the flow source, source noise and timestep shift of the sampler, the ViT input sizes,
recorded under ``trained_with``) comes from the training config -- the one given, or the
``inference.json`` the trainer wrote into its ``final`` folder -- and ``--inference`` adds the choices made
for inference alone (steps, tiling, guidance, strengths); a choice that contradicts training is refused.
Written atomically; an existing folder is replaced only with ``--overwrite`` (its ``*.md`` files, the
model card, are kept). The autoencoder stays fp32 (it is 1 M parameters; decoding precision is worth
more than its 2 MB).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from uare.errors import UareError
from uare.model.checkpoint import load_checkpoint, save_checkpoint
from uare.model.vae import VAE_FILE
from uare.train.config import TrainConfig, load_config


def trained_with(cfg: TrainConfig) -> dict[str, Any]:
    """What inference must agree with, from a training config (``inference.json``'s ``trained_with``)."""
    iqa = [s for s in cfg.data.sources if s.kind == "iqa"]
    return {"config": cfg.name, "stage": cfg.stage, "timestep_shift": float(cfg.train.timestep_shift),
            "flow_source": cfg.train.flow_source, "source_noise": float(cfg.train.source_noise),
            "vit_max_size": int(cfg.data.vit_max_size), "vit_min_size": int(cfg.data.vit_min_size),
            "vit_native": bool(iqa) and all(s.vit_native for s in iqa)}


def inference_from_training(cfg: TrainConfig | dict, choices: dict | None = None, where: str = "inference.json"
                            ) -> dict[str, Any]:
    """The ``inference.json`` of a model trained with ``cfg`` (a config, or a ``trained_with`` record):
    the sampler's flow source, source noise and (as its default) timestep shift, and the ViT sizes come
    from training; ``choices`` (an inference.json without ``trained_with``) add the rest. Validated."""
    from uare.infer.pipeline import InferenceDefaults, nest_sampler

    tw = dict(cfg) if isinstance(cfg, dict) else trained_with(cfg)
    choices = nest_sampler(choices or {}, where)
    if "trained_with" in choices:
        raise UareError(f"{where}: trained_with is written from the training config; remove it from the choices")
    sampler = {"timestep_shift": tw["timestep_shift"], "flow_source": tw["flow_source"],
               "source_noise": tw["source_noise"]}
    sampler.update(choices.pop("sampler", {}))
    out = {"sampler": sampler, "vit_max_size": tw["vit_max_size"], "vit_min_size": tw["vit_min_size"],
           "assess_native": tw["vit_native"], **choices, "trained_with": tw}
    InferenceDefaults.from_dict(out, where)
    return out


def release_inference(src: Path | None, train_config: Path | TrainConfig | None, inference: Path | None
                      ) -> dict | None:
    """The release's inference.json: training facts from ``train_config`` (or ``src/inference.json``'s
    ``trained_with``), choices from ``inference``; None when there is neither."""
    from uare.infer.pipeline import read_inference_json

    choices = read_inference_json(inference) if inference is not None else None
    if train_config is not None:
        cfg = load_config(train_config) if isinstance(train_config, str | Path) else train_config
        return inference_from_training(cfg, choices, str(inference or "inference.json"))
    base = src / "inference.json" if src is not None else None
    if base is not None and base.is_file() and "trained_with" in (b := read_inference_json(base)):
        return inference_from_training(b["trained_with"], choices, str(inference or base))
    if choices is not None:  # a model without a training record: the choices alone
        from uare.infer.pipeline import InferenceDefaults

        InferenceDefaults.from_dict(choices, str(inference))
    return choices


def write_inference(folder: Path, data: dict) -> Path:
    """Write ``folder/inference.json`` atomically (readable by every user)."""
    from uare.io.atomic import write_json_atomic

    path = write_json_atomic(Path(folder) / "inference.json", data, overwrite=True)
    path.chmod(0o644)
    return path


def export(src: Path, dst: Path, dtype: str = "fp16", inference: Path | None = None,
           overwrite: bool = False, weights: str = "model", train_config: Path | TrainConfig | None = None
           ) -> dict[str, int]:
    """Write the release folder; returns the file sizes in bytes.

    ``src`` is a uare checkpoint folder; a training checkpoint (``<run>/checkpoints/step_N``, or its
    ``latest`` file) also holds the EMA weights, which ``weights="ema"`` exports instead of the raw ones.
    """
    src = Path(src)
    if src.name == "latest" and src.is_file():
        src = src.parent / src.read_text().strip()
    if weights not in ("model", "ema"):
        raise UareError(f"weights must be model or ema, got {weights!r}")
    if weights == "ema" and not (src / "ema.safetensors").is_file():
        raise UareError(f"{src}: no ema.safetensors (not a training checkpoint); export its model weights instead")
    inf = release_inference(src, train_config, inference)  # fails before anything is written
    if dst.exists() and not overwrite:
        raise UareError(f"{dst}: already exists; pass --overwrite to replace it")
    ck = load_checkpoint(src, device="cpu", dtype="fp32")
    if weights == "ema":
        from safetensors.torch import load_file

        ck.model.load_state_dict(load_file(str(src / "ema.safetensors")), strict=True)
    # write next to dst, then swap, so a failure never leaves half a release behind
    tmp = dst.with_name(f".{dst.name}.export-tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    save_checkpoint(tmp, ck.model, ck.vae, ck.tokenizer, fmt="uare", dtype=dtype, overwrite=False,
                    metadata={"exported_from": str(src)})
    # keep the AE as trained (fp32): the source file, bit for bit
    shutil.copyfile(src / VAE_FILE, tmp / VAE_FILE)
    if inf is not None:
        write_inference(tmp, inf)
    if dst.exists():
        for doc in dst.glob("*.md"):  # the model card is written by hand: keep it
            shutil.copyfile(doc, tmp / doc.name)
        shutil.rmtree(dst)
    tmp.rename(dst)
    dst.chmod(0o755)
    for f in dst.iterdir():
        f.chmod(0o644)  # temp files are private; a shipped model must be readable by every user
    return {p.name: p.stat().st_size for p in sorted(dst.iterdir())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="trained checkpoint folder (e.g. runs/tiny/stage2/final); with "
                    "--inference-only the release folder whose inference.json is rewritten")
    ap.add_argument("dst", type=Path, nargs="?", help="release folder (e.g. uare/weights/uare-tiny)")
    ap.add_argument("--train-config", type=Path, default=None,
                    help="the training config the weights came from (default: src/inference.json's record)")
    ap.add_argument("--inference-only", action="store_true",
                    help="only (re)write SRC/inference.json from --train-config and --inference")
    ap.add_argument("--dtype", default="fp16", choices=["fp32", "fp16", "bf16"])
    ap.add_argument("--inference", type=Path, default=None, help="inference.json to ship with the weights")
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--weights", default="model", choices=["model", "ema"],
                    help="a training checkpoint's raw (model) or EMA weights (default: model)")
    args = ap.parse_args(argv)
    if args.inference_only:
        try:
            if not (args.src / "config.json").is_file():
                raise UareError(f"{args.src}: not a uare model folder (no config.json); --inference-only rewrites "
                                "the inference.json of an exported model")
            inf = release_inference(args.src, args.train_config, args.inference)
            if inf is None:
                raise UareError("--inference-only needs --train-config or --inference")
            print(write_inference(args.src, inf))
        except UareError as e:
            raise SystemExit(f"error: {e}") from None
        return 0
    if args.dst is None:
        ap.error("the release folder DST is required (unless --inference-only)")
    try:
        sizes = export(args.src, args.dst, args.dtype, args.inference, args.overwrite, args.weights,
                       args.train_config)
    except UareError as e:
        raise SystemExit(f"error: {e}") from None
    print(json.dumps({"out": str(args.dst), "bytes": sizes, "total_mb": round(sum(sizes.values()) / 2**20, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
