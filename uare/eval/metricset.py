"""The metrics the harness can compute, by name, with the conventions of :mod:`uare.metrics`.

Full-reference metrics take ``(pred, gt)``, no-reference ones ``(pred)``; all take HxWx3 uint8 RGB.

- ``psnr``, ``ssim``: :mod:`uare.metrics` with a *protocol*: ``basicsr`` (Y of BT.601 YCbCr,
  border of ``scale`` pixels cropped; classical SR tables), ``realisr`` (Y, no crop; the diffusion
  Real-ISR lineage), ``rgb`` (all three channels; denoising/all-in-one tables).
- ``ms_ssim``: on luminance, Y of YCbCr for ``basicsr`` / ``realisr`` and YIQ (pyiqa) for ``rgb``;
  no border crop.
- ``niqe``, ``brisque``: :mod:`uare.metrics`, raw values (lower = better).
- ``color_shift``: distance between the image-mean chroma (a*, b*) of CIELAB (D65) of the output and
  of the ground truth; a global colour cast shows here whatever the content (lower = better, 0-~10).
- ``lpips`` (AlexNet v0.1), ``dists``, ``musiq`` (KonIQ), ``maniqa`` (``maniqa-pipal``, as Real-ISR
  papers report it), ``clipiqa``, ``topiq`` (``topiq_nr``), ``liqe``: from pyiqa, an optional
  extra (``pip install 'uare[pyiqa]'``). pyiqa and most of these weights are licensed for
  non-commercial use only.

Unavailable metrics. pyiqa keeps its weights in ``<torch hub dir>/pyiqa/`` (``torch.hub.get_dir()``:
``$TORCH_HOME/hub``, by default ``~/.cache/torch/hub``) and downloads a missing file from
``https://huggingface.co/chaofengc/IQA-PyTorch-Weights`` when the metric is created. The harness
does not let it download: a metric whose weight file is not there yet is *unavailable* (set
``UARE_PYIQA_DOWNLOAD=1`` to let pyiqa fetch it), as is every pyiqa metric without pyiqa and any
metric pyiqa fails to create (e.g. a backbone it must download too). :func:`resolve_metrics` returns
one :class:`Unavailable` per such metric, whose :meth:`~Unavailable.line` says what to install or
where to put which file, and builds the others; :func:`build_metrics` refuses instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from uare.errors import UareError
from uare.metrics.color import color_shift

PROTOCOLS: tuple[str, ...] = ("basicsr", "realisr", "rgb")
CORE_FR: tuple[str, ...] = ("psnr", "ssim", "ms_ssim")
CORE_NR: tuple[str, ...] = ("niqe", "brisque")
#: our name -> (pyiqa metric name, full-reference?, lower is better?)
PYIQA: dict[str, tuple[str, bool, bool]] = {
    "lpips": ("lpips", True, True),
    "dists": ("dists", True, True),
    "musiq": ("musiq", False, False),
    "maniqa": ("maniqa-pipal", False, False),
    "clipiqa": ("clipiqa", False, False),
    "topiq": ("topiq_nr", False, False),
    "liqe": ("liqe", False, False),
}
OWN_FR: tuple[str, ...] = ("color_shift",)
METRIC_NAMES: tuple[str, ...] = (*CORE_FR, *CORE_NR, *OWN_FR, *PYIQA)
PYIQA_HINT = ("metric(s) {names} need pyiqa: pip install 'uare[pyiqa]' "
              "(pyiqa and its model weights are licensed for non-commercial use only)")
#: our name -> the weight file pyiqa loads for it (besides any backbone: torchvision AlexNet / VGG16 for
#: lpips / dists, timm ViT / ResNet-50 for maniqa / topiq, OpenAI CLIP for clipiqa / liqe)
PYIQA_WEIGHTS: dict[str, str | None] = {
    "lpips": "LPIPS_v0.1_alex-df73285e.pth",
    "dists": "DISTS_weights-f5e65c96.pth",
    "musiq": "musiq_koniq_ckpt-e95806b9.pth",
    "maniqa": "MANIQA_PIPAL-ae6d356b.pth",
    "clipiqa": None,  # prompts only: the CLIP RN50 backbone is all it loads
    "topiq": "cfanet_nr_koniq_res50-9a73138b.pth",
    "liqe": "liqe_koniq.pt",
}
PYIQA_WEIGHTS_URL = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/{file}"
NO_PYIQA = ("pyiqa is not installed: pip install 'uare[pyiqa]' (pyiqa and its weights are licensed for "
            "non-commercial use only)")
#: set to 1 to let pyiqa download missing weights while the metrics are built
DOWNLOAD_ENV = "UARE_PYIQA_DOWNLOAD"


def metrics_module() -> Any:
    """``uare.metrics``, imported on first use."""
    try:
        import uare.metrics as m
    except ImportError as e:
        raise UareError(f"uare.metrics is not available ({' '.join(str(e).split())})") from None
    return m


@dataclass(frozen=True)
class Metric:
    """One metric: ``fn(pred, gt)`` (``gt`` ignored by no-reference metrics)."""

    name: str
    full_reference: bool
    lower_is_better: bool
    fn: Callable[[np.ndarray, np.ndarray | None], float]


def parse_metric_names(text: str | list[str]) -> list[str]:
    """Split and check a comma-separated metric list; unknown names raise :class:`UareError`."""
    names = [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    if not names:
        raise UareError("no metrics given; e.g. --metrics psnr,ssim")
    unknown = [n for n in names if n not in METRIC_NAMES]
    if unknown:
        raise UareError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRIC_NAMES)}")
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Unavailable:
    """A requested metric that cannot be computed here, and why (one line, with the fix)."""

    name: str
    reason: str

    def line(self) -> str:
        """``metric NAME unavailable: REASON``."""
        return f"metric {self.name} unavailable: {self.reason}"


def pyiqa_cache_dir() -> Path:
    """Where pyiqa looks for (and downloads) its weights: ``<torch hub dir>/pyiqa``."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "pyiqa"


