"""Colour augmentation: hue rotation, channel permutation and saturation changes of RGB crops.

The training pool is 691 images, 400 of them grayscale, and saturated colour is rare in the rest; a
restorer trained on it harmed saturated reds (a deep-red close-up came back 20 dB worse; Kodak's red door
turned cyan). These draws cover the colour space the pool lacks. Every draw comes from ``rng``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: RGB -> YIQ (NTSC); hue rotates the (I, Q) plane, saturation scales it, Y (luma) is kept
_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_INV = np.linalg.inv(_YIQ)


@dataclass(frozen=True)
class ColorAugment:
    """Probabilities and ranges of the colour draws (defaults: the refiner's training pool)."""

    p_hue: float = 0.5  # rotate the hue by U(-180, 180) degrees
    p_permute: float = 0.3  # permute the RGB channels
    p_saturation: float = 0.5  # scale the chroma by exp(U(log lo, log hi))
    saturation: tuple[float, float] = (0.5, 2.5)

    def __call__(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """An augmented copy of HxWx3 uint8 RGB ``img`` (four draws from ``rng``, always taken)."""
        u = rng.random(3)
        angle = rng.uniform(-np.pi, np.pi)
        sat = float(np.exp(rng.uniform(np.log(self.saturation[0]), np.log(self.saturation[1]))))
        perm = rng.permutation(3)
        x = img.astype(np.float32)
        if u[1] < self.p_permute:
            x = x[..., perm]
        m = np.eye(3)
        if u[0] < self.p_hue:
            c, s = np.cos(angle), np.sin(angle)
            m = np.array([[1, 0, 0], [0, c, -s], [0, s, c]]) @ m
        if u[2] < self.p_saturation:
            m = np.diag([1.0, sat, sat]) @ m
        if not np.allclose(m, np.eye(3)):
            x = x @ (_YIQ_INV @ m @ _YIQ).T.astype(np.float32)
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def chroma(img: np.ndarray) -> float:
    """Mean CIELAB chroma sqrt(a*^2 + b*^2) of uint8 RGB ``img`` (0 for gray; > 40 is strongly saturated)."""
    import cv2

    lab = cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return float(np.hypot(lab[..., 1], lab[..., 2]).mean())
