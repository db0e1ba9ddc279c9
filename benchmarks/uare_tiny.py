"""uare-tiny against the step-6 targets, and the paper's claims as an ablation, in one reproducible run.

    python benchmarks/uare_tiny.py --parts restore,iqa,speed --limit 8            # the shipped model
    python benchmarks/uare_tiny.py --parts ablation_restore,ablation_iqa --limit 4 \\
        --stage1 runs/tiny/stage1/final --mixed runs/tiny/stage1_mixed/final \\
        --iqa-only runs/tiny/stage2_iqa_only/final

Parts:
- ``restore``: ``uare bench restore`` on the first ``--limit`` images of CBSD68 and Kodak24 (held out),
  all ten settings, every classical baseline and the model (assess-then-restore, the default);
  PSNR/SSIM/NIQE/colour shift, then the target table (gain over the input, best classical, NIQE,
  colour shift).
- ``iqa``: ``uare bench iqa`` with NIQE, BRISQUE and the model on the synthetic set of the same
  images, TID2013's calibration pairs, degradation-type identification and pairwise comparison.
- ``clean``: the default restore of the clean test images (do no harm), and with the gate off: PSNR
  against the input, colour shift, tile seams.
- ``speed``: assess and restore of a 512x512 Kodak crop in a fresh process, median of 3.
- ``ablation_restore``: (a) assess-then-restore vs the same model with a plain instruction vs the
  stage-1 model; (b) stage 1 with the curriculum vs stage 1 with everything mixed from step 0.
- ``ablation_iqa``: (c) the unified model vs the same model trained on IQA alone.

Prints one JSON object and Markdown tables; writes them under ``--out``. With ``--docs`` each part's
result is also recorded in ``benchmarks/results/uare_tiny_release2.json`` (the published numbers, in git)
and the tables of ``benchmarks/RESULTS.md`` and of the model card are rendered from that file, between
their ``<!-- generated:uare_tiny_release2 -->`` markers; ``python benchmarks/model_card.py --check`` says
whether the documents still match it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the uare of this checkout, whatever an editable install points at
DATA = ROOT.parent / "shared" / "datasets" / "test"
FOLDERS = [DATA / "CBSD68", DATA / "Kodak24"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pooled(summary: dict[str, Any], setting: str, method: str, metric: str) -> float:
    """Image-weighted mean of ``metric`` over the datasets."""
    num = den = 0.0
    for ds in summary.values():
        cell = ds.get(setting, {}).get(method)
        if cell and metric in cell and cell["n"]:
            num += cell[metric] * cell["n"]
            den += cell["n"]
    return num / den if den else float("nan")


def restore_bench(restorers: dict[str, Any], limit: int, out: Path, metrics: list[str]) -> dict[str, Any]:
    from uare.eval import bench_restore as br
    from uare.eval.settings import get_settings

    res = br.run_bench(FOLDERS, get_settings("all"), restorers, metrics, out, limit=limit, log=log)
    br.write_reports(res, out, metrics, {"limit": limit, "methods": ["input", *restorers]})
    return res.summary


def part_restore(model: str, limit: int, out: Path) -> dict[str, Any]:
    """The model in its default blind mode ("uare": task auto, assess then restore) and with the task
    named ("uare-named": the setting's task when it has one), next to every classical baseline."""
    from uare.baselines import UARERestorer
    from uare.eval import bench_restore as br
    from uare.eval.settings import get_settings

    blind = UARERestorer(model, task="auto")
    chosen, _ = br.select_restorers(["all"], blind)
    chosen["uare-named"] = UARERestorer(model, name="uare-named", model=blind._get())
    classical = [m for m in chosen if not m.startswith("uare")]
    summary = restore_bench(chosen, limit, out / "restore", ["psnr", "ssim", "niqe", "color_shift"])
    rows = []
    for bs in get_settings("all"):
        s = bs.name
        inp, ours = pooled(summary, s, "input", "psnr"), pooled(summary, s, "uare", "psnr")
        named = pooled(summary, s, "uare-named", "psnr")
        cands = {m: pooled(summary, s, m, "psnr") for m in classical}
        cands = {m: v for m, v in cands.items() if not np.isnan(v)}
        best = max(cands, key=cands.get) if cands else "-"
        rows.append({"setting": s, "input_psnr": inp, "best_classical": best, "named_psnr": named,
                     "best_classical_psnr": cands.get(best, float("nan")), "uare_psnr": ours, "gain": ours - inp,
                     "uare_ssim": pooled(summary, s, "uare", "ssim"), "input_ssim": pooled(summary, s, "input", "ssim"),
                     "input_niqe": pooled(summary, s, "input", "niqe"), "uare_niqe": pooled(summary, s, "uare", "niqe"),
                     "input_color_shift": pooled(summary, s, "input", "color_shift"),
                     "uare_color_shift": pooled(summary, s, "uare", "color_shift"),
                     "uare_seconds": pooled(summary, s, "uare", "seconds")})
    gains = [r["gain"] for r in rows]
    beats = sum(r["uare_psnr"] > r["best_classical_psnr"] or np.isnan(r["best_classical_psnr"]) for r in rows)
    niqe_better = sum(r["uare_niqe"] < r["input_niqe"] for r in rows)
    return {"rows": rows, "mean_gain_db": float(np.mean(gains)), "beats_best_classical": int(beats),
            "below_input": int(sum(g < 0 for g in gains)),
            "mean_gain_named_db": float(np.mean([r["named_psnr"] - r["input_psnr"] for r in rows])),
            "max_blind_vs_named_db": float(max(abs(r["uare_psnr"] - r["named_psnr"]) for r in rows)),
            "niqe_better_than_input": int(niqe_better), "max_color_shift": float(max(r["uare_color_shift"] for r in rows)),
            "images_per_setting": 2 * limit}


def md_restore(r: dict[str, Any]) -> str:
    lines = ["| setting | input PSNR | best classical | uare PSNR (blind) | gain dB | uare PSNR (task named) | "
             "SSIM in -> out | NIQE in -> out | colour shift in -> out | s/img |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for x in r["rows"]:
        lines.append(f"| {x['setting']} | {x['input_psnr']:.2f} | {x['best_classical']} {x['best_classical_psnr']:.2f} | "
                     f"{x['uare_psnr']:.2f} | {x['gain']:+.2f} | {x['named_psnr']:.2f} | "
                     f"{x['input_ssim']:.3f} -> {x['uare_ssim']:.3f} | "
                     f"{x['input_niqe']:.2f} -> {x['uare_niqe']:.2f} | {x['input_color_shift']:.2f} -> "
                     f"{x['uare_color_shift']:.2f} | {x['uare_seconds']:.1f} |")
    lines.append(f"\nblind (default): mean gain {r['mean_gain_db']:+.2f} dB, {r['below_input']}/10 settings below the "
                 f"input; task named: mean gain {r['mean_gain_named_db']:+.2f} dB; largest blind-vs-named gap "
                 f"{r['max_blind_vs_named_db']:.2f} dB")
    lines.append(f"mean gain {r['mean_gain_db']:+.2f} dB; beats the best classical on {r['beats_best_classical']}/10; "
                 f"NIQE better than the input on {r['niqe_better_than_input']}/10; largest colour shift "
                 f"{r['max_color_shift']:.2f} ({r['images_per_setting']} images per setting)")
    return "\n".join(lines) + "\n"


def part_clean(model: str, limit: int) -> dict[str, Any]:
    """Do no harm: the default restore of the clean test images (PSNR against the input, colour shift,
    how many came back unchanged) and, with the do-no-harm gate off (``force``), the same plus the
    tile-seam measures of the tiled outputs (uare.infer.tiling: edge gradient ratio, tile disagreement)."""
    from uare.eval.bench_restore import load_clean
    from uare.eval.metricset import color_shift
    from uare.infer import UARE
    from uare.infer.tiling import seam_ratio, windows
    from uare.metrics import psnr

    m = UARE.from_pretrained(model)
    d = m.defaults
    rows = []
    for folder in FOLDERS:
        for p in sorted(folder.iterdir())[:limit]:
            img = load_clean(p)
            r = m.restore(img, seed=0)
            f = m.restore(img, seed=0, force=True)
            h, w = img.shape[:2]
            tile = d.tile if max(h, w) > d.max_untiled_side else 0
            seams = seam_ratio(f.image, windows(h, w, tile, min(d.overlap, tile - 16))) if tile else {}
            rows.append({"image": f"{folder.name}/{p.stem}", "psnr": float(psnr(r.image, img)),
                         "unchanged": bool(np.array_equal(r.image, img)), "level": r.assessment_before.level,
                         "color_shift": float(color_shift(r.image, img)), "forced_psnr": float(psnr(f.image, img)),
                         "forced_color_shift": float(color_shift(f.image, img)),
                         "seam_edge_ratio": seams.get("edge", float("nan")),
                         "tile_disagreement": f.tile_disagreement})
    fin = [x["psnr"] for x in rows]
    return {"rows": rows, "n": len(rows), "unchanged": int(sum(x["unchanged"] for x in rows)),
            "min_psnr": float(min(fin)), "median_psnr": float(np.median(fin)),
            "mean_color_shift": float(np.mean([x["color_shift"] for x in rows])),
            "forced_median_psnr": float(np.median([x["forced_psnr"] for x in rows])),
            "forced_min_psnr": float(min(x["forced_psnr"] for x in rows)),
            "forced_mean_color_shift": float(np.mean([x["forced_color_shift"] for x in rows])),
            "seam_edge_ratio": float(np.nanmean([x["seam_edge_ratio"] for x in rows])),
            "tile_disagreement": float(np.mean([x["tile_disagreement"] or 0.0 for x in rows]))}


def md_clean(r: dict[str, Any]) -> str:
    return (f"| clean test images | default (blind) | forced (gate off) |\n|---|---|---|\n"
            f"| returned unchanged | {r['unchanged']}/{r['n']} | - |\n"
            f"| PSNR vs input, median / min | {r['median_psnr']:.2f} / {r['min_psnr']:.2f} | "
            f"{r['forced_median_psnr']:.2f} / {r['forced_min_psnr']:.2f} |\n"
            f"| colour shift vs input (mean) | {r['mean_color_shift']:.2f} | {r['forced_mean_color_shift']:.2f} |\n"
            f"| seam edge-gradient ratio (1 = none) | - | {r['seam_edge_ratio']:.3f} |\n"
            f"| tile disagreement (8-bit levels) | - | {r['tile_disagreement']:.2f} |\n")


def md_iqa(r: dict[str, Any]) -> str:
    """The tables of ``uare bench iqa`` (and the model's own checks) from the part's JSON."""
    from uare.eval import iqa_tasks
    from uare.eval.bench_iqa import markdown_tables

    md = markdown_tables(r["summary"], r["per_type_srcc"])
    return md + "\n" + iqa_tasks.markdown_summaries(r["tasks"]) if r["tasks"] else md


def part_iqa(model: str, limit: int, out: Path, scorers: list[str]) -> dict[str, Any]:
    from uare.eval.bench import run_bench_iqa

    r = run_bench_iqa(scorers, model, [str(f) for f in FOLDERS], limit, out=out)
    return {"summary": r["summary"], "per_type_srcc": r["per_type_srcc"], "tasks": r["tasks"],
            "markdown": r["markdown"]}


SPEED = """
import json, sys, time
import numpy as np
from uare.infer import UARE
from PIL import Image
m = UARE.from_pretrained(sys.argv[1])
img = np.asarray(Image.open(sys.argv[2]).convert("RGB"))
h, w = img.shape[:2]
img = np.ascontiguousarray(img[(h - 512) // 2:(h - 512) // 2 + 512, (w - 512) // 2:(w - 512) // 2 + 512])
m.assess(img[:64, :64])  # warm-up
out = {}
for name, fn in (("assess", lambda: m.assess(img)), ("assess_score_only", lambda: m.assess(img, describe=False)),
                 ("restore", lambda: m.restore(img)), ("restore_forced", lambda: m.restore(img, force=True)),
                 ("restore_plain", lambda: m.restore(img, assess=False))):
    ts = []
    for _ in range(3):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    out[name] = sorted(ts)[1]
print(json.dumps(out))
"""


def md_speed(r: dict[str, Any]) -> str:
    return " | ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()) + "\n"


def part_speed(model: str) -> dict[str, Any]:
    import torch

    img = sorted((DATA / "Kodak24").iterdir())[0]
    p = subprocess.run([sys.executable, "-c", SPEED, model, str(img)], capture_output=True, text=True, check=True)
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r["threads"] = torch.get_num_threads()
    return r


def part_ablation_restore(model: str, stage1: str, mixed: str, limit: int, out: Path) -> dict[str, Any]:
    from uare.baselines import UARERestorer

    variants = {
        "assess-then-restore": UARERestorer(model, name="assess-then-restore"),
        "plain instruction": UARERestorer(model, assess=False, name="plain instruction"),
        "stage 1 only (curriculum)": UARERestorer(stage1, assess=False, name="stage 1 only (curriculum)"),
        "stage 1 only (mixed)": UARERestorer(mixed, assess=False, name="stage 1 only (mixed)"),
    }
    return ablation_tables(variants, limit, out / "ablation_restore")


def ablation_tables(variants: dict[str, Any], limit: int, out: Path) -> dict[str, Any]:
    """The bench over model variants: PSNR / SSIM per setting and their means, the input as a row."""
    from uare.eval.settings import get_settings

    summary = restore_bench(variants, limit, out, ["psnr", "ssim"])
    names = [bs.name for bs in get_settings("all")]
    table = {v: {s: pooled(summary, s, v, "psnr") for s in names} for v in ["input", *variants]}
    ssim = {v: {s: pooled(summary, s, v, "ssim") for s in names} for v in ["input", *variants]}
    return {"psnr": table, "ssim": ssim, "mean_psnr": {v: float(np.mean(list(t.values()))) for v, t in table.items()},
            "mean_ssim": {v: float(np.mean(list(t.values()))) for v, t in ssim.items()}, "images_per_setting": 2 * limit}


def md_ablation_restore(r: dict[str, Any]) -> str:
    settings = list(next(iter(r["psnr"].values())))
    lines = ["| variant | " + " | ".join(settings) + " | mean PSNR | mean SSIM |",
             "|---" * (len(settings) + 3) + "|"]
    for v, t in r["psnr"].items():
        lines.append(f"| {v} | " + " | ".join(f"{t[s]:.2f}" for s in settings)
                     + f" | {r['mean_psnr'][v]:.2f} | {r['mean_ssim'][v]:.4f} |")
    return "\n".join(lines) + f"\n({r['images_per_setting']} images per setting)\n"


def part_ablation_iqa(model: str, iqa_only: str, limit: int, out: Path) -> dict[str, Any]:
    res = {}
    for name, path in (("unified", model), ("IQA only", iqa_only)):
        r = part_iqa(path, limit, out / f"ablation_iqa_{name.replace(' ', '_').lower()}", ["uare"])
        res[name] = {"srcc_synthetic": r["summary"]["synthetic"]["uare"]["srcc"],
                     **{k: v["accuracy"] for k, v in r["tasks"].items()}}
    return res


def md_ablation_iqa(r: dict[str, Any]) -> str:
    keys = list(next(iter(r.values())))
    lines = ["| model | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, v in r.items():
        lines.append(f"| {name} | " + " | ".join(f"{v[k]:.3f}" for k in keys) + " |")
    return "\n".join(lines) + "\n"


COLOUR_FOLDERS = [DATA / n for n in ("Kodak24", "CBSD68", "Urban100_first20", "Set14")]


def part_colour(model: str, limit: int, named: bool = False) -> dict[str, Any]:
    """The saturated-colour set (uare.eval.colorset: the most chromatic crop of each test image of Kodak24,
    CBSD68, Urban100 and Set14, first ``limit`` crops per folder) under every bench setting, restored in the
    default blind mode: PSNR in -> out per image and the colour shift (CIELAB a*b* of the means) against the
    ground truth. ``named`` (part ``colour_named``): the settings with one task restored with it named, as the
    bench runs them (``--task sr --scale 4`` for sr_x4); the multi-task settings stay blind."""
    from uare.eval.colorset import saturated_crops
    from uare.eval.metricset import color_shift
    from uare.eval.settings import get_settings, image_seed, make_pair
    from uare.infer import UARE
    from uare.metrics import psnr

    m = UARE.from_pretrained(model)
    crops = []
    for folder in COLOUR_FOLDERS:
        crops += saturated_crops([folder])[:limit]
    rows = []
    for bs in get_settings("all"):
        for c in crops:
            lq, gt, _ = make_pair(c.pixels, bs, image_seed(0, bs.name, c.name))
            task = bs.tasks[0] if named and len(bs.tasks) == 1 else "auto"
            r = m.restore(lq, task=task, scale=bs.scale, seed=0)
            inp = lq if bs.scale == 1 else _bicubic(lq, gt.shape[:2])
            rows.append({"setting": bs.name, "crop": c.name, "chroma": c.chroma, "input_psnr": float(psnr(inp, gt)),
                         "psnr": float(psnr(r.image, gt)), "input_color_shift": color_shift(inp, gt),
                         "color_shift": color_shift(r.image, gt), "notes": [n for n in r.notes if n.startswith("colour check")]})
    drops = [x["psnr"] - x["input_psnr"] for x in rows]
    worst = min(range(len(rows)), key=lambda i: drops[i])
    per = {}
    for bs in get_settings("all"):
        sel = [x for x in rows if x["setting"] == bs.name]
        per[bs.name] = {"input_psnr": float(np.mean([x["input_psnr"] for x in sel])),
                        "psnr": float(np.mean([x["psnr"] for x in sel])),
                        "worst_drop": float(min(x["psnr"] - x["input_psnr"] for x in sel)),
                        "input_color_shift": float(np.mean([x["input_color_shift"] for x in sel])),
                        "color_shift": float(np.mean([x["color_shift"] for x in sel])),
                        "max_color_shift": float(max(x["color_shift"] for x in sel)),
                        "checked": int(sum(bool(x["notes"]) for x in sel))}
    return {"crops": len(crops), "settings": per, "images_below_input_by_0.5db": int(sum(d < -0.5 for d in drops)),
            "worst": {"setting": rows[worst]["setting"], "crop": rows[worst]["crop"], "drop_db": drops[worst]},
            "rows": rows}


def _bicubic(lq: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(lq, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)


def md_colour(r: dict[str, Any]) -> str:
    lines = ["| setting | input PSNR | uare PSNR | worst image vs input dB | colour shift in -> out (max) | "
             "colour check used |", "|---|---|---|---|---|---|"]
    for k, v in r["settings"].items():
        lines.append(f"| {k} | {v['input_psnr']:.2f} | {v['psnr']:.2f} | {v['worst_drop']:+.2f} | "
                     f"{v['input_color_shift']:.2f} -> {v['color_shift']:.2f} ({v['max_color_shift']:.2f}) | "
                     f"{v['checked']} |")
    w = r["worst"]
    lines.append(f"\n{r['crops']} crops per setting; images more than 0.5 dB below their input: "
                 f"{r['images_below_input_by_0.5db']}; worst {w['crop']} under {w['setting']} ({w['drop_db']:+.2f} dB)")
    return "\n".join(lines) + "\n"


def part_grid(model: str, limit: int) -> dict[str, Any]:
    """Low light without a grid: the README example (coffee.png darkened at severity 4, seed 0, then
    ``uare enhance --task lowlight``) and the lowlight bench setting on the first ``limit`` images of
    CBSD68 and Kodak24: PSNR and the 8-px grid ratio (uare.metrics.grid) of input, output and ground truth."""
    from uare.degrade import degrade
    from uare.eval.bench_restore import load_clean
    from uare.eval.settings import get_settings, image_seed, make_pair
    from uare.infer import UARE
    from uare.metrics import psnr
    from uare.metrics.grid import grid_ratio

    m = UARE.from_pretrained(model)
    clean = load_clean(ROOT / "examples" / "coffee.png")
    dark, _ = degrade(clean, "single", types=["lowlight"], severity=4, seed=0)
    r = m.restore(dark, task="lowlight", seed=0)
    example = {"input_psnr": float(psnr(dark, clean)), "psnr": float(psnr(r.image, clean)),
               "grid_ratio": grid_ratio(r.image), "clean_grid_ratio": grid_ratio(clean)}
    bs = get_settings("lowlight")[0]
    rows = []
    for folder in FOLDERS:
        for p in sorted(folder.iterdir())[:limit]:
            img = load_clean(p)
            lq, gt, _ = make_pair(img, bs, image_seed(0, bs.name, f"{folder.name}/{p.stem}"))
            out = m.restore(lq, seed=0).image
            rows.append({"image": f"{folder.name}/{p.stem}", "grid_ratio": grid_ratio(out),
                         "gt_grid_ratio": grid_ratio(gt), "psnr": float(psnr(out, gt))})
    return {"example": example, "rows": rows, "max_grid_ratio": float(max(x["grid_ratio"] for x in rows)),
            "mean_grid_ratio": float(np.mean([x["grid_ratio"] for x in rows]))}


def md_grid(r: dict[str, Any]) -> str:
    e = r["example"]
    return (f"| | PSNR vs clean | 8-px grid ratio (1 = none; target <= 1.05) |\n|---|---|---|\n"
            f"| README example, input (dark.png) | {e['input_psnr']:.2f} | - |\n"
            f"| README example, `uare enhance --task lowlight` | {e['psnr']:.2f} ({e['psnr'] - e['input_psnr']:+.2f}) | "
            f"{e['grid_ratio']:.3f} (clean image {e['clean_grid_ratio']:.3f}) |\n"
            f"| lowlight bench outputs ({len(r['rows'])} images, blind) | "
            f"{np.mean([x['psnr'] for x in r['rows']]):.2f} | mean {r['mean_grid_ratio']:.3f}, max "
            f"{r['max_grid_ratio']:.3f} |\n")


def _latent_generate(m: Any, through_ae: bool) -> Any:
    """A copy of UARE ``m`` whose generation stage returns the input's autoencoder round trip (the latent
    the generation expert starts from, decoded) or, without ``through_ae``, the input itself."""
    import copy
    import types

    import torch

    from uare.infer.pipeline import _pad

    def generate(self: Any, job: Any, progress: Any = None) -> tuple[np.ndarray, int, dict]:
        src = job.src
        if not through_ae:
            return src.copy(), 1, {}
        x = _pad(src, self.config.latent_downsample)
        tokens, grid = self._encode(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32) * 2 - 1).permute(2, 0, 1))
        return self._decode(tokens, grid)[: src.shape[0], : src.shape[1]], 1, {}

    v = copy.copy(m)
    v.generate = types.MethodType(generate, v)
    return v


def part_ablation3(model: str, limit: int, out: Path) -> dict[str, Any]:
    """The paper's claim on the shipped weights, same seeds: assess-then-restore (blind) vs the analysis
    withheld (a plain instruction), with and without the task named, and each part's share: the generation
    expert alone (fidelity 0: no heads), and the generation replaced by the input's autoencoder round
    trip (the latent it starts from, decoded; assessment, analysis and heads kept). At fidelity 1 a
    mean-keeping restoration is the heads' output, so that variant differs only where the generation
    sets the tone (low light, haze)."""
    from uare.baselines import UARERestorer
    from uare.infer import UARE

    m = UARE.from_pretrained(model)
    variants = {
        "assess-then-restore (blind)": UARERestorer(model, task="auto", name="assess-then-restore (blind)", model=m),
        "analysis withheld (blind)": UARERestorer(model, task="auto", assess=False, name="analysis withheld (blind)",
                                                  model=m),
        "task named, analysis written": UARERestorer(model, name="task named, analysis written", model=m),
        "task named, analysis withheld": UARERestorer(model, assess=False, name="task named, analysis withheld",
                                                      model=m),
        "generation expert alone (blind, fidelity 0)": UARERestorer(
            model, task="auto", name="generation expert alone (blind, fidelity 0)", model=m, fidelity=0.0),
        "generation replaced by the degraded latent (blind)": UARERestorer(
            model, task="auto", name="generation replaced by the degraded latent (blind)",
            model=_latent_generate(m, True)),
    }
    return ablation_tables(variants, limit, out / "ablation3")


def part_ceiling(model: str, limit: int) -> dict[str, Any]:
    """The latent path's ceiling: PSNR of the autoencoder's round trip of the clean test images, and of each
    setting's degraded input against itself (how much of the input the latent keeps)."""
    import torch

    from uare.eval.bench_restore import load_clean
    from uare.eval.settings import get_settings, image_seed, make_pair
    from uare.infer import UARE
    from uare.infer.pipeline import _pad
    from uare.metrics import psnr

    m = UARE.from_pretrained(model)

    def round_trip(img: np.ndarray) -> np.ndarray:
        x = _pad(img.astype(np.float32) / 255.0, m.config.latent_downsample)
        tokens, grid = m._encode(torch.from_numpy(x * 2 - 1).permute(2, 0, 1))
        return np.rint(m._decode(tokens, grid)[: img.shape[0], : img.shape[1]] * 255).astype(np.uint8)

    clean, per = [], {}
    imgs = [(f"{f.name}/{p.stem}", load_clean(p)) for f in FOLDERS for p in sorted(f.iterdir())[:limit]]
    for _, img in imgs:
        clean.append(float(psnr(round_trip(img), img)))
    for bs in get_settings("all"):
        vals = []
        for name, img in imgs:
            lq, _, _ = make_pair(img, bs, image_seed(0, bs.name, name))
            vals.append(float(psnr(round_trip(lq), lq)))
        per[bs.name] = float(np.mean(vals))
    return {"clean": float(np.mean(clean)), "clean_min": float(min(clean)), "degraded": per, "images": len(imgs)}


def md_ceiling(r: dict[str, Any]) -> str:
    lines = ["| autoencoder round trip of | PSNR vs itself (dB, RGB) |", "|---|---|",
             f"| clean test images ({r['images']}) | {r['clean']:.2f} (min {r['clean_min']:.2f}) |"]
    lines += [f"| {k} input | {v:.2f} |" for k, v in r["degraded"].items()]
    return "\n".join(lines) + "\n"


def md_ablation3(r: dict[str, Any]) -> str:
    return md_ablation_restore(r)


CARD = ROOT / "uare" / "weights" / "uare-tiny" / "MODEL_CARD.md"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
#: the published numbers of the shipped release; the documents' tables are rendered from it
RELEASE_JSON = ROOT / "benchmarks" / "results" / "uare_tiny_release4.json"
#: every release's published numbers (each rendered into its own block of the documents)
RELEASE_JSONS = tuple(ROOT / "benchmarks" / "results" / f"uare_tiny_release{n}.json" for n in (2, 3, 4))
#: part -> (heading in the documents, renderer of its JSON), in the documents' order
DOC_PARTS: dict[str, tuple[str, Any]] = {
    "restore": ("### Restoration (blind = the default; task named = the setting's task when it has one)",
                md_restore),
    "clean": ("### Do no harm: the clean test images themselves", md_clean),
    "iqa": ("### IQA", md_iqa),
    "speed": ("### Speed", md_speed),
    "ablation_restore": ("### Ablation (a, b): restoration PSNR", md_ablation_restore),
    "ablation_iqa": ("### Ablation (c): IQA", md_ablation_iqa),
    "colour": ("### Saturated colour: the most chromatic crops of the test images, every setting", md_colour),
    "grid": ("### Low light without a grid", md_grid),
    "ceiling": ("### The latent path's ceiling", md_ceiling),
    "ablation3": ("### Assess-then-restore and each part's share (same seeds)", md_ablation3),
}


def part_command(part: str, limit: int, iqa_limit: int | None) -> str:
    """The command line that measured ``part``."""
    return (f"python benchmarks/uare_tiny.py --parts {part} --limit {limit}"
            + (f" --iqa-limit {iqa_limit}" if part == "iqa" and iqa_limit else ""))


def render_docs(data: dict[str, Any]) -> str:
    """The Markdown of every recorded part: heading, the command that measured it, its tables."""
    blocks = []
    for part, (heading, render) in DOC_PARTS.items():
        if part in data["parts"]:
            p = data["parts"][part]
            cmd = part_command(part, p["limit"], p.get("iqa_limit"))
            blocks.append(f"{heading}\n\n_`{cmd}`_\n\n{render(p['result']).strip()}")
    return "\n\n".join(blocks) + "\n"


def replace_generated(text: str, key: str, body: str) -> str | None:
    """``text`` with the block between ``<!-- generated:KEY -->`` and ``<!-- /generated:KEY -->`` replaced
    by ``body``; None when the markers are absent (or not in that order)."""
    start, end = f"<!-- generated:{key} -->", f"<!-- /generated:{key} -->"
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        return None
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body.strip()}\n{end}{tail}"


def update_docs(json_path: Path = RELEASE_JSON, docs: tuple[Path, ...] = (CARD, RESULTS),
                check: bool = False) -> list[Path]:
    """Render ``json_path`` into each document's block (its key: the JSON's stem). Returns the documents
    that differed from the rendering (rewritten, unless ``check``). A document without the markers is an
    error: the tables would silently stop being generated."""
    data = json.loads(json_path.read_text())
    body = render_docs(data)
    stale = []
    for doc in docs:
        text = doc.read_text()
        new = replace_generated(text, json_path.stem, body)
        if new is None:
            raise SystemExit(f"{doc}: no <!-- generated:{json_path.stem} --> ... <!-- /generated:{json_path.stem} "
                             "--> block")
        if new != text:
            stale.append(doc)
            if not check:
                doc.write_text(new)
    return stale


def record_part(json_path: Path, part: str, limit: int, iqa_limit: int | None, result: dict[str, Any]) -> None:
    """Store one part's result (and how it was measured) in the release JSON, the other parts kept."""
    data = json.loads(json_path.read_text()) if json_path.is_file() else {"parts": {}}
    data["parts"][part] = {"limit": limit, "iqa_limit": iqa_limit, "result": result}
    data["parts"] = {k: data["parts"][k] for k in sorted(data["parts"], key=lambda k: list(DOC_PARTS).index(k))}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(data, indent=1, default=float) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "uare" / "weights" / "uare-tiny"))
    ap.add_argument("--stage1", default="runs/tiny/stage1/final")
    ap.add_argument("--mixed", default="runs/tiny/stage1_mixed/final")
    ap.add_argument("--iqa-only", default="runs/tiny/stage2_iqa_only/final")
    ap.add_argument("--parts", default="restore,iqa,speed")
    ap.add_argument("--limit", type=int, default=8, help="first N images of CBSD68 and of Kodak24 (restoration)")
    ap.add_argument("--iqa-limit", type=int, default=None, help="the same for the IQA parts (default: --limit)")
    ap.add_argument("--out", type=Path, default=Path("results/uare_tiny"))
    ap.add_argument("--docs", action="store_true",
                    help="also record each part's result in --docs-json and render that file's tables into "
                         "MODEL_CARD.md and RESULTS.md (see benchmarks/model_card.py)")
    ap.add_argument("--docs-json", type=Path, default=RELEASE_JSON,
                    help=f"the release's results (default: {RELEASE_JSON.relative_to(ROOT)})")
    args = ap.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    iqa_limit = args.iqa_limit or args.limit
    result: dict[str, Any] = {"model": args.model, "limit": args.limit, "iqa_limit": args.iqa_limit or args.limit}
    md = []
    t0 = time.perf_counter()
    for part in parts:
        t = time.perf_counter()
        if part == "restore":
            result[part] = part_restore(args.model, args.limit, args.out)
            md.append("## Restoration vs targets\n\n" + md_restore(result[part]))
        elif part == "clean":
            result[part] = part_clean(args.model, args.limit)
            md.append("## Do no harm: clean inputs\n\n" + md_clean(result[part]))
        elif part == "iqa":
            r = part_iqa(args.model, iqa_limit, args.out / "iqa", ["niqe", "brisque", "uare"])
            result[part] = {k: v for k, v in r.items() if k != "markdown"}
            md.append("## IQA\n\n" + r["markdown"])
        elif part == "speed":
            result[part] = part_speed(args.model)
            md.append("## Speed (512x512, s, median of 3)\n\n" + md_speed(result[part]))
        elif part == "ablation_restore":
            result[part] = part_ablation_restore(args.model, args.stage1, args.mixed, args.limit, args.out)
            md.append("## Ablation (a, b): restoration PSNR\n\n" + md_ablation_restore(result[part]))
        elif part == "ablation_iqa":
            result[part] = part_ablation_iqa(args.model, args.iqa_only, iqa_limit, args.out)
            md.append("## Ablation (c): IQA\n\n" + md_ablation_iqa(result[part]))
        elif part == "colour":
            result[part] = part_colour(args.model, args.limit)
            md.append("## Saturated colour\n\n" + md_colour(result[part]))
        elif part == "colour_named":
            result[part] = part_colour(args.model, args.limit, named=True)
            md.append("## Saturated colour, single-task settings named\n\n" + md_colour(result[part]))
        elif part == "grid":
            result[part] = part_grid(args.model, args.limit)
            md.append("## Low light without a grid\n\n" + md_grid(result[part]))
        elif part == "ceiling":
            result[part] = part_ceiling(args.model, args.limit)
            md.append("## The latent path's ceiling\n\n" + md_ceiling(result[part]))
        elif part == "ablation3":
            result[part] = part_ablation3(args.model, args.limit, args.out)
            md.append("## Ablation: assess-then-restore and each part's share\n\n" + md_ablation3(result[part]))
        else:
            raise SystemExit(f"unknown part {part!r}")
        log(f"{part}: {time.perf_counter() - t:.0f} s")
        if args.docs:
            record_part(args.docs_json, part, args.limit, iqa_limit, result[part])
            for doc in update_docs(args.docs_json):
                log(f"{part}: tables written into {doc.relative_to(ROOT)}")
    result["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    tag = "_".join(parts)
    (args.out / f"{tag}.json").write_text(json.dumps(result, indent=2, default=float))
    (args.out / f"{tag}.md").write_text("\n".join(md))
    print(json.dumps(result, default=float))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
