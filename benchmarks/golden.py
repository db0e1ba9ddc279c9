"""Hashes of everything a refactor must leave unchanged: the shipped model's outputs, the degradation
engine, the quality language, the training samples of every shipped config, and a BAGEL-format folder.

    python benchmarks/golden.py --out results/golden_before.json           # before a change
    python benchmarks/golden.py --out results/golden_after.json \
        --compare results/golden_before.json                               # after: lists what moved

Each entry is a SHA-256 of the bytes of an output (pixels as uint8 / float32, token ids, texts,
records), so "same inputs and seed give the same pixels and scores" is checked exactly. Run with
``--parts`` to hash a subset (model, degrade, language, samples, bagel, cli); training samples need
``../shared/datasets/train``. Exit code 1 when ``--compare`` finds a difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
# hash the uare of this checkout, not whichever one an editable install (pip install -e) points at:
# a script's sys.path starts at benchmarks/, so a plain `import uare` could load another worktree
sys.path.insert(0, str(ROOT))
PARTS = ("language", "degrade", "samples", "model", "bagel", "cli")


def _h(*objs) -> str:
    m = hashlib.sha256()
    for o in objs:
        if isinstance(o, torch.Tensor):
            o = o.detach().cpu().contiguous().numpy()
        if isinstance(o, np.ndarray):
            m.update(str((o.dtype, o.shape)).encode())
            m.update(np.ascontiguousarray(o).tobytes())
        elif isinstance(o, bytes):
            m.update(o)
        else:
            m.update(json.dumps(o, sort_keys=True, default=str).encode())
    return m.hexdigest()[:16]


def _image(seed: int = 0, size: int = 64) -> np.ndarray:
    """A test photo crop when the datasets are there, else a smooth synthetic image."""
    from uare.data.images import load_rgb

    folder = ROOT.parent / "shared" / "datasets" / "train" / "bsd200"
    files = sorted(folder.glob("*")) if folder.is_dir() else []
    if files:
        img = load_rgb(files[seed % len(files)])
        return np.ascontiguousarray(img[:size, :size])
    yy, xx = np.mgrid[0:size, 0:size] / size
    rgb = np.stack([np.sin(6 * xx + seed), np.cos(5 * yy), xx * yy], -1) * 0.4 + 0.5
    return np.rint(rgb * 255).astype(np.uint8)


def language() -> dict[str, str]:
    from uare import prompts
    from uare.degrade.types import SINGLE_CATEGORY
    from uare.quality import (
        analysis_text,
        comparison_text,
        description_text,
        instruction,
        score_answer,
        summary_from_severities,
    )

    out: dict[str, str] = {}
    cats = sorted(set(SINGLE_CATEGORY.values()))
    texts = []
    for k in range(300):
        rng = np.random.default_rng(k)
        n = int(rng.integers(0, 4))
        pick = rng.choice(len(cats), size=n, replace=False)
        sev = {cats[int(i)]: float(rng.uniform(0.5, 5)) for i in pick}
        s = summary_from_severities(sev)
        s2 = summary_from_severities({})
        task = ("auto", "sr", "denoise", "deblur", "jpeg", "lowlight", "dehaze", "derain")[k % 8]
        texts += [description_text(s, rng), analysis_text(s, rng, task), comparison_text(s, s2, rng),
                  instruction(task, rng, scale=2 + 2 * (k % 2)), score_answer(s.level), s.level, s.score]
    out["texts"] = _h(texts)
    pre = [prompts.score_question(), prompts.describe_instruction(), prompts.compare_instruction(),
           prompts.description_prefix("good", 3.71), prompts.verdict_prefix("first", 3.9, 2.1)]
    pre += [prompts.restore_instruction(t, 4) for t in prompts.RESTORE_TASKS]
    pre += [prompts.analysis_prefix(t, "poor", 2.2, 4) for t in prompts.RESTORE_TASKS]
    out["prompts"] = _h(pre)
    from uare.model.tokenizer import train_quality_tokenizer

    tok = train_quality_tokenizer(vocab_size=2048, seed=0)
    out["tokenizer_fresh"] = _h(tok.encode(" ".join(str(t) for t in texts[:200])), tok.vocab_size)
    return out


def degrade_part() -> dict[str, str]:
    from uare.degrade import Curriculum, degrade
    from uare.degrade.types import SINGLE_CATEGORY

    img = _image(1, 64)
    out = {}
    for t in SINGLE_CATEGORY:
        res = []
        for s in range(1, 6):
            lq, rec = degrade(img, "single", types=[t], severity=s, seed=s)
            res.append((lq, rec.to_dict() if hasattr(rec, "to_dict") else repr(rec)))
        out[f"single/{t}"] = _h(*[x for r in res for x in r])
    for k in range(6):
        lq, rec = degrade(img, "single", seed=100 + k, scale=(1, 2)[k % 2])
        out[f"single_random/{k}"] = _h(lq, repr(rec))
        lq, rec = degrade(img, "multi", seed=200 + k, scale=(1, 4)[k % 2])
        out[f"multi/{k}"] = _h(lq, repr(rec))
        lq, rec = degrade(img, "realesrgan", seed=300 + k, scale=(1, 4)[k % 2])
        out[f"realesrgan/{k}"] = _h(lq, repr(rec))
    cur = Curriculum(100, 100, 100)
    for step in (0, 150, 250):
        lq, rec = cur.sample(img, step, seed=step)
        out[f"curriculum/{step}"] = _h(lq, repr(rec))
    return out


def _item_hash(it) -> list:
    from uare.data.items import VAE, Skip, Text, ViT

    if isinstance(it, Text):
        return ["T", it.ids, it.loss, it.cfg, it.weights]
    if isinstance(it, ViT):
        return ["V", _h(it.patches), list(it.grid), it.cfg]
    if isinstance(it, VAE):
        return ["I", _h(it.pixels), it.noisy, it.cfg]
    if isinstance(it, Skip):
        return ["S", it.what]
    return [type(it).__name__]


def samples() -> dict[str, str]:
    from uare.data.sources import Geometry
    from uare.data.stream import PackDataset
    from uare.model.checkpoint import load_config as load_model_config
    from uare.model.tokenizer import Tokenizer
    from uare.train.config import load_config

    if not (ROOT.parent / "shared" / "datasets" / "train").is_dir():
        return {}
    model_dir = ROOT / "uare" / "weights" / "uare-tiny"
    mc, _ = load_model_config(model_dir)
    tok = Tokenizer.from_folder(model_dir)
    out = {}
    import os

    os.chdir(ROOT)
    for path in sorted((ROOT / "configs" / "tiny").glob("*.yaml")):
        cfg = load_config(path)
        d = cfg.data
        geo = Geometry.for_model(mc, d.vit_max_size, d.vit_min_size)
        ds = PackDataset(d, geo, tok, cfg.seed, 0, cfg.train.grad_accum)
        res = []
        for p in (0, 7, 3001):
            for j in range(3):
                s = ds.sample(p, j)
                res.append([s.kind, [_item_hash(i) for i in s.items],
                            {k: v for k, v in s.meta.items() if k != "source"}])
        out[f"samples/{path.stem}"] = _h(res)
    return out


def _model_outputs(m, prefix: str, quick: bool = False) -> dict[str, str]:
    from uare.degrade import degrade

    out = {}
    clean = _image(2, 96)
    blurry, _ = degrade(clean, "single", types=["blur"], severity=4, seed=0)
    noisy, _ = degrade(clean, "single", types=["noise"], severity=4, seed=0)
    for name, img in (("clean", clean), ("blur", blurry), ("noise", noisy)):
        a = m.assess(img.astype(np.float32) / 255)
        out[f"{prefix}assess/{name}"] = _h(a.score, a.level, a.level_probs, a.text, a.degradations)
    c = m.compare(clean.astype(np.float32) / 255, noisy.astype(np.float32) / 255)
    out[f"{prefix}compare"] = _h(dataclasses.asdict(c))
    tasks = ("auto",) if quick else ("auto", "sr", "denoise", "deblur", "jpeg", "lowlight", "dehaze", "derain")
    for t in tasks:
        r = m.restore(noisy.astype(np.float32) / 255, task=t, force=True, seed=1)
        out[f"{prefix}restore/{t}"] = _h(r.image, r.analysis, r.notes)
    r = m.restore(blurry.astype(np.float32) / 255)
    out[f"{prefix}restore/blind_blur"] = _h(r.image, r.analysis, r.notes)
    r = m.restore(clean.astype(np.float32) / 255)
    out[f"{prefix}restore/blind_clean"] = _h(r.image, r.analysis, r.notes)
    r = m.restore(noisy.astype(np.float32) / 255, steps=3, force=True, seed=2, cfg_text=1.5)
    out[f"{prefix}restore/steps3_cfg"] = _h(r.image, r.analysis)
    r = m.restore(clean[:40, :36].astype(np.float32) / 255, scale=4, task="sr", seed=3)
    out[f"{prefix}restore/x4"] = _h(r.image, r.analysis)
    if not quick:
        r = m.restore(np.tile(noisy, (2, 2, 1)).astype(np.float32) / 255, task="denoise", tile=128, overlap=32,
                      seed=4)
        out[f"{prefix}restore/tiled"] = _h(r.image, r.analysis)
        r = m.restore(noisy.astype(np.float32) / 255, task="denoise", assess=False, seed=5)
        out[f"{prefix}restore/plain"] = _h(r.image)
        r = m.restore(noisy.astype(np.float32) / 255, analysis="Quality analysis: noisy.", seed=5)
        out[f"{prefix}restore/given_plan"] = _h(r.image)
    return out


def model() -> dict[str, str]:
    from uare.infer.pipeline import UARE

    torch.manual_seed(0)
    return _model_outputs(UARE.from_pretrained(None), "tiny/")


def bagel() -> dict[str, str]:
    from uare.infer.pipeline import UARE
    from uare.model.config import micro
    from uare.model.random_init import init_random
    from uare.model.tokenizer import train_quality_tokenizer

    with tempfile.TemporaryDirectory() as d:
        tok = train_quality_tokenizer(vocab_size=512, seed=0)
        out = {}
        for fmt in ("bagel", "uare"):
            folder = init_random(Path(d) / fmt, micro(vocab_size=tok.vocab_size), fmt=fmt, seed=0, tokenizer=tok)
            m = UARE.from_pretrained(folder)
            out.update(_model_outputs(m, f"micro_{fmt}/", quick=True))
        return out


def cli() -> dict[str, str]:
    out = {}
    with tempfile.TemporaryDirectory() as d:
        from PIL import Image

        src = Path(d) / "in.png"
        Image.fromarray(_image(3, 80)).save(src)
        runs = {"degrade_blur": ["degrade", str(src), "-o", f"{d}/a.png", "--types", "blur", "--severity", "3",
                                 "--seed", "4", "--record", f"{d}/a.json"],
                "degrade_multi_x2": ["degrade", str(src), "-o", f"{d}/b.png", "--pipeline", "multi", "--scale", "2",
                                     "--seed", "5", "--record", f"{d}/b.json"],
                "degrade_esrgan": ["degrade", str(src), "-o", f"{d}/c.png", "--pipeline", "realesrgan",
                                   "--seed", "6", "--record", f"{d}/c.json"]}
        for name, args in runs.items():
            r = subprocess.run([sys.executable, "-m", "uare", *args, "-q"], capture_output=True, text=True, cwd=ROOT)
            outs = sorted(Path(d).glob(f"{args[3][-5]}.*"))
            out[f"cli/{name}"] = _h(r.returncode, r.stdout.replace(d, "$D"),
                                    *[p.read_bytes().replace(d.encode(), b"$D") for p in outs])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--compare", default=None)
    ap.add_argument("--parts", default=",".join(PARTS))
    a = ap.parse_args()
    torch.set_num_threads(2)
    fns = {"language": language, "degrade": degrade_part, "samples": samples, "model": model, "bagel": bagel,
           "cli": cli}
    res: dict[str, str] = {}
    for p in a.parts.split(","):
        res.update(fns[p]())
        print(f"{p}: done", file=sys.stderr)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    if a.compare:
        ref = json.loads(Path(a.compare).read_text())
        diff = sorted(k for k in set(ref) | set(res) if ref.get(k) != res.get(k) and k in res)
        for k in diff:
            print(f"CHANGED {k}: {ref.get(k)} -> {res.get(k)}")
        print(f"{len(res) - len(diff)} of {len(res)} unchanged")
        return 1 if diff else 0
    print(f"{len(res)} hashes -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
