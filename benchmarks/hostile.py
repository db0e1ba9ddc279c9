"""Every hostile case of issue #13, through the real CLI: exit code, the message and seconds.

    python benchmarks/hostile.py [--out results/hostile]

Builds each input in a scratch folder (nothing of the repository is touched), runs ``uare ...`` in a
subprocess and records the exit code, the first line of stderr and the wall time (memory is bounded by the fuzz
harness's address-space limit, benchmarks/fuzz.py). A row passes when the exit code is the expected one, a refusal is exactly one
``uare: error:`` line, and nothing the row protects was changed or written. Writes hostile.json and
hostile.md (the table in benchmarks/RESULTS.md). Model rows use a random micro model (the checks are
the same for any model; the shipped one only makes them slower).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


def _png(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr).save(path)
    return path


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Case:
    name: str
    args: list[str]
    expect: int | tuple[int, ...] = 2
    check: Callable[[], str | None] | None = None  # extra check after the run: None = fine, else why not
    stdin_tty: bool = False
    result: dict = field(default_factory=dict)


def build(d: Path) -> list[Case]:
    """The inputs, in ``d``; returns the cases in the issue's order."""
    from uare.model.config import micro
    from uare.model.random_init import init_random
    from uare.model.tokenizer import train_quality_tokenizer

    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    good = _png(d / "good.png", photo)

    # corrupt multi-page TIFF: a 2-page TIFF whose second IFD is cut off
    buf = io.BytesIO()
    frames = [Image.fromarray(photo), Image.fromarray(photo[::-1])]
    frames[0].save(buf, format="TIFF", save_all=True, append_images=frames[1:])
    tif = d / "pages.tif"
    tif.write_bytes(buf.getvalue()[: len(buf.getvalue()) - 40])
    # palette PNG without a palette chunk
    raw = b"".join(b"\x00" + bytes(16) for _ in range(16))
    (d / "nopalette.png").write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 3, 0, 0, 0))
                                      + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))
    # a valid 20 x 70,000 PNG, and a valid 16 x 100,000 one
    _png(d / "tall.png", np.full((70_000, 20, 3), 128, np.uint8))
    _png(d / "strip.png", np.full((16, 100_000), 90, np.uint8))
    _png(d / "big.png", rng.integers(0, 256, (3000, 1294, 3), dtype=np.uint8))
    # a 3.4 KB JPEG claiming 39 MP, a GIF claiming 65,535 x 600
    jb = io.BytesIO()
    Image.fromarray(photo).save(jb, format="JPEG")
    j = bytearray(jb.getvalue())
    sof = j.find(b"\xff\xc0")
    j[sof + 5:sof + 9] = struct.pack(">HH", 6_000, 6_500)
    (d / "claims39mp.jpg").write_bytes(bytes(j))
    gb = io.BytesIO()
    Image.fromarray(photo).convert("P").save(gb, format="GIF")
    g = bytearray(gb.getvalue())
    g[6:10] = struct.pack("<HH", 65_535, 600)
    (d / "claims_wide.gif").write_bytes(bytes(g))
    # a progressive JPEG whose smallest scan is repeated 20,000 times (a CPU bomb: 52 s before the guard)
    ramp = np.linspace(0, 255, 2048, dtype=np.float32)
    grad = np.stack([np.add.outer(ramp, ramp) / 2] * 3, -1).astype(np.uint8)
    pb = io.BytesIO()
    Image.fromarray(grad).save(pb, format="JPEG", progressive=True)
    p = pb.getvalue()
    sos = [i for i in range(len(p) - 1) if p[i:i + 2] == b"\xff\xda"] + [len(p) - 2]
    k = min(range(1, len(sos) - 1), key=lambda i: sos[i + 1] - sos[i])
    (d / "scans.jpg").write_bytes(p[:sos[k + 1]] + p[sos[k]:sos[k + 1]] * 20_000 + p[sos[k + 1]:])

    tok = train_quality_tokenizer(vocab_size=600, n_samples=1500, seed=0)
    model = init_random(d / "micro", micro(vocab_size=tok.vocab_size), seed=0, tokenizer=tok)
    (model / "inference.json").write_text(json.dumps({"steps": 1, "max_analysis_tokens": 8}))
    typed = d / "typed"
    shutil.copytree(model, typed)
    (typed / "inference.json").write_text('{"steps": "many"}')
    nan = d / "nan"
    shutil.copytree(model, nan)
    from safetensors.torch import load_file, save_file

    sd = load_file(nan / "model.safetensors")
    first = sorted(sd)[0]
    sd[first] = sd[first].clone().fill_(float("nan"))
    save_file(sd, nan / "model.safetensors", metadata={"format": "pt"})

    # training configs
    base = Path(__file__).resolve().parents[1] / "configs" / "tiny" / "stage2.yaml"
    cfg_threads = d / "threads.yaml"
    cfg_threads.write_text(base.read_text())
    cfg_crop = d / "crop.yaml"
    cfg_crop.write_text(base.read_text())

    # folders
    same = d / "same.png"
    shutil.copy(good, same)
    same_sha = _sha(same)
    coll = d / "collide"
    coll.mkdir()
    _png(coll / "x.png", photo)
    Image.fromarray(photo).save(coll / "x.jpg", quality=95)
    _png(coll / "y.png", photo)
    Image.fromarray(photo).convert("P").save(coll / "z.gif")
    mix = d / "mix"
    mix.mkdir()
    _png(mix / "a.png", photo)
    Image.fromarray(photo).convert("P").save(mix / "b.gif")
    (mix / "notes.txt").write_text("not an image")

    m = ["--model", str(model)]
    good_sha = _sha(good)
    unchanged = lambda: None if _sha(same) == same_sha else "the input file changed"  # noqa: E731
    unchanged_good = lambda: None if _sha(good) == good_sha else "the input file changed"  # noqa: E731
    out = d / "out"
    out.mkdir()
    return [
        Case("corrupt multi-page TIFF (second page cut off)", ["assess", str(tif), *m], expect=(0, 2)),
        Case("palette PNG without a palette chunk", ["assess", str(d / "nopalette.png"), *m]),
        Case("JPEG degradation of a valid 20x70000 PNG", ["degrade", str(d / "tall.png"), "-o", str(out / "t.png"),
                                                          "--types", "jpeg"]),
        Case("--tile -16", ["restore", str(good), "-o", str(out / "a.png"), "--tile", "-16", *m]),
        Case("--overlap -5", ["restore", str(good), "-o", str(out / "a.png"), "--overlap", "-5", *m]),
        Case("--seed 2**70", ["restore", str(good), "-o", str(out / "a.png"), "--seed", str(2**70), *m]),
        Case("--device foo", ["restore", str(good), "-o", str(out / "a.png"), "--device", "foo", *m]),
        Case("--steps 100000", ["restore", str(good), "-o", str(out / "a.png"), "--steps", "100000", *m]),
        Case("--cfg-text nan", ["restore", str(good), "-o", str(out / "a.png"), "--cfg-text", "nan", *m]),
        Case("--max-pixels 0", ["assess", str(good), "--max-pixels", "0", *m]),
        Case("--threads 0", ["assess", str(good), "--threads", "0", *m]),
        Case('inference.json {"steps": "many"}', ["assess", str(good), "--model", str(typed)]),
        Case("model with NaN weights", ["assess", str(good), "--model", str(nan)]),
        Case("training threads: -3 (--dry-run)", ["train", str(cfg_threads), "--dry-run", "--set", "train.threads=-3"]),
        Case("training crop [64, 48] (--dry-run)", ["train", str(cfg_crop), "--dry-run",
                                                    "--set", "data.sources.0.crop=[64, 48]"]),
        Case("3.4 KB JPEG claiming 39 MP", ["assess", str(d / "claims39mp.jpg"), *m]),
        Case("GIF claiming 65,535 px wide", ["assess", str(d / "claims_wide.gif"), *m]),
        Case("progressive JPEG, one scan x 20,000 (345 KB, 4 MP)", ["assess", str(d / "scans.jpg"), *m]),
        Case("haze on a valid 1294x3000 image", ["degrade", str(d / "big.png"), "-o", str(out / "h.png"),
                                                 "--types", "haze"], expect=0),
        Case("haze on a valid 16x100000 PNG", ["degrade", str(d / "strip.png"), "-o", str(out / "s.png"),
                                               "--types", "haze"], expect=0),
        Case("restore -o SAME_AS_INPUT --overwrite", ["restore", str(same), "-o", str(same), "--overwrite", *m],
             check=unchanged),
        Case("restore DIR --sidecar with x.jpg and x.png", ["restore", str(coll), "-o", str(d / "coll_out"),
                                                            "--sidecar", *m],
             check=lambda: None if not (d / "coll_out").exists() or not any((d / "coll_out").iterdir())
             else "outputs written before the refusal"),
        Case("output under a path that cannot be a folder", ["restore", str(good), "-o", str(good / "sub" / "a.png"),
                                                             *m], check=unchanged_good),
        Case("folder with a .gif and a .txt (reported, the rest processed)", ["assess", str(mix), *m], expect=0,
             check=lambda: None),
    ]


