"""Export a trained checkpoint folder as a release: weights cast (fp16 by default), inference defaults added.

    python -m uare.train.export runs/tiny/stage2/final uare/weights/uare-tiny \\
        --dtype fp16 --inference configs/tiny/inference.json

The output is an ordinary uare checkpoint folder (config.json, model.safetensors, ae.safetensors,
tokenizer.json) plus ``inference.json`` (:class:`uare.infer.pipeline.InferenceDefaults` overrides),
written atomically; an existing folder is replaced only with ``--overwrite`` (its ``*.md`` files, the
model card, are kept). The autoencoder stays fp32 (it is 1 M parameters; decoding precision is worth
more than its 2 MB).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from uare.errors import UareError
from uare.model.checkpoint import load_checkpoint, save_checkpoint
from uare.model.vae import VAE_FILE


def export(src: Path, dst: Path, dtype: str = "fp16", inference: Path | None = None,
           overwrite: bool = False, weights: str = "model") -> dict[str, int]:
    """Write the release folder; returns the file sizes in bytes.

    ``src`` is a uare checkpoint folder; a training checkpoint (``<run>/checkpoints/step_N``, or its
    ``latest`` file) also holds the EMA weights, which ``weights="ema"`` exports instead of the raw ones.
    """
    from uare.infer.pipeline import InferenceDefaults

    src = Path(src)
    if src.name == "latest" and src.is_file():
        src = src.parent / src.read_text().strip()
    if weights not in ("model", "ema"):
        raise UareError(f"weights must be model or ema, got {weights!r}")
    if weights == "ema" and not (src / "ema.safetensors").is_file():
        raise UareError(f"{src}: no ema.safetensors (not a training checkpoint); export its model weights instead")
    if inference is not None:
        InferenceDefaults.from_file(inference)  # fail before writing anything
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
    if inference is not None:
        shutil.copyfile(inference, tmp / "inference.json")
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
    ap.add_argument("src", type=Path, help="trained checkpoint folder (e.g. runs/tiny/stage2/final)")
    ap.add_argument("dst", type=Path, help="release folder (e.g. uare/weights/uare-tiny)")
    ap.add_argument("--dtype", default="fp16", choices=["fp32", "fp16", "bf16"])
    ap.add_argument("--inference", type=Path, default=None, help="inference.json to ship with the weights")
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--weights", default="model", choices=["model", "ema"],
                    help="a training checkpoint's raw (model) or EMA weights (default: model)")
    args = ap.parse_args(argv)
    try:
        sizes = export(args.src, args.dst, args.dtype, args.inference, args.overwrite, args.weights)
    except UareError as e:
        raise SystemExit(f"error: {e}") from None
    print(json.dumps({"out": str(args.dst), "bytes": sizes, "total_mb": round(sum(sizes.values()) / 2**20, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
