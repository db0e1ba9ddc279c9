"""The LQ-guided pixel decoder: the restored image from the generated one *and* the degraded input.

The tiny preset's latent path (autoencoder x4, 2x2 latent patches, one flow step) loses fine detail:
its generation expert moves brightness, contrast and noise, but its outputs stay within ~0.1 dB of a
blurred, down-sampled or JPEG input (measured; see the model card). The field's answer to exactly this
gap is a decoder that also reads the low-quality input (StableSR's controllable feature wrapping,
CODSR's LQ-guided modulation). Here it is a small pixel-space network after the VAE decoder::

    out = gen + fidelity * R(lq, gen)

``gen`` is the generation expert's decoded output (pixels in [0, 1]), ``lq`` the degraded input at the
output size (bicubic-enlarged for super-resolution), ``R`` a residual CNN run at half resolution
(pixel-unshuffle by 2, as FFDNet) on ``[lq - 0.5, gen - lq]``. Its last convolution starts at zero, so an
untrained refiner returns ``gen`` exactly. ``fidelity`` (user-settable, [0, 1]) blends from the pure
generative output (0) to the full LQ-guided one (1, the default).

It is an option of a model folder (``refiner.safetensors`` beside ``config.json``): BAGEL folders have
none, and nothing else in the model changes. Its receptive field is bounded (:attr:`Refiner.margin`), so
large images run in tiles with that margin and come out identical to a whole-image pass (no seams).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from uare.errors import UareError
from uare.io.atomic import _default_file_mode
from uare.limits import SELF_ENSEMBLE_VIEWS

#: the file of a model folder that holds the refiner (absent: no refiner)
REFINER_FILE = "refiner.safetensors"


@dataclass(frozen=True)
class RefinerConfig:
    """Width, depth and the pixel-unshuffle factor of :class:`Refiner`."""

    channels: int = 48
    layers: int = 10  # 3x3 convolutions in all (first and last included)
    unshuffle: int = 1

    def __post_init__(self) -> None:
        if not (isinstance(self.channels, int) and 1 <= self.channels <= 1024):
            raise UareError(f"refiner channels must be an integer in [1, 1024], got {self.channels!r}")
        if not (isinstance(self.layers, int) and 2 <= self.layers <= 64):
            raise UareError(f"refiner layers must be an integer in [2, 64], got {self.layers!r}")
        if self.unshuffle not in (1, 2, 4):
            raise UareError(f"refiner unshuffle must be 1, 2 or 4, got {self.unshuffle!r}")


class Refiner(nn.Module):
    """``gen + R(lq, gen)``: a residual CNN that reads the degraded input beside the generated image."""

    def __init__(self, config: RefinerConfig | None = None):
        super().__init__()
        self.config = cfg = config or RefinerConfig()
        r, c = cfg.unshuffle, cfg.channels
        layers: list[nn.Module] = [nn.Conv2d(6 * r * r, c, 3, padding=1), nn.LeakyReLU(0.1, inplace=True)]
        for _ in range(cfg.layers - 2):
            layers += [nn.Conv2d(c, c, 3, padding=1), nn.LeakyReLU(0.1, inplace=True)]
        layers.append(nn.Conv2d(c, 3 * r * r, 3, padding=1))
        self.body = nn.Sequential(*layers)
        # He initialisation (PyTorch's default shrinks a deep stack to nothing) and leaky ReLUs: with plain
        # ReLUs and a zero last layer the last hidden layer died within 30 Adam steps (measured).
        for m in self.body:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.1, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)
        # channels-last weights (and inputs, see refine): oneDNN's fast convolution layout on CPUs, 1.5-1.7x
        # here; the values are the same, summation order may differ in the last bit
        self.to(memory_format=torch.channels_last)

    @property
    def margin(self) -> int:
        """Pixels beyond which an input pixel cannot affect an output pixel (the receptive-field radius)."""
        r = self.config.unshuffle
        return self.config.layers * r + r

    def residual(self, lq: torch.Tensor, gen: torch.Tensor) -> torch.Tensor:
        """``R(lq, gen)`` for ``[B, 3, H, W]`` tensors in [0, 1]; H and W multiples of ``unshuffle``."""
        r = self.config.unshuffle
        x = torch.cat([lq - 0.5, gen - lq], dim=1)
        if r > 1:
            x = F.pixel_unshuffle(x, r)
        y = self.body(x)
        return F.pixel_shuffle(y, r) if r > 1 else y

    def forward(self, lq: torch.Tensor, gen: torch.Tensor, fidelity: float = 1.0) -> torch.Tensor:
        return gen + fidelity * self.residual(lq, gen)

    @torch.no_grad()
    def refine(self, lq: np.ndarray, gen: np.ndarray, fidelity: float = 1.0, tile: int = 512,
               progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """The refined image of float RGB ``lq`` and ``gen`` (HxWx3 in [0, 1]), clipped to [0, 1].

        Images larger than ``tile`` run in tiles read with :attr:`margin` pixels of context on each side,
        so the result equals one whole-image pass (memory stays bounded by the tile). ``progress(i, n)``
        is called after each of the ``n`` tiles.
        """
        if lq.shape != gen.shape or lq.ndim != 3 or lq.shape[2] != 3:
            raise ValueError(f"refine takes two HxWx3 images of one size, got {lq.shape} and {gen.shape}")
        if fidelity == 0.0:
            return np.clip(gen, 0.0, 1.0)
        h, w = lq.shape[:2]
        r, m = self.config.unshuffle, self.margin
        p = next(self.parameters())
        out = np.empty_like(gen, dtype=np.float32)
        windows = list(_windows(h, w, tile))
        for i, (y0, y1, x0, x1) in enumerate(windows):
            ya, yb, xa, xb = max(0, y0 - m), min(h, y1 + m), max(0, x0 - m), min(w, x1 + m)
            ta = _tensor(lq[ya:yb, xa:xb], r, p)
            tb = ta if gen is lq else _tensor(gen[ya:yb, xa:xb], r, p)  # a bank's heads read R(x, x)
            res = self.residual(ta, tb)[0].float().permute(1, 2, 0).cpu().numpy()
            res = res[y0 - ya: y1 - ya, x0 - xa: x1 - xa]
            out[y0:y1, x0:x1] = gen[y0:y1, x0:x1] + fidelity * res
            if progress is not None:
                progress(i + 1, len(windows))
        return np.clip(out, 0.0, 1.0)


#: the order the heads of a bank run in: the reverse of the order a photo acquires the degradations
#: (blur -> resolution -> noise -> JPEG), so the last one acquired is removed first
HEAD_ORDER: tuple[str, ...] = ("jpeg", "noise", "blur", "lowres")


#: heads that stand in for a chain head when a task is named: ``name -> (the head it replaces, task, scale)``. A
#: named x4 super-resolution (``--task sr --scale 4``) says the input is a clean down-sampled image, so the head
#: trained on bicubic x4 alone replaces the blind ``lowres`` head, which also learnt Real-ESRGAN-degraded inputs
#: (a blind up-scale, no ``--task``, keeps it)
NAMED_HEADS: dict[str, tuple[str, str, int]] = {"bicubic_x4": ("lowres", "sr", 4)}

#: every head a bank may hold
HEAD_NAMES: tuple[str, ...] = HEAD_ORDER + tuple(NAMED_HEADS)


#: the views of a self-ensemble, in the order they are added: (mirror left-right first, quarter turns)
VIEWS: tuple[tuple[bool, int], ...] = ((False, 0), (True, 0), (False, 2), (True, 2),
                                       (False, 1), (True, 1), (False, 3), (True, 3))


class RefinerBank(nn.Module):
    """Per-category LQ-guided heads (``jpeg``, ``noise``, ``blur``, ``lowres``): each a :class:`Refiner` run on
    the degraded pixels alone (``R(x, x)``), chained in :data:`HEAD_ORDER` over the categories a restoration
    treats. Optional :data:`NAMED_HEADS` replace one of them for a named task. The pipeline blends the chain's
    output with the generation expert's by ``fidelity``."""

    def __init__(self, config: RefinerConfig | None = None, categories: tuple[str, ...] = HEAD_ORDER):
        super().__init__()
        self.config = config or RefinerConfig()
        unknown = [c for c in categories if c not in HEAD_NAMES]
        if unknown:
            raise UareError(f"no refiner head for {', '.join(unknown)}; heads exist for {', '.join(HEAD_NAMES)}")
        self.heads = nn.ModuleDict({c: Refiner(self.config) for c in categories})

    def route(self, categories, task: str = "auto", scale: int = 1) -> list[str]:
        """The heads that treat ``categories``, in the order they run; a named ``task`` at ``scale`` swaps in the
        bank's :data:`NAMED_HEADS` for it."""
        out = [c for c in HEAD_ORDER if c in categories and c in self.heads]
        for name, (replaces, named_task, named_scale) in NAMED_HEADS.items():
            if name in self.heads and task == named_task and scale == named_scale and replaces in out:
                out[out.index(replaces)] = name
        return out

    @torch.no_grad()
    def restore(self, lq: np.ndarray, heads: list[str], tile: int = 512,
                progress: Callable[[str, int, int], None] | None = None, views: int = 1) -> np.ndarray:
        """``lq`` (float RGB in [0, 1]) through ``heads`` in turn; ``progress(stage, i, n)`` after each tile
        (stage ``"head noise"``, or ``"head noise, view 2/4"`` with several views).

        ``views`` > 1: geometric self-ensemble (EDSR's "+"): the chain runs on ``views`` of the
        :data:`VIEWS` flips / rotations of the input and the results, turned back, are averaged. The
        input is edge-padded to whole 8-px blocks first, so a view keeps JPEG's block grid where the
        original has it.
        """
        if views not in SELF_ENSEMBLE_VIEWS:
            raise UareError(f"self-ensemble views must be one of {', '.join(map(str, SELF_ENSEMBLE_VIEWS))}, "
                            f"got {views!r}")
        if views == 1:
            return self._chain(lq, heads, tile, progress, "")
        h, w = lq.shape[:2]
        padded = np.pad(lq, ((0, -h % 8), (0, -w % 8), (0, 0)), mode="edge")
        acc = np.zeros_like(padded, dtype=np.float32)
        for i, (flip, turns) in enumerate(VIEWS[:views]):
            v = np.rot90(padded[:, ::-1] if flip else padded, turns)
            out = np.rot90(self._chain(np.ascontiguousarray(v), heads, tile, progress, f", view {i + 1}/{views}"),
                           -turns)
            acc += out[:, ::-1] if flip else out
        return acc[:h, :w] / np.float32(views)

    def _chain(self, x: np.ndarray, heads: list[str], tile: int,
               progress: Callable[[str, int, int], None] | None, label: str) -> np.ndarray:
        for c in heads:
            report = None if progress is None else (lambda i, n, c=c: progress(f"head {c}{label}", i, n))
            x = self.heads[c].refine(x, x, 1.0, tile, progress=report)
        return x


