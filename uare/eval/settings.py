"""The ten fixed restoration settings of ``uare bench restore``, built from the engine's operators.

Levels refer to :data:`uare.degrade.SINGLE_LEVELS`; ``multi`` applies all its types at one level
in physical order (blur -> low light -> noise -> JPEG). Every setting is seeded per image.

=====================  ===================================================================  =====  ==============
setting                degradation (engine call)                                            scale  tasks
=====================  ===================================================================  =====  ==============
noise_s25              single noise L4: Gaussian sigma 25 (RGB, independent channels)        1      denoise
blur_s2                single blur L3: Gaussian PSF sigma 2.0, 13x13, reflect-101 borders    1      deblur
jpeg_q20               single jpeg L4: libjpeg quality 20, 4:2:0                             1      jpeg
sr_x4                  sr_downsample x4: MATLAB-style antialiased bicubic (Pillow)            4      sr
lowlight               single lowlight L3: exposure 0.2, gamma 1.2 (linear light) + sensor   1      lowlight
                       noise (shot 4e-4, read 2e-3)
haze                   single haze L3: beta 0.9, grey airlight U[0.75, 0.95], depth proxy    1      dehaze
blur+noise             multi [blur, noise] L3: Gaussian sigma 2.0, then noise sigma 15       1      deblur, denoise
blur+jpeg              multi [blur, jpeg] L3: Gaussian sigma 2.0, then JPEG quality 30       1      deblur, jpeg
lowlight+noise+jpeg    multi [lowlight, noise, jpeg] L2: exposure 0.3, gamma 1.1, sensor     1      lowlight,
                       noise, Gaussian sigma 10, JPEG quality 50                                    denoise, jpeg
realesrgan_x4          realesrgan(scale 4): the Real-ESRGAN second-order pipeline            4      sr, denoise,
                                                                                                    jpeg
=====================  ===================================================================  =====  ==============

The ground truth is the clean image mod-cropped to a multiple of the scale. Settings tell
non-blind baselines the known parameters (``known``): PSF sigma, JPEG quality, noise sigma.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from uare.baselines.base import Setting
from uare.degrade import DegradationRecord, degrade, modcrop, sr_downsample

#: bump when a setting's definition changes, so cached degraded sets are rebuilt
SUITE_VERSION = 1


@dataclass(frozen=True)
class BenchSetting:
    """A fixed degradation plus the :class:`Setting` given to restorers."""

    name: str
    pipeline: str  # "single", "multi", "realesrgan" or "sr" (down-sampling only)
    types: tuple[str, ...]
    level: int | None
    scale: int
    tasks: tuple[str, ...]
    known: dict[str, float] = field(default_factory=dict)
    description: str = ""

    @property
    def setting(self) -> Setting:
        return Setting(self.name, self.tasks, self.scale, self.types, dict(self.known))

    def definition(self) -> dict[str, Any]:
        """Everything that determines the degraded bytes (the cache key)."""
        return {"name": self.name, "pipeline": self.pipeline, "types": list(self.types), "level": self.level,
                "scale": self.scale, "version": SUITE_VERSION}


SETTINGS: tuple[BenchSetting, ...] = (
    BenchSetting("noise_s25", "single", ("noise",), 4, 1, ("denoise",), {"noise_sigma": 25.0},
                 "Gaussian noise sigma 25"),
    BenchSetting("blur_s2", "single", ("blur",), 3, 1, ("deblur",), {"blur_sigma": 2.0},
                 "Gaussian blur sigma 2.0"),
    BenchSetting("jpeg_q20", "single", ("jpeg",), 4, 1, ("jpeg",), {"jpeg_quality": 20}, "JPEG quality 20"),
    BenchSetting("sr_x4", "sr", (), None, 4, ("sr",), {}, "x4 MATLAB-bicubic down-sampling"),
    BenchSetting("lowlight", "single", ("lowlight",), 3, 1, ("lowlight",), {},
                 "exposure 0.2, gamma 1.2, sensor noise"),
    BenchSetting("haze", "single", ("haze",), 3, 1, ("dehaze",), {}, "haze beta 0.9"),
    BenchSetting("blur+noise", "multi", ("blur", "noise"), 3, 1, ("deblur", "denoise"),
                 {"blur_sigma": 2.0, "noise_sigma": 15.0}, "blur sigma 2.0 + noise sigma 15"),
    BenchSetting("blur+jpeg", "multi", ("blur", "jpeg"), 3, 1, ("deblur", "jpeg"),
                 {"blur_sigma": 2.0, "jpeg_quality": 30}, "blur sigma 2.0 + JPEG q30"),
    BenchSetting("lowlight+noise+jpeg", "multi", ("lowlight", "noise", "jpeg"), 2, 1,
                 ("lowlight", "denoise", "jpeg"), {"noise_sigma": 10.0, "jpeg_quality": 50},
                 "exposure 0.3 gamma 1.1 + noise sigma 10 + JPEG q50"),
    BenchSetting("realesrgan_x4", "realesrgan", (), None, 4, ("sr", "denoise", "jpeg"), {},
                 "Real-ESRGAN second-order degradation, x4"),
)
SETTING_NAMES: tuple[str, ...] = tuple(s.name for s in SETTINGS)


def get_settings(names: str | list[str] | None) -> list[BenchSetting]:
    """Settings by comma-separated names (all when None or "all")."""
    if names is None or names == "all" or names == ["all"]:
        return list(SETTINGS)
    wanted = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    table = {s.name: s for s in SETTINGS}
    unknown = [n for n in wanted if n not in table]
    if unknown:
        from uare.errors import UareError

        raise UareError(f"unknown setting(s) {', '.join(unknown)}; choose from {', '.join(SETTING_NAMES)}")
    return [table[n] for n in wanted]


def image_seed(base_seed: int, setting: str, key: str) -> int:
    """The seed of one (setting, image): independent of which other images or settings are run."""
    return (zlib.crc32(f"{setting}/{key}".encode()) + int(base_seed)) % (2**31)


def make_pair(clean: np.ndarray, bs: BenchSetting, seed: int) -> tuple[np.ndarray, np.ndarray, DegradationRecord]:
    """(degraded input, ground truth, record) of one clean uint8 RGB image under a setting."""
    gt = np.ascontiguousarray(modcrop(clean, bs.scale))
    if bs.pipeline == "sr":
        lq, step = sr_downsample(gt, bs.scale)
        rec = DegradationRecord("sr", seed=seed, scale=bs.scale, input_size=gt.shape[:2],
                                output_size=lq.shape[:2])
        rec.add(step)
    elif bs.pipeline == "realesrgan":
        lq, rec = degrade(gt, "realesrgan", scale=bs.scale, seed=seed)
    else:
        lq, rec = degrade(gt, bs.pipeline, types=list(bs.types), severity=bs.level, scale=bs.scale, seed=seed)
    return lq, gt, rec
