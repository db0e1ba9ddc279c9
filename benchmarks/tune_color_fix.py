"""Pick color_fix_sigma of uare-tiny on TRAINING images (bsd200 crops), never on the test sets.

    python benchmarks/tune_color_fix.py runs/tiny/stage2/final
"""
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from uare.eval.settings import get_settings, make_pair
from uare.infer import UARE
from uare.infer.pipeline import InferenceDefaults, _color_fix
from uare.metrics import psnr

m = UARE.from_pretrained(sys.argv[1])
m.defaults = InferenceDefaults.from_folder(Path("uare/weights/uare-tiny"))
files = sorted(Path("../shared/datasets/train/bsd200").iterdir())[::40][:5]
imgs = [np.asarray(Image.open(p).convert("RGB"))[32:288, 64:320] for p in files]
sig = [0, 2, 4, 8, 16]
for bs in get_settings("noise_s25,blur_s2,jpeg_q20,sr_x4,blur+noise,realesrgan_x4"):
    acc = {s: [] for s in sig}
    inp = []
    for i, img in enumerate(imgs):
        lq, gt, _ = make_pair(img, bs, 100 + i)
        up = lq if bs.scale == 1 else cv2.resize(lq, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_CUBIC)
        inp.append(psnr(up, gt))
        task = bs.tasks[0] if len(bs.tasks) == 1 else "auto"
        out = np.asarray(m.restore(lq, task=task, scale=bs.scale, assess=False).image).astype(np.float32) / 255
        for s in sig:
            o = out if s == 0 else _color_fix(out, up.astype(np.float32) / 255, s)
            acc[s].append(psnr(np.rint(o * 255).astype(np.uint8), gt))
    print(bs.name, "input", round(np.mean(inp), 2), {s: round(float(np.mean(v)), 2) for s, v in acc.items()}, flush=True)
