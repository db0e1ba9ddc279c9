"""uare next to what users already run: speed (one run, ratios first) and Real-ESRGAN quality.

    python benchmarks/side_by_side.py --parts speed,large,nr,bench [--limit 4] [--crop 128] [--out results/side_by_side]

- ``speed``: on the same images, median of 3 after a warm-up (models loaded once, as a server or a
  folder run would; uare, the classical methods and Real-ESRGAN each in a fresh process): ``uare assess`` vs NIQE on a 512x512 photo; ``uare restore`` (blind,
  forced to restore) vs OpenCV non-local means on it; ``uare restore --scale 4`` vs Real-ESRGAN x4plus
  (ncnn, its CPU path) vs bicubic on a 128x128 crop. Every method gets the same thread count.
- ``large``: a 2000x1500 photo (a Kodak image enlarged) restored in a fresh process: seconds, tiles and
  peak resident memory (tiles keep it bounded: the output, a weight plane and one tile's working set).
- ``nr``: no-reference quality (NIQE, BRISQUE; lower is better) of x4 outputs on the real-world folders
  RealSRSet and RNI15 (no ground truth exists), for bicubic, Real-ESRGAN x4plus and uare (blind x4).
  Fair and affordable on 2 cores: every method sees the same centre crops (``--crop`` px).
- ``bench``: ``uare bench restore`` rows with Real-ESRGAN next to uare and the classical baselines on the
  settings where it applies and that fit the CPU budget: sr_x4, realesrgan_x4 (``--limit`` images of
  CBSD68 and Kodak24 each) and blur+noise (half as many: Real-ESRGAN is x4-only, so a 1x setting costs
  an x4 pass on the full image).

Writes side_by_side.json and side_by_side.md. Needs ``pip install ".[realesrgan]"`` and, on Debian,
libvulkan1 + libomp5 (mesa-vulkan-drivers for the CPU).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "datasets"


def _timed(fn, n: int = 3) -> float:
    fn()  # warm-up (allocations, lazy loads)
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def _rgb(path: Path) -> np.ndarray:
    from uare.eval.bench_restore import load_clean  # uint8 RGB, gray repeated, 16-bit rounded

    return load_clean(path)


def _center(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(size, h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return np.ascontiguousarray(img[y:y + s, x:x + s])


def speed_group(group: str, model_dir: str | None) -> dict[str, float]:
    """The timings of one group of methods (run in its own process by :func:`part_speed`)."""
    from uare.baselines.base import Setting

    photo = _rgb(sorted((DATA / "test" / "Kodak24").iterdir())[0])
    img512, img128 = _center(photo, 512), _center(photo, 128)
    if group == "uare":
        from uare.infer import UARE

        model = UARE.from_pretrained(model_dir)
        return {"uare assess 512": _timed(lambda: model.assess(img512)),
                "uare restore 512 (blind, forced)": _timed(lambda: model.restore(img512, seed=0, force=True)),
                "uare restore --scale 4, 128": _timed(lambda: model.restore(img128, scale=4, task="sr", seed=0))}
    if group == "classical":
        from uare.baselines.classical import bicubic_up, nlm_denoise
        from uare.metrics import niqe

        return {"NIQE 512": _timed(lambda: niqe(img512)), "OpenCV NLM 512": _timed(lambda: nlm_denoise(img512)),
                "bicubic x4, 128": _timed(lambda: bicubic_up(img128, 4))}
    if group == "realesrgan":
        from uare.baselines import RealESRGANNcnn

        esr = RealESRGANNcnn()
        x4 = Setting("sr_x4", ("sr",), 4, (), {})
        return {"Real-ESRGAN x4plus ncnn CPU, 128": _timed(lambda: esr(img128, x4))}
    raise ValueError(group)


def part_speed(model_dir: str | None) -> dict[str, Any]:
    """Each group in a fresh process, one after the other: ncnn's OpenMP threads keep spinning after a
    call and slowed torch down by ~30 % when both ran in one process, which would not be a fair race."""
    import subprocess

    import torch

    t: dict[str, float] = {}
    for group in ("uare", "classical", "realesrgan"):
        code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import side_by_side as s; "
                "print(json.dumps(s.speed_group(sys.argv[2], sys.argv[3] or None)))")
        p = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), group, model_dir or ""],
                           capture_output=True, text=True, check=True)
        t.update(json.loads(p.stdout.strip().splitlines()[-1]))
    pairs = [("uare assess 512", "NIQE 512"), ("uare restore 512 (blind, forced)", "OpenCV NLM 512"),
             ("uare restore --scale 4, 128", "Real-ESRGAN x4plus ncnn CPU, 128")]
    return {"seconds": {k: round(v, 4) for k, v in t.items()}, "threads": torch.get_num_threads(),
            "ratios": {f"{a} / {b}": round(t[a] / t[b], 2) for a, b in pairs}}


def md_speed(r: dict[str, Any]) -> str:
    lines = ["| uare / peer (lower is better for uare) | ratio | uare s | peer s |", "|---|---|---|---|"]
    for k, v in r["ratios"].items():
        a, b = k.split(" / ")
        lines.append(f"| {k} | **{v:.2f}x** | {r['seconds'][a]:.3f} | {r['seconds'][b]:.3f} |")
    lines.append(f"| bicubic x4, 128 (reference) | - | - | {r['seconds']['bicubic x4, 128']:.4f} |")
    return "\n".join(lines) + f"\n\n(median of 3 after a warm-up, models loaded, each group in its own process; {r['threads']} threads)\n"


LARGE = r"""
import resource, sys, time
import numpy as np
from PIL import Image
from uare.infer import UARE
img = np.asarray(Image.open(sys.argv[1]).convert("RGB").resize((2000, 1500), Image.BICUBIC))
m = UARE.from_pretrained(sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
r = m.restore(img, seed=0, force=True, progress=lambda s, i, n: None)
print(time.perf_counter() - t, r.tiles, base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def part_large(model_dir: str | None) -> dict[str, Any]:
    """A 2000x1500 photo restored (forced) in a fresh process: seconds, tiles, peak RSS."""
    import subprocess

    photo = sorted((DATA / "test" / "Kodak24").iterdir())[0]
    p = subprocess.run([sys.executable, "-c", LARGE, str(photo), model_dir or ""], capture_output=True, text=True,
                       check=True)
    secs, tiles, base, peak = p.stdout.split()
    return {"seconds": round(float(secs), 1), "tiles": int(tiles), "rss_after_load_mb": round(int(base) / 1024),
            "peak_rss_mb": round(int(peak) / 1024)}


def part_nr(model_dir: str | None, crop: int) -> dict[str, Any]:
    from uare.baselines import RealESRGANNcnn
    from uare.baselines.base import Setting
    from uare.baselines.classical import bicubic_up
    from uare.infer import UARE
    from uare.metrics import brisque, niqe
    from uare.progress import Progress

    model = UARE.from_pretrained(model_dir)
    esr = RealESRGANNcnn()
    x4 = Setting("sr_x4", ("sr",), 4, (), {})
    methods = {"bicubic": lambda im: bicubic_up(im, 4),
               "Real-ESRGAN x4plus": lambda im: esr(im, x4),
               "uare (blind x4)": lambda im: np.asarray(model.restore(im, scale=4, seed=0).image)}
    out: dict[str, Any] = {}
    folders = [DATA / "realworld" / "RealSRSet", DATA / "realworld" / "RNI15"]
    files = {f: sorted(p for p in f.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")) for f in folders}
    bar = Progress(sum(len(v) for v in files.values()), "side-by-side nr")
    for folder, paths in files.items():
        rows = {m: {"niqe": [], "brisque": [], "seconds": []} for m in methods}
        for p in paths:
            im = _center(_rgb(p), crop)
            for m, fn in methods.items():
                t = time.perf_counter()
                y = fn(im)
                rows[m]["seconds"].append(time.perf_counter() - t)
                rows[m]["niqe"].append(float(niqe(y)))
                rows[m]["brisque"].append(float(brisque(y)))
            bar.update(item=f"{folder.name}/{p.name}")
        out[folder.name] = {m: {k: float(np.mean(v)) for k, v in r.items()} | {"n": len(paths)} for m, r in rows.items()}
    bar.close()
    return {"crop": crop, "folders": out}


def md_nr(r: dict[str, Any]) -> str:
    lines = ["| folder | method | NIQE↓ | BRISQUE↓ | s/img |", "|---|---|---|---|---|"]
    for f, ms in r["folders"].items():
        for m, v in ms.items():
            lines.append(f"| {f} ({v['n']}) | {m} | {v['niqe']:.2f} | {v['brisque']:.2f} | {v['seconds']:.2f} |")
    return "\n".join(lines) + f"\n\n(centre crops of {r['crop']}x{r['crop']} px, x4 outputs)\n"


def part_bench(model_dir: str | None, limit: int, out: Path) -> dict[str, Any]:
    from uare.eval.bench import run_bench_restore

    model = model_dir or str(REPO / "uare" / "weights" / "uare-tiny")
    big = run_bench_restore(None, model, ["realesrgan", "ibp"], "sr_x4,realesrgan_x4",
                            "psnr,ssim,niqe", limit, 0, "cpu", out / "bench_x4")
    mixed = run_bench_restore(None, model, ["realesrgan", "nlm", "wiener"], "blur+noise",
                              "psnr,ssim,niqe", max(1, limit // 2), 0, "cpu", out / "bench_mixed")
    return {"x4": {"summary": big["summary"], "markdown": big["markdown"]},
            "mixed": {"summary": mixed["summary"], "markdown": mixed["markdown"]}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="speed,nr,bench")
    ap.add_argument("--model", default=None, help="model folder (default: the shipped uare-tiny)")
    ap.add_argument("--limit", type=int, default=4)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--out", type=Path, default=Path("results/side_by_side"))
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {}
    md = []
    for part in a.parts.split(","):
        t = time.perf_counter()
        if part == "speed":
            res[part] = part_speed(a.model)
            md.append("### Speed, side by side\n\n" + md_speed(res[part]))
        elif part == "large":
            res[part] = part_large(a.model)
            r = res[part]
            md.append(f"### A 2000x1500 photo\n\n`restore --force`: {r['seconds']} s, {r['tiles']} tiles, peak RSS "
                      f"{r['peak_rss_mb']} MB ({r['rss_after_load_mb']} MB after loading the model)\n")
        elif part == "nr":
            res[part] = part_nr(a.model, a.crop)
            md.append("### No-reference quality on real-world photos (x4)\n\n" + md_nr(res[part]))
        elif part == "bench":
            res[part] = part_bench(a.model, a.limit, a.out)
            md.append("### Real-ESRGAN in `uare bench restore`\n\n" + res[part]["x4"]["markdown"] + "\n"
                      + res[part]["mixed"]["markdown"])
        else:
            raise SystemExit(f"unknown part {part!r}")
        print(f"side_by_side: {part} in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
        # after every part: a failure later loses nothing measured
        (a.out / "side_by_side.json").write_text(json.dumps(res, indent=2))
        (a.out / "side_by_side.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
