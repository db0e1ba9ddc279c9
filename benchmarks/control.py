"""The same-budget control: a plain pixel-space residual CNN per task, trained for a fixed number of CPU minutes.

    python benchmarks/control.py --minutes 8 --threads 2 --limit 6 --out results/control
    python benchmarks/control.py --micro                      # seconds: the suite's check that it runs

Before tuning a design, train the simplest strong baseline on the same data for the same minutes: if it
wins, the design is the problem. The control is ``out = lq + CNN(lq)``, 10 3x3 convolutions of 64
channels with ReLU (0.33 M parameters), trained from scratch per setting (``noise_s25``, ``blur_s2``,
``sr_x4`` by default) on random crops of the colour training images (BSD200 + T91), each degraded on the
fly with that setting's exact engine call (:func:`uare.eval.settings.make_pair`), L1 loss, Adam 1e-3 with
a cosine schedule over the time budget. It is evaluated on the bench's held-out images (the first
``--limit`` of CBSD68 and Kodak24) with the bench's PSNR (RGB; BasicSR Y with a 4-px border for x4).
Prints and writes one JSON object (``control.json``) and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the uare of this checkout

from uare.data.images import load_rgb  # noqa: E402
from uare.eval.bench_restore import load_clean, setting_metrics  # noqa: E402
from uare.eval.settings import get_settings, image_seed, make_pair  # noqa: E402
from uare.io import iter_inputs  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
TRAIN = [DATA / "train" / "bsd200", DATA / "train" / "t91"]
TEST = [DATA / "test" / "CBSD68", DATA / "test" / "Kodak24"]


class ControlCNN(nn.Module):
    """``lq + CNN(lq)``: ``layers`` 3x3 convolutions of ``channels``, ReLU between, last one zero-initialised."""

    def __init__(self, channels: int = 64, layers: int = 10):
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(layers - 2):
            mods += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        mods.append(nn.Conv2d(channels, 3, 3, padding=1))
        self.body = nn.Sequential(*mods)
        for m in self.body:  # He initialisation: PyTorch's default shrinks a deep ReLU stack to nothing
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x - 0.5)


def _to_t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32) / 255.0).permute(2, 0, 1)


def _input(lq: np.ndarray, scale: int, size: tuple[int, int]) -> np.ndarray:
    """The network's input at the output size (bicubic for x4, as uare's pipeline enlarges)."""
    import cv2

    return lq if scale == 1 else cv2.resize(lq, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)


def setting_head(setting) -> str | None:
    """The uare head (a category of ``uare.train.refiner.HEAD_DRAWS``) whose blind training draws ``--draws
    head`` uses for ``setting``: that of the setting's one task, or None (several tasks, or no head)."""
    from uare.tasks import TASK_CATEGORY
    from uare.train.refiner import HEAD_DRAWS

    cat = TASK_CATEGORY.get(setting.tasks[0]) if len(setting.tasks) == 1 else None
    return cat if cat in HEAD_DRAWS else None


def train_control(setting, images: list[np.ndarray], seconds: float, crop: int, batch: int, seed: int,
                  channels: int, layers: int, max_steps: int | None = None, draws: str = "setting"
                  ) -> tuple[ControlCNN, int]:
    """Train one control net. ``draws="setting"``: every crop degraded by the setting's exact engine call (a
    non-blind problem: one kernel, one level); ``"head"``: by the blind draws uare's head of that category
    trains on (every type of the category at levels 1-5), the same images and budget."""
    from uare.train.refiner import head_pair

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = ControlCNN(channels, layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    t0, step = time.time(), 0
    while True:
        el = time.time() - t0
        if el >= seconds or (max_steps is not None and step >= max_steps):
            break
        for g in opt.param_groups:
            g["lr"] = 1e-3 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, el / seconds))))
        xs, ys = [], []
        for _ in range(batch):
            im = images[int(rng.integers(len(images)))]
            h, w = im.shape[:2]
            y, x = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
            hq = im[y:y + crop, x:x + crop]
            if draws == "head":  # at the output size already (down-sampled inputs bicubic-enlarged)
                lq, gt = head_pair(np.ascontiguousarray(hq), setting_head(setting), rng)
                xs.append(_to_t(lq))
            else:
                lq, gt, _ = make_pair(hq, setting, int(rng.integers(2**31)))
                xs.append(_to_t(_input(lq, setting.scale, gt.shape[:2])))
            ys.append(_to_t(gt))
        loss = F.l1_loss(net(torch.stack(xs)), torch.stack(ys))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
    return net.eval(), step


