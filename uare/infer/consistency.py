"""Data consistency for up-scaling: iterative back-projection (Irani & Peleg 1991) toward the low-resolution input.

An up-scaled image ``x`` is consistent with its input ``y`` when down-sampling it as the input was made reproduces
``y``. Each iteration adds the bicubically enlarged residual ``y - D(x)``, ``D`` MATLAB's bicubic (antialiased)
down-sampling, the standard SR degradation: on x4 bicubic-down-sampled training images it lifts uare-tiny's
output by about 0.1 dB, never lowering it (``back_projection`` in ``inference.json``). It assumes the input is a
clean bicubic down-sample, so the pipeline runs it only on a named ``--task sr`` (blind, Real-ESRGAN-degraded
inputs rated "low resolution" only got their noise back).
The ``ibp`` baseline is this loop started from bicubic up-sampling.
"""

from __future__ import annotations

import cv2
import numpy as np

from uare.degrade.resize import resize_float


def back_project(x: np.ndarray, y: np.ndarray, iterations: int) -> np.ndarray:
    """``iterations`` rounds of back-projection of the float RGB up-scale ``x`` toward its low-resolution input
    ``y`` (float RGB in [0, 1]; ``x`` a whole multiple of its size); float32, unclipped."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    h, w = x.shape[:2]
    for _ in range(iterations):
        err = y - resize_float(np.clip(x, 0, 1), y.shape[:2], "matlab_bicubic")
        x = x + cv2.resize(err, (w, h), interpolation=cv2.INTER_CUBIC)
    return x
