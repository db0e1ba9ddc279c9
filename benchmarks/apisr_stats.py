"""Statistics of the APISR pipeline's parameters against its published ranges, codec availability, speed.

Draws 1,000 parameter sets (:func:`uare.degrade.apisr.draw_params`, seed 0, a 256² image at x4, the
codecs this installation has) and writes, per parameter, min / mean / max beside APISR's published
range, and per choice the observed share beside the published probability; then which codecs are
available (and through which library), and the median time of the whole pipeline per image on a
256² and a 512² photo (one draw per seed).

    python benchmarks/apisr_stats.py [--draws 1000] [--timed 40] [--out benchmarks/results/apisr_stats]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from skimage import data

from uare.degrade import codecs
from uare.degrade.apisr import APISRConfig, apisr, draw_params

OUT = Path(__file__).resolve().parent / "results" / "apisr_stats"


def _ranges(cfg: APISRConfig, steps: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """min / mean / max of every drawn number beside its published range."""

    def pick(stage: int, ops: tuple[str, ...], key: str, cond=lambda p: True) -> list[float]:
        return [p[key] for op, p in steps if op in ops and p["stage"] == stage and key in p and cond(p)]

    mixed = lambda p: p["kernel"] != "sinc"  # noqa: E731
    rows = [
        ("blur 1 sigma_x", pick(1, ("blur",), "sigma_x", mixed), cfg.blur_sigma),
        ("blur 1 sinc omega_c", pick(1, ("blur",), "omega_c"), (math.pi / 5, math.pi)),
        ("blur 1 size", pick(1, ("blur",), "size"), cfg.kernel_range),
        ("blur 2 sigma_x", pick(2, ("blur",), "sigma_x", mixed), cfg.blur_sigma2),
        ("blur 2 sinc omega_c", pick(2, ("blur",), "omega_c"), (math.pi / 5, math.pi)),
        ("generalized beta (both)", pick(1, ("blur",), "beta", lambda p: p["kernel"].startswith("gen"))
         + pick(2, ("blur",), "beta", lambda p: p["kernel"].startswith("gen")), cfg.betag_range),
        ("plateau beta (both)", pick(1, ("blur",), "beta", lambda p: p["kernel"].startswith("plat"))
         + pick(2, ("blur",), "beta", lambda p: p["kernel"].startswith("plat")), cfg.betap_range),
        ("resize 1 up ratio", pick(1, ("resize",), "ratio", lambda p: p["updown"] == "up"), (1.0, cfg.resize_range[1])),
        ("resize 1 down ratio", pick(1, ("resize",), "ratio", lambda p: p["updown"] == "down"), (cfg.resize_range[0], 1.0)),
        ("resize 2 up ratio", pick(2, ("resize",), "ratio", lambda p: p["updown"] == "up"), (1.0, cfg.resize_range2[1])),
        ("resize 2 down ratio", pick(2, ("resize",), "ratio", lambda p: p["updown"] == "down"), (cfg.resize_range2[0], 1.0)),
        ("noise 1 Gaussian sigma", pick(1, ("gaussian_noise",), "sigma"), cfg.noise_range),
        ("noise 1 Poisson scale", pick(1, ("poisson_noise",), "scale"), cfg.poisson_scale_range),
        ("noise 2 Gaussian sigma", pick(2, ("gaussian_noise",), "sigma"), cfg.noise_range2),
        ("noise 2 Poisson scale", pick(2, ("poisson_noise",), "scale"), cfg.poisson_scale_range2),
        ("codec 1 JPEG quality", pick(1, ("jpeg",), "quality"), cfg.jpeg_quality_range1),
        ("codec 1 WebP quality", pick(1, ("webp",), "quality"), cfg.webp_quality_range1),
        ("codec 1 WebP method", pick(1, ("webp",), "method"), cfg.webp_encode_speed1),
        ("codec 2 JPEG quality", pick(2, ("jpeg",), "quality"), cfg.jpeg_quality_range2),
        ("codec 2 WebP quality", pick(2, ("webp",), "quality"), cfg.webp_quality_range2),
        ("codec 2 WebP method", pick(2, ("webp",), "method"), cfg.webp_encode_speed2),
        ("codec 2 AVIF quality", pick(2, ("avif",), "quality"), cfg.avif_quality_range2),
        ("codec 2 AVIF method (unused)", pick(2, ("avif",), "method"), cfg.avif_encode_speed2),
        ("codec 2 MPEG-2 qscale", pick(2, ("mpeg2",), "qscale"), cfg.mpeg2_quality2),
        ("codec 2 MPEG-4 qscale", pick(2, ("mpeg4",), "qscale"), cfg.mpeg4_quality2),
        ("codec 2 H.264 CRF", pick(2, ("h264",), "crf"), cfg.h264_crf_range2),
        ("codec 2 H.265 CRF", pick(2, ("h265",), "crf"), cfg.h265_crf_range2),
    ]
    out = []
    for name, vals, (lo, hi) in rows:
        v = np.asarray(vals, dtype=np.float64)
        inside = bool(v.size and lo - 1e-12 <= v.min() and v.max() <= hi + 1e-12)
        out.append({"parameter": name, "n": int(v.size), "min": float(v.min()) if v.size else None,
                    "mean": float(v.mean()) if v.size else None, "max": float(v.max()) if v.size else None,
                    "published": [float(lo), float(hi)], "inside": inside})
    return out


def _choices(cfg: APISRConfig, plans: list[list[tuple[str, dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Observed share of every categorical draw beside its published probability."""
    rows: list[dict[str, Any]] = []
    steps = [(op, p) for plan in plans for op, p in plan]

    def add(name: str, counts: Counter, total: int, published: dict[Any, float]) -> None:
        for value, p in published.items():
            obs = counts[value] / total if total else 0.0
            sd = math.sqrt(p * (1 - p) / total) if total else 0.0
            rows.append({"choice": name, "value": str(value), "n": total, "observed": round(obs, 4), "published": p,
                         "z": round((obs - p) / sd, 2) if sd else 0.0})

    for stage, kp in ((1, cfg.kernel_prob), (2, cfg.kernel_prob2)):
        ks = [p for op, p in steps if op == "blur" and p["stage"] == stage]
        sinc = cfg.sinc_prob if stage == 1 else cfg.sinc_prob2
        add(f"blur {stage} sinc", Counter("sinc" if k["kernel"] == "sinc" else "other" for k in ks), len(ks),
            {"sinc": sinc})
        mixed = [k for k in ks if k["kernel"] != "sinc"]
        add(f"blur {stage} kernel (non-sinc)", Counter(k["kernel"] for k in mixed), len(mixed),
            dict(zip(cfg.kernel_list, kp, strict=True)))
    add("second blur applied", Counter(any(op == "blur" and p["stage"] == 2 for op, p in plan) for plan in plans),
        len(plans), {True: cfg.second_blur_prob})
    for stage, probs in ((1, cfg.resize_prob), (2, cfg.resize_prob2)):
        rs = [p for op, p in steps if op == "resize" and p["stage"] == stage]
        add(f"resize {stage} up/down/keep", Counter(r["updown"] for r in rs), len(rs),
            dict(zip(("up", "down", "keep"), probs, strict=True)))
        add(f"resize {stage} position", Counter(r["position"] for r in rs), len(rs), {0: 1 / 3, 1: 1 / 3, 2: 1 / 3})
        for row, label in zip(rows[-3:], ("0 (before blur)", "1 (after blur)", "2 (after noise)"), strict=True):
            row["value"] = label
        add(f"resize {stage} mode", Counter(r["mode"] for r in rs), len(rs),
            {m: 1 / len(cfg.resize_options) for m in cfg.resize_options})
    finals = [p for op, p in steps if op == "resize" and p["stage"] == 3]
    add("final resize mode", Counter(r["mode"] for r in finals), len(finals),
        {m: 1 / len(cfg.resize_options) for m in cfg.resize_options})
    for stage, gp, gray in ((1, cfg.gaussian_noise_prob, cfg.gray_noise_prob),
                            (2, cfg.gaussian_noise_prob2, cfg.gray_noise_prob2)):
        ns = [(op, p) for op, p in steps if op.endswith("_noise") and p["stage"] == stage]
        add(f"noise {stage} type", Counter(op for op, _ in ns), len(ns), {"gaussian_noise": gp, "poisson_noise": 1 - gp})
        add(f"noise {stage} gray", Counter(p["gray"] for _, p in ns), len(ns), {True: gray})
    for stage, names, probs in ((1, cfg.compression_codec1, cfg.compression_codec_prob1),
                                (2, cfg.compression_codec2, cfg.compression_codec_prob2)):
        cs = [op for op, p in steps if op in codecs.CODECS and p["stage"] == stage]
        add(f"codec {stage}", Counter(cs), len(cs), dict(zip(names, probs, strict=True)))
    vp = [p["preset"] for op, p in steps if op in codecs.VIDEO_CODECS]
    add("video preset (all four codecs)", Counter(vp), len(vp), dict(zip(cfg.preset_mode2, cfg.preset_prob2, strict=True)))
    return rows


