"""Rectified flow over latent tokens: training draws and loss, the shifted Euler sampler, and guidance.

Convention (BAGEL's, so a BAGEL checkpoint's time embedder means what it learned): x_t = (1 - t) x0
+ t eps, t = 1 is pure noise, t = 0 the clean latent, and the model predicts v = eps - x0. The UARE
paper writes the same flow with t mirrored (z_t = t x + (1 - t) z0, t = 1 clean).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def shift_timesteps(t: torch.Tensor, shift: float) -> torch.Tensor:
    """t -> s t / (1 + (s - 1) t): s > 1 spends more of the schedule near the noise end."""
    return shift * t / (1 + (shift - 1) * t)


def sample_train_timesteps(n: int, generator: torch.Generator | None = None, shift: float = 1.0) -> torch.Tensor:
    """Logit-normal t = sigmoid(N(0, 1)), then shifted: one draw per image."""
    t = torch.sigmoid(torch.randn(n, generator=generator))
    return shift_timesteps(t, shift)


def noisy_latents(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t for per-token times ``t`` [N] (0 leaves x0 untouched)."""
    t = t.to(x0.dtype)[:, None]
    return (1 - t) * x0 + t * noise


def flow_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The velocity the model must predict."""
    return noise - x0


def sampling_schedule(num_steps: int, shift: float, t_start: float = 1.0) -> torch.Tensor:
    """``num_steps`` times from ``t_start`` (1: pure noise) to 0, float32 as BAGEL builds them, shifted.

    N timesteps mean N - 1 model evaluations. ``t_start`` < 1 starts part-way, from a partly
    noised initial latent (e.g. the degraded image's).
    """
    if num_steps < 2:
        raise ValueError(f"need at least 2 timesteps (1 model evaluation), got {num_steps}")
    if not 0 < t_start <= 1:
        raise ValueError(f"t_start must be in (0, 1], got {t_start}")
    return shift_timesteps(torch.linspace(t_start, 0, num_steps, dtype=torch.float32), shift)


def euler_sample(velocity: Callable[[torch.Tensor, float], torch.Tensor], x: torch.Tensor,
                 timesteps: torch.Tensor, callback: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Integrate x from ``timesteps[0]`` to ``timesteps[-1]``: x <- x - v(x, t_i) (t_i - t_{i+1})."""
    n = len(timesteps) - 1
    for i in range(n):
        t, t_next = float(timesteps[i]), float(timesteps[i + 1])
        x = x - velocity(x, t) * (t - t_next)
        if callback is not None:
            callback(i + 1, n)
    return x


RENORM_TYPES = ("global", "channel", "text_channel")


def guide(v_cond: torch.Tensor, v_text_uncond: torch.Tensor | None, v_img_uncond: torch.Tensor | None,
          cfg_text: float, cfg_img: float, renorm: str = "global", renorm_min: float = 0.0) -> torch.Tensor:
    """Combine the three predictions as BAGEL's classifier-free guidance does.

    - No guidance at all unless ``cfg_text > 1`` (image guidance alone does nothing).
    - ``global`` / ``channel``: u = v_t + s_txt (v_c - v_t); if s_img > 1, u = v_i + s_img (u - v_i);
      then u is rescaled by clamp(|v_c| / |u|, renorm_min, 1), the norm over everything (global) or
      per token (channel).
    - ``text_channel``: only the text-guided velocity is renormalised, per token, before the image step.
    Velocities are [tokens, channels].
    """
    if renorm not in RENORM_TYPES:
        raise ValueError(f"unknown renorm type {renorm!r}; choose from {', '.join(RENORM_TYPES)}")
    if cfg_text <= 1.0 or v_text_uncond is None:
        return v_cond
    u = v_text_uncond + cfg_text * (v_cond - v_text_uncond)
    if renorm == "text_channel":
        scale = (v_cond.norm(dim=-1, keepdim=True) / (u.norm(dim=-1, keepdim=True) + 1e-8)).clamp(renorm_min, 1.0)
        u = u * scale
        if cfg_img > 1.0 and v_img_uncond is not None:
            u = v_img_uncond + cfg_img * (u - v_img_uncond)
        return u
    if cfg_img > 1.0 and v_img_uncond is not None:
        u = v_img_uncond + cfg_img * (u - v_img_uncond)
    if renorm == "global":
        scale = (v_cond.norm() / (u.norm() + 1e-8)).clamp(renorm_min, 1.0)
    else:
        scale = (v_cond.norm(dim=-1, keepdim=True) / (u.norm(dim=-1, keepdim=True) + 1e-8)).clamp(renorm_min, 1.0)
    return u * scale