def run(case: Case, cwd: Path, timeout: float) -> None:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "uare", *case.args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        case.result = {"rc": "timeout", "message": "", "ok": False}
        return
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("uare") and ": error: " in ln.split("'")[0]]  # ours or argparse's
    notes = [ln for ln in lines if ln.startswith("uare: note:")]
    msg = (errors or notes or lines or out.strip().splitlines() or [""])[0]
    expect = case.expect if isinstance(case.expect, tuple) else (case.expect,)
    ok = proc.returncode in expect and "Traceback" not in err
    if proc.returncode == 2:
        ok = ok and len(errors) == 1
    why = case.check() if case.check else None
    case.result = {"rc": proc.returncode, "message": msg[:300], "seconds": round(time.perf_counter() - t0, 2),
                   "ok": ok and why is None, "why": why}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("results/hostile"))
    ap.add_argument("--timeout", type=float, default=120.0)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="uare-hostile-") as tmp:
        d = Path(tmp)
        cases = build(d)
        for c in cases:
            run(c, d, a.timeout)
            print(f"{'ok  ' if c.result['ok'] else 'FAIL'} {c.name}: rc {c.result['rc']} "
                  f"{c.result.get('seconds', '')} s  {c.result['message'][:120]}", file=sys.stderr, flush=True)
        rows = [{"case": c.name, "command": "uare " + " ".join(x.replace(tmp, "$D") for x in c.args),
                 **{k: (v.replace(tmp, "$D") if isinstance(v, str) else v) for k, v in c.result.items()}}
                for c in cases]
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "hostile.json").write_text(json.dumps(rows, indent=2))
    md = ["| case | exit | s | message (first line of stderr; `$D` the scratch folder) | pass |", "|---|---|---|---|---|"]
    for r in rows:
        msg = r["message"].replace("|", "\\|")
        md.append(f"| {r['case']} | {r['rc']} | {r.get('seconds', '')} | {msg} | {'yes' if r['ok'] else 'NO: ' + str(r.get('why'))} |")
    (a.out / "hostile.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