@torch.no_grad()
def evaluate(net: ControlCNN, setting, limit: int, seed: int = 0) -> dict[str, float]:
    metrics, protocol = setting_metrics(["psnr"], setting)
    psnr = metrics["psnr"]
    rows = {"input": [], "control": []}
    for folder in TEST:
        for p in iter_inputs(folder)[:limit]:
            clean = load_clean(p)
            lq, gt, _ = make_pair(clean, setting, image_seed(seed, setting.name, f"{folder.name}/{p.stem}"))
            x = _input(lq, setting.scale, gt.shape[:2])
            out = net(_to_t(x)[None])[0].clamp(0, 1).permute(1, 2, 0).numpy()
            rows["input"].append(psnr.fn(x, gt))
            rows["control"].append(psnr.fn(np.rint(out * 255).astype(np.uint8), gt))
    return {k: round(float(np.mean(v)), 3) for k, v in rows.items()} | {"n": len(rows["input"]), "protocol": protocol}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--settings", default="noise_s25,blur_s2,sr_x4")
    ap.add_argument("--minutes", type=float, default=8.0, help="training minutes per setting")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=6, help="test images per folder")
    ap.add_argument("--crop", type=int, default=48)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--draws", choices=("setting", "head"), default="setting",
                    help="train on the setting's exact degradation (default) or on the blind draws of uare's head")
    ap.add_argument("--micro", action="store_true", help="a few steps of a small net on one image (a smoke test)")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    settings = get_settings(a.settings)
    if a.draws == "head" and (bad := [s.name for s in settings if setting_head(s) is None]):
        with_head = [s.name for s in get_settings("all") if setting_head(s)]
        ap.error(f"--draws head: no uare head for {', '.join(bad)}; settings with one: {', '.join(with_head)}")
    torch.set_num_threads(a.threads)
    images = [im for folder in TRAIN for im in map(load_rgb, iter_inputs(folder)) if min(im.shape[:2]) >= a.crop]
    result: dict = {"minutes_per_setting": a.minutes, "threads": a.threads, "crop": a.crop, "batch": a.batch,
                    "channels": a.channels, "layers": a.layers, "draws": a.draws, "settings": {}}
    for s in settings:
        if a.micro:
            net, steps = train_control(s, images[:4], 60.0, 32, 2, a.seed, 8, 3, max_steps=3, draws=a.draws)
        else:
            net, steps = train_control(s, images, a.minutes * 60, a.crop, a.batch, a.seed, a.channels, a.layers,
                                       draws=a.draws)
        ev = evaluate(net, s, 1 if a.micro else a.limit, a.seed)
        ev |= {"steps": steps, "gain_db": round(ev["control"] - ev["input"], 3),
               "params": sum(p.numel() for p in net.parameters())}
        result["settings"][s.name] = ev
        print(f"{s.name}: {steps} steps, input {ev['input']:.2f} dB -> control {ev['control']:.2f} dB "
              f"({ev['gain_db']:+.2f})", file=sys.stderr, flush=True)
    print(json.dumps(result, indent=1))
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "control.json").write_text(json.dumps(result, indent=1))
        lines = ["| setting | steps | input PSNR | control PSNR | gain dB |", "|---|---|---|---|---|"]
        lines += [f"| {k} | {v['steps']} | {v['input']:.2f} | {v['control']:.2f} | {v['gain_db']:+.2f} |"
                  for k, v in result["settings"].items()]
        (a.out / "control.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