def tone_transfer(gen: np.ndarray, lq: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """The generated image's tone on the input's detail: ``G(gen) + k * (lq - G(lq))``, ``k = G(gen) / G(lq)``.

    For brightness-changing restorations (low light, haze) the generation expert owns the global correction,
    but its 8-px generation tokens leave a visible block grid (grid ratio ~1.5). ``G`` is a Gaussian low-pass
    of ``sigma`` px, which removes the grid; the detail comes from the input, scaled by the local gain ``k``
    (clipped to [0.25, 8]). Measured on the README example and four Kodak images: the grid ratio goes from
    1.13-1.53 to 0.96-1.0, PSNR within 0.3 dB of the generated image (one case -5 dB from amplified sensor
    noise, which the noise head then removes). Float RGB in [0, 1].
    """
    import cv2

    def low(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(np.ascontiguousarray(x, dtype=np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)

    gg, gl = low(gen), low(lq)
    k = np.clip(gg / np.maximum(gl, 1e-3), 0.25, 8.0)
    return np.clip(gg + k * (lq - gl), 0.0, 1.0)


def _windows(h: int, w: int, tile: int) -> Iterator[tuple[int, int, int, int]]:
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            yield y0, min(h, y0 + tile), x0, min(w, x0 + tile)


def _tensor(x: np.ndarray, unit: int, like: torch.Tensor) -> torch.Tensor:
    """HxWx3 float pixels padded to ``unit`` as a 1x3xHxW tensor on ``like``'s device and dtype, channels-last
    (oneDNN's fast convolution layout on CPUs: 1.5-1.7x here)."""
    t = torch.from_numpy(_pad_to(x, unit)).permute(2, 0, 1)[None].to(like.device, like.dtype)
    return t.contiguous(memory_format=torch.channels_last)


def _pad_to(x: np.ndarray, unit: int) -> np.ndarray:
    ph, pw = -x.shape[0] % unit, -x.shape[1] % unit
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not (ph or pw):
        return x
    return np.pad(x, ((0, ph), (0, pw), (0, 0)), mode="edge")


def save_refiner(refiner: Refiner | RefinerBank, folder: Path | str, dtype: torch.dtype = torch.float32) -> Path:
    """Write ``refiner.safetensors`` (its config, and a bank's categories, in the metadata) into ``folder``."""
    path = Path(folder) / REFINER_FILE
    sd = {k: v.detach().to("cpu", dtype).contiguous() for k, v in refiner.state_dict().items()}
    meta = {"refiner_config": json.dumps(asdict(refiner.config))}
    if isinstance(refiner, RefinerBank):
        meta["categories"] = json.dumps(list(refiner.heads))
    save_file(sd, str(path), metadata=meta)
    os.chmod(path, _default_file_mode())  # safetensors writes 0600; a model file is as readable as the others
    return path


def load_refiner(folder: Path | str, device: str | torch.device = "cpu") -> Refiner | RefinerBank | None:
    """The refiner of a model folder, or None when it has none; a damaged file raises one clear line."""
    path = Path(folder) / REFINER_FILE
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            cfg = RefinerConfig(**json.loads(meta.get("refiner_config", "{}")))
            cats = json.loads(meta["categories"]) if "categories" in meta else None
            sd = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except (OSError, ValueError, TypeError, RuntimeError, SafetensorError) as e:
        raise UareError(f"{path}: not a readable refiner file ({e}); re-export the model folder") from None
    ref = Refiner(cfg) if cats is None else RefinerBank(cfg, tuple(cats))
    try:
        ref.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise UareError(f"{path}: its tensors do not match its config ({first}); re-export the model folder") from None
    return ref.to(device).eval()
