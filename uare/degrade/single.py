"""``single`` and ``multi`` pipelines: calibrated types at severity levels 1..5, in physical order."""

from __future__ import annotations

import numpy as np

from uare.degrade._array import from_float, make_rng, to_float
from uare.degrade.blur import defocus_blur, gaussian_blur, motion_blur
from uare.degrade.haze import add_haze
from uare.degrade.jpeg import jpeg_compress
from uare.degrade.lowlight import lowlight, sensor_noise
from uare.degrade.noise import add_gaussian_noise, add_poisson_noise
from uare.degrade.rain import add_rain
from uare.degrade.record import DegradationRecord, Step
from uare.degrade.resize import lowres, modcrop, sr_downsample
from uare.degrade.severity import SINGLE_CATEGORY, SINGLE_TYPES, level_params

#: The order in which a photo acquires degradations: the scene (rain, haze), the lens (blur),
#: the sampling (resolution), the exposure and the sensor (low light, noise), the codec (JPEG).
PHYSICAL_ORDER: tuple[str, ...] = ("rain", "haze", "blur", "lowres", "lowlight", "noise", "jpeg")


def apply_type(f: np.ndarray, single_type: str, level: int, rng: np.random.Generator) -> tuple[np.ndarray, list[Step]]:
    """Apply one calibrated type at ``level`` to a float image; the draws of ``rng`` do not depend on the level."""
    p = level_params(single_type, level)
    if single_type == "blur":
        out, step = gaussian_blur(f, p["sigma"])
    elif single_type == "motion_blur":
        out, step = motion_blur(f, p["length"], rng=rng)
    elif single_type == "defocus_blur":
        out, step = defocus_blur(f, p["radius"])
    elif single_type == "noise":
        out, step = add_gaussian_noise(f, p["sigma"], rng=rng)
    elif single_type == "poisson_noise":
        out, step = add_poisson_noise(f, p["scale"], rng=rng)
    elif single_type == "jpeg":
        out, step = jpeg_compress(f, int(p["quality"]))
    elif single_type == "lowres":
        out, step = lowres(f, p["factor"])
    elif single_type == "lowlight":
        out, step = lowlight(f, p["exposure"], p["gamma"])
        out, noise_step = sensor_noise(out, rng=rng)
        return out, [step, noise_step]
    elif single_type == "haze":
        out, step = add_haze(f, p["beta"], rng=rng)
    elif single_type == "rain":
        out, step = add_rain(f, p["density"], p["length"], rng=rng)
    else:  # level_params has already rejected unknown names
        raise AssertionError(single_type)
    return out, [step]


def _check_types(types: list[str]) -> None:
    unknown = [t for t in types if t not in SINGLE_TYPES]
    if unknown:
        raise ValueError(f"unknown degradation type(s) {', '.join(unknown)}; choose from {', '.join(SINGLE_TYPES)}")


def _start(img: np.ndarray, pipeline: str, seed, scale: int) -> tuple[np.ndarray, object, DegradationRecord]:
    if int(scale) != scale or scale not in (1, 2, 3, 4):
        raise ValueError(f"scale must be 1, 2, 3 or 4, got {scale}")
    arr = modcrop(np.asarray(img), int(scale))
    f, meta = to_float(arr)
    rec = DegradationRecord(pipeline, seed=seed if isinstance(seed, int) else None, scale=int(scale),
                            input_size=(f.shape[0], f.shape[1]))
    if arr.shape[:2] != np.asarray(img).shape[:2]:
        rec.notes.append(f"mod-cropped to {arr.shape[0]}x{arr.shape[1]} (multiple of scale {scale})")
    return f, meta, rec


def _finish(f: np.ndarray, meta, rec: DegradationRecord) -> tuple[np.ndarray, DegradationRecord]:
    if rec.scale > 1:
        f, step = sr_downsample(f, rec.scale)
        rec.add(step)
    rec.output_size = (f.shape[0], f.shape[1])
    return from_float(f, meta), rec


def _level(severity: int | None, rng: np.random.Generator, max_severity: int) -> int:
    if severity is None:
        return int(rng.integers(1, max_severity + 1))
    if int(severity) != severity or not 1 <= severity <= 5:
        raise ValueError(f"severity must be an integer 1..5, got {severity}")
    return int(severity)


def single(img: np.ndarray, single_type: str | None = None, severity: int | None = None, scale: int = 1,
           seed: int | np.random.Generator | None = 0, max_severity: int = 5) -> tuple[np.ndarray, DegradationRecord]:
    """One degradation type at a level 1..5 (random type / level when None), then SR down-sampling by ``scale``."""
    rng = make_rng(seed)
    f, meta, rec = _start(img, "single", seed, scale)
    if single_type is None:
        single_type = str(rng.choice(SINGLE_TYPES))
    _check_types([single_type])
    level = _level(severity, rng, max_severity)
    f, steps = apply_type(f, single_type, level, rng)
    for s in steps:
        s.params.setdefault("type", single_type)
        s.params.setdefault("level", level)
        rec.add(s)
    return _finish(f, meta, rec)


def order_types(types: list[str]) -> list[str]:
    """Sort types into :data:`PHYSICAL_ORDER` by their category."""
    return sorted(types, key=lambda t: PHYSICAL_ORDER.index(SINGLE_CATEGORY[t]))


def multi(img: np.ndarray, types: list[str] | None = None, severity: int | None = None, scale: int = 1,
          seed: int | np.random.Generator | None = 0, max_severity: int = 5,
          n_types: tuple[int, int] = (2, 3)) -> tuple[np.ndarray, DegradationRecord]:
    """2-3 types of different categories composed in physical order (blur -> noise -> JPEG, ...).

    With ``types=None`` the number of types is drawn from ``n_types`` and the types uniformly
    among categories; ``severity=None`` draws each type's level in 1..``max_severity``.
    """
    rng = make_rng(seed)
    f, meta, rec = _start(img, "multi", seed, scale)
    if types is None:
        n = int(rng.integers(n_types[0], n_types[1] + 1))
        cats = rng.choice(PHYSICAL_ORDER, size=n, replace=False)
        types = [str(rng.choice([t for t in SINGLE_TYPES if SINGLE_CATEGORY[t] == c])) for c in cats]
    types = list(types)
    _check_types(types)
    cats = [SINGLE_CATEGORY[t] for t in types]
    if len(set(cats)) != len(cats):
        raise ValueError(f"multi needs types of different categories, got {', '.join(types)}")
    for t in order_types(types):
        level = _level(severity, rng, max_severity)
        f, steps = apply_type(f, t, level, rng)
        for s in steps:
            s.params.setdefault("type", t)
            s.params.setdefault("level", level)
            rec.add(s)
    return _finish(f, meta, rec)