def _short(path: Path) -> str:
    home = str(Path.home())
    return "~" + str(path)[len(home):] if str(path).startswith(home + os.sep) else str(path)


def _pyiqa_metrics(names: list[str], device: str) -> tuple[dict[str, Metric], list[Unavailable]]:
    import torch

    try:
        import pyiqa
    except ImportError:
        return {}, [Unavailable(n, NO_PYIQA) for n in names]
    except Exception as e:  # noqa: BLE001 - an installed pyiqa that breaks on import (version skew)
        why = f"pyiqa failed to import ({type(e).__name__}: {' '.join(str(e).split())[:160]})"
        return {}, [Unavailable(n, why) for n in names]
    cache = pyiqa_cache_dir()
    download = os.environ.get(DOWNLOAD_ENV, "") not in ("", "0")
    out: dict[str, Metric] = {}
    missing: list[Unavailable] = []
    for n in names:
        pname, fr, lower = PYIQA[n]
        file = PYIQA_WEIGHTS.get(n)
        if file and not download and not (cache / file).is_file():
            missing.append(Unavailable(n, f"weights not found at {_short(cache / file)}; download "
                                          f"{PYIQA_WEIGHTS_URL.format(file=file)} into {_short(cache)} "
                                          f"(or set {DOWNLOAD_ENV}=1 to let pyiqa fetch it)"))
            continue
        try:
            net = pyiqa.create_metric(pname, device=device, as_loss=False)
        except Exception as e:  # noqa: BLE001 - offline downloads, missing backbones, version skew
            msg = " ".join(str(e).split())[:160]
            missing.append(Unavailable(n, f"pyiqa could not create {pname!r} ({type(e).__name__}: {msg}); its "
                                          f"weights go to {_short(cache)}, backbones to the torch / Hugging "
                                          "Face caches (see docs/eval_sets.md)"))
            continue

        def to_t(a: np.ndarray) -> Any:
            return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float().div(255.0).to(device)

        def fn(pred: np.ndarray, gt: np.ndarray | None, _net: Any = net, _fr: bool = fr) -> float:
            with torch.no_grad():
                return float(_net(to_t(pred), to_t(gt)) if _fr else _net(to_t(pred)))

        out[n] = Metric(n, fr, lower, fn)
    return out, missing


def build_metrics(names: list[str], protocol: str = "rgb", scale: int = 1, crop_border: int | None = None,
                  device: str = "cpu") -> dict[str, Metric]:
    """Metric objects for ``names`` (see :func:`parse_metric_names`), in the given order.

    Raises :class:`UareError` if any of them is unavailable (see :func:`resolve_metrics` for the
    lenient form).
    """
    built, missing = resolve_metrics(names, protocol, scale, crop_border, device, require_one=False)
    if missing:
        if all(u.reason == NO_PYIQA for u in missing):
            raise UareError(PYIQA_HINT.format(names=", ".join(u.name for u in missing)))
        raise UareError("; ".join(u.line() for u in missing))
    return built


def resolve_metrics(names: list[str], protocol: str = "rgb", scale: int = 1, crop_border: int | None = None,
                    device: str = "cpu", require_one: bool = True) -> tuple[dict[str, Metric], list[Unavailable]]:
    """The metrics of ``names`` that can be computed here, in order, and the ones that cannot.

    With ``require_one``, raises :class:`UareError` (one line per metric, joined) when none can.
    """
    if protocol not in PROTOCOLS:
        raise UareError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    m = metrics_module() if any(n in CORE_FR or n in CORE_NR for n in names) else None
    kw = {"convention": protocol, "crop_border": crop_border, "scale": scale}
    out: dict[str, Metric] = {}
    for n in names:
        if n == "ms_ssim":
            # MS-SSIM is computed on luminance: Y of YCbCr for the Y protocols, pyiqa's YIQ for "rgb".
            cs = "yiq" if protocol == "rgb" else "ycbcr"
            out[n] = Metric(n, True, False, lambda p, g, _f=m.ms_ssim, _cs=cs: float(_f(p, g, color_space=_cs)))
        elif n in CORE_FR:
            f = getattr(m, n)
            out[n] = Metric(n, True, False, lambda p, g, _f=f: float(_f(p, g, **kw)))
        elif n in CORE_NR:
            f = getattr(m, n)
            out[n] = Metric(n, False, True, lambda p, g, _f=f: float(_f(p)))
        elif n == "color_shift":
            out[n] = Metric(n, True, True, color_shift)
    wanted = [n for n in names if n in PYIQA]
    missing: list[Unavailable] = []
    if wanted:
        built, missing = _pyiqa_metrics(wanted, device)
        out.update(built)
    if require_one and not out:
        raise UareError("no metric can be computed: " + "; ".join(u.line() for u in missing))
    return {n: out[n] for n in names if n in out}, missing
