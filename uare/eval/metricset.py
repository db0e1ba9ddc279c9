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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


def _pyiqa_metrics(names: list[str], device: str) -> dict[str, Metric]:
    try:
        import pyiqa
        import torch
    except ImportError:
        raise UareError(PYIQA_HINT.format(names=", ".join(names))) from None
    out: dict[str, Metric] = {}
    for n in names:
        pname, fr, lower = PYIQA[n]
        net = pyiqa.create_metric(pname, device=device, as_loss=False)

        def to_t(a: np.ndarray) -> Any:
            return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float().div(255.0).to(device)

        def fn(pred: np.ndarray, gt: np.ndarray | None, _net: Any = net, _fr: bool = fr) -> float:
            with torch.no_grad():
                return float(_net(to_t(pred), to_t(gt)) if _fr else _net(to_t(pred)))

        out[n] = Metric(n, fr, lower, fn)
    return out


def build_metrics(names: list[str], protocol: str = "rgb", scale: int = 1, crop_border: int | None = None,
                  device: str = "cpu") -> dict[str, Metric]:
    """Metric objects for ``names`` (see :func:`parse_metric_names`), in the given order."""
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
    if wanted:
        out.update(_pyiqa_metrics(wanted, device))
    return {n: out[n] for n in names}