def _timing(sizes: tuple[int, ...], timed: int) -> list[dict[str, Any]]:
    photo = data.astronaut()
    rows = []
    for size in sizes:
        img = cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA)
        apisr(img, 4, 10_000)  # warm the codecs up
        times: list[float] = []
        per_codec: dict[str, list[float]] = {}
        for seed in range(timed):
            t = time.perf_counter()
            _, rec = apisr(img, 4, seed)
            dt = time.perf_counter() - t
            times.append(dt)
            per_codec.setdefault(rec.steps[-1].op, []).append(dt)
        rows.append({"size": size, "draws": timed, "median_ms": round(1e3 * float(np.median(times)), 1),
                     "p90_ms": round(1e3 * float(np.percentile(times, 90)), 1),
                     "median_ms_by_second_codec": {c: round(1e3 * float(np.median(v)), 1)
                                                   for c, v in sorted(per_codec.items())}})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--timed", type=int, default=40, help="timed pipeline runs per image size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)

    cfg = APISRConfig()
    rng = np.random.default_rng(args.seed)
    t = time.perf_counter()
    plans = [draw_params(rng, (256, 256), 4, cfg) for _ in range(args.draws)]
    draw_ms = 1e3 * (time.perf_counter() - t) / args.draws
    steps = [(op, p) for plan in plans for op, p in plan]
    status = codecs.codec_status()
    summary = {
        "command": "python benchmarks/apisr_stats.py",
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "draws": args.draws, "seed": args.seed, "draw_ms": round(draw_ms, 3),
        "ranges": _ranges(cfg, steps),
        "choices": _choices(cfg, plans),
        "codecs": {c: {"available": why is None, "why_not": why,
                       "library": codecs.library(c) if why is None else None} for c, why in status.items()},
        "timing": _timing((256, 512), args.timed),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (args.out / "summary.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


def _fmt(v: float | None) -> str:
    return "-" if v is None else (f"{v:.0f}" if float(v).is_integer() else f"{v:.3f}")


def markdown(s: dict[str, Any]) -> str:
    """The summary as Markdown tables."""
    lines = [f"{s['draws']} parameter draws (seed {s['seed']}, 256² at x4; {s['draw_ms']} ms per draw).", "",
             "| parameter | n | min | mean | max | published | inside |", "|---|---|---|---|---|---|---|"]
    for r in s["ranges"]:
        lo, hi = r["published"]
        lines.append(f"| {r['parameter']} | {r['n']} | {_fmt(r['min'])} | {_fmt(r['mean'])} | {_fmt(r['max'])} | "
                     f"[{_fmt(lo)}, {_fmt(hi)}] | {'yes' if r['inside'] else 'NO'} |")
    lines += ["", "| choice | value | n | observed | published | z |", "|---|---|---|---|---|---|"]
    for r in s["choices"]:
        lines.append(f"| {r['choice']} | {r['value']} | {r['n']} | {r['observed']:.3f} | {r['published']:.3f} | "
                     f"{r['z']:+.2f} |")
    lines += ["", "| codec | available | library / why not |", "|---|---|---|"]
    for c, r in s["codecs"].items():
        lines.append(f"| {c} | {'yes' if r['available'] else 'no'} | {r['library'] or r['why_not']} |")
    lines += ["", "| image | runs | median (ms) | p90 (ms) | median by second codec (ms) |", "|---|---|---|---|---|"]
    for r in s["timing"]:
        by = ", ".join(f"{c} {v}" for c, v in r["median_ms_by_second_codec"].items())
        lines.append(f"| {r['size']}² | {r['draws']} | {r['median_ms']} | {r['p90_ms']} | {by} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
