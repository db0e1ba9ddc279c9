"""``UARE``: assess, compare, restore and enhance with one model.

"Assess, then restore": with ``assess=True`` the understanding expert first writes the four-part
analysis after the instruction; those tokens stay in the KV cache, and the generation expert then
runs the flow sampler over the restored image's latents attending to the image *and* the analysis.
With ``assess=False`` the image is generated right after a plain instruction, and
``analysis="..."`` puts the user's own (or edited) plan in the context instead.

Sequence formats are those of :mod:`uare.prompts`; sampling defaults come from the model folder's
``inference.json`` when it has one (see :class:`InferenceDefaults`).
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from uare import prompts
from uare.data.augment import chroma
from uare.data.items import VAE, Text, ViT
from uare.data.sequence import (
    ImagePrep,
    compare_sequence,
    describe_request,
    restore_sequence,
    score_request,
)
from uare.degrade.record import CATEGORIES
from uare.degrade.severity import severity_from_strength
from uare.degrade.types import CATEGORY_TABLE, MEAN_CHANGING
from uare.errors import UareError
from uare.infer.consistency import back_project
from uare.infer.dehaze import with_haze_prior
from uare.infer.images import ImageInput, Prepared, finish, prepare
from uare.infer.outputs import Assessment, Comparison, Restoration
from uare.infer.tiling import Window, process_tiled
from uare.io import DEFAULT_MAX_PIXELS
from uare.limits import MAX_STEPS, SELF_ENSEMBLE_VIEWS
from uare.metrics.color import color_shift
from uare.metrics.exposure import lowlight_headroom, luma_contrast
from uare.metrics.grid import jpeg_blockiness
from uare.model.checkpoint import Checkpoint, load_checkpoint, resolve_device, resolve_dtype
from uare.model.image_transforms import latent_patchify, latent_unpatchify
from uare.model.refiner import NAMED_HEADS, Refiner, RefinerBank, load_refiner, tone_transfer
from uare.model.sampler import LEGACY_INIT, FlowSampler
from uare.model.unified import Context
from uare.quality import LEVELS, expected_score, level_from_score, parse_description
from uare.quality.parse import parse_analysis
from uare.quality.words import SEVERITY_WORDS, severity_word
from uare.tasks import ENHANCE_TASKS, TASK_CATEGORY

#: Where the shipped default model lives inside the package.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "weights" / "uare-tiny"

Progress = Callable[[str, int, int], None]


#: the sampler settings ``inference.json`` used to keep at its top level (old folders still load)
_FLAT_SAMPLER_KEYS = ("steps", "timestep_shift", "cfg_text", "cfg_img", "cfg_interval", "cfg_renorm", "init",
                      "t_start", "source_noise")
#: what the exporter copies from the training config into ``trained_with`` (and inference must agree with)
TRAINED_WITH_KEYS = ("timestep_shift", "flow_source", "source_noise", "vit_max_size", "vit_min_size", "vit_native")


@dataclass
class InferenceDefaults:
    """Sampling and tiling defaults; a model folder may override them in ``inference.json``.

    ``sampler`` owns the generation settings (:class:`~uare.model.sampler.FlowSampler`). ``trained_with``
    records what the model was trained with (written by the exporter from the training config:
    timestep shift, flow source, source noise, ViT input sizes); a file whose sampler or ViT sizes
    contradict it is refused, so inference cannot drift from training.
    """

    sampler: FlowSampler = dataclasses.field(default_factory=FlowSampler)
    trained_with: dict = dataclasses.field(default_factory=dict)
    ensemble: int = 1  # 1, 2 (+ horizontal flip) or 4 (+ vertical, + both) generations averaged
    # Colour fix (as StableSR's for diffusion SR): for degradations that keep an image's local mean
    # colour (noise, blur, JPEG, down-sampling, rain), take the output's low frequencies (Gaussian,
    # this sigma in px) from the input, so a small model's global colour/contrast drift cannot leak
    # in. Applies to those tasks, and to "auto" when the assessment / analysis found no low light or
    # haze (the degradations that do change the mean). 0 = off.
    color_fix_sigma: float = 0.0
    tile: int = 512
    overlap: int = 64
    max_untiled_side: int = 768
    max_analysis_tokens: int = 200
    max_description_tokens: int = 80
    max_compare_tokens: int = 120
    # ViT input side range in px (0: the model's largest grid); a model trained on small crops at
    # native resolution (uare-tiny) says so here, so inference sees pixels at the scale it learnt.
    vit_max_size: int = 0
    vit_min_size: int = 224
    # >0: assess / compare an image larger than this through native-resolution crops of this size
    # (up to ``assess_crops``, spread over the image) and average, instead of one downsized view.
    assess_crop: int = 0
    assess_crops: int = 5
    # with assess_crop: views are cut to whole ViT patches, so the ViT sees the pixels unresized (for
    # models trained on patch-aligned IQA crops, data ``vit_native``)
    assess_native: bool = False
    # compare: score points worth one logit of the verdict (see UARE.compare)
    compare_score_scale: float = 0.1
    # "Do no harm": in blind mode (task auto, with an assessment) an image assessed at or above this
    # level is returned unchanged (restore(..., force=True) restores it anyway); "" = never.
    keep_level: str = "good"
    # Decode as input + D(z_out) - D(z_in): the autoencoder's own reconstruction error of the input
    # cancels, so a velocity of zero returns the input exactly and small corrections stay small
    # (for small AEs whose round trip costs more than a mild degradation does).
    residual_decode: bool = False
    # Per-category strength in [0, 1]: the output is input + s * (restored - input), s the largest
    # strength of the categories being treated (the named task's, or in blind mode those the assessment
    # and analysis found; unlisted categories have 1), so only an image whose every defect is one the
    # model cannot improve is held back. For a small model, measured on training images, such a category
    # gets less than 1 (0 = leave it alone) so it never makes those images worse.
    strength: dict[str, float] = dataclasses.field(default_factory=dict)
    # How images are prepared: "uare" (pad to the latent stride, the ViT transform on the image itself;
    # outputs keep the input's size, large images are tiled), "bagel" (BAGEL's interleave_inference: the
    # VAE transform -- long side <= 1024, short side >= 512, multiples of 16 -- first, then the ViT
    # transform on that result; the image is generated at that size and resized back to the requested
    # one), or "auto": bagel for BAGEL-format folders, uare otherwise.
    image_prep: str = "auto"
    # "mean": the VAE posterior mean (the same image always gives the same latent); "sample": a draw from
    # the posterior, seeded by the restoration's seed, as BAGEL encodes even at inference
    vae_posterior: str = "mean"
    # Models with an LQ-guided refiner (refiner.safetensors): 0 = the generation expert's output alone,
    # 1 = the refiner's full correction from the degraded input (``restore(fidelity=...)``, ``--fidelity``).
    fidelity: float = 1.0
    # With a named task, generate from the instruction alone when the written analysis does not find the
    # task's degradation (its plan would steer the generation elsewhere: uare-tiny's analysis of a dark
    # photo named "lowlight" could speak of JPEG and barely brighten it); the analysis is still returned.
    match_task: bool = False
    # Blind mode: ignore a "low light" diagnosis of an image that is not dark, or a "haze" one of a strongly
    # saturated or contrasty image (``_doubted``; saturated reds were assessed as underexposed and brightened,
    # -20 dB; a bright snow scene enlarged x4 was "dehazed", -5.5 dB)
    check_plan: bool = False
    # Colour check (do no harm): a mean-keeping restoration (denoise, deblur, JPEG, SR, or blind with no low
    # light / haze found) whose output's mean colour (CIELAB a*b*) moves more than this from the input's is
    # blended halfway back, and returned as the input if still too far, with a note. 0 = off.
    max_color_shift: float = 0.0
    # JPEG blocking measured on the input (``uare.metrics.grid.jpeg_blockiness`` at or above this) that the
    # description missed or rated milder joins the model's findings (the description is then rendered from
    # them, in its own phrasing), with the severity the grid strength suggests and ``"source": "measured"``;
    # a blind restoration treats it, and the do-no-harm gate lets it through. uare-tiny: 1.25 --
    # no clean / noisy / blurred / bicubic-enlarged training image reaches 1.2, 97 % of quality-20 JPEGs
    # pass 1.3; 3 of the bench's 12 x4-down-sampled inputs reach 1.24 (its assessment does not see JPEG).
    # 0 = off.
    jpeg_blockiness: float = 0.0
    # Underexposure measured on the input: an image whose brightest pixels stay dark -- the 99.5th
    # percentile of max(R, G, B) below this -- is underexposed (no highlight reaches this share of full
    # scale in any channel). If the description missed it or rated it milder, it joins the findings like
    # measured JPEG (severity from the same statistic, ``"source": "measured"``): a blind restoration
    # brightens it and the do-no-harm gate lets it through. uare-tiny: 0.52 -- above every training image
    # darkened at the engine's level 3 (max 0.510), below all but 2 of the 691 clean training images (none
    # of the 211 clean test images; ``benchmarks/lowlight_headroom.py``). Saturated colour keeps max(R, G, B) high, so
    # a deep red is not "dark". 0 = off.
    lowlight_headroom: float = 0.0
    # Dehazing (named, or blind haze not doubted): blend in up to this share of the dark-channel prior's
    # inversion of the input (``uare.infer.dehaze``), the share growing as the input looks washed out (its
    # median dark channel near its brightness, little contrast), and none on a contrasty image (luma std at
    # least ``HAZE_MAX_CONTRAST``, where DCP reads bright content as haze). The generation removes about the same
    # haze from every image, DCP what the dark channel says; their errors mostly have opposite signs.
    # uare-tiny: 0.5 (``benchmarks/haze_prior.py``). 0 = off.
    haze_prior: float = 0.0
    # Named ``--task sr`` with a scale: this many rounds of back-projection toward the input
    # (``uare.infer.consistency``), so that its bicubic down-sampling reproduces the input. Not in blind mode:
    # on Real-ESRGAN-degraded inputs the model rates "low resolution" only, it put their noise back (bench
    # realesrgan_x4 -0.03 dB). uare-tiny: 5 (+0.1 dB on 25 x4 training images, +0.07 on the bench). 0 = off.
    back_projection: int = 0
    # Geometric self-ensemble of the LQ-guided heads (``restore(self_ensemble=...)``, ``--self-ensemble``): run
    # them on this many flipped / rotated views of the input (1, 2, 4 or 8; ``uare.model.refiner.VIEWS``) and
    # average the results turned back. Each view costs one more pass of the heads. uare-tiny: 2.
    self_ensemble: int = 1
    # Write a restoration's analysis from its assessment (``prompts.analysis_from_assessment``): the quality
    # analysis states the assessment's level, score and degradations (what ``assess`` reports), the plan
    # is the named task's step or, blind, a step per degradation found (an upscale only when scale > 1),
    # and the model writes the expected result. Off: the model writes everything after the stated score.
    plan_from_assessment: bool = False
    # Sub-type words the model may write, per category ({"noise": ["sensor"], "blur": []}): a kind not
    # listed for its category is written with the category's own word ("strong noise", "mild blur"), in the
    # description and everything written from it. Empty = every word. uare-tiny's list comes from the
    # sub-type accuracy per word measured on held-out images (``benchmarks/kind_words.py``).
    kind_words: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    @property
    def steps(self) -> int:
        return self.sampler.steps

    @classmethod
    def from_folder(cls, folder: Path) -> InferenceDefaults:
        """The folder's ``inference.json`` over the defaults (the defaults alone when there is none)."""
        path = folder / "inference.json"
        return cls.from_file(path) if path.is_file() else cls()

    @classmethod
    def from_file(cls, path: Path) -> InferenceDefaults:
        """Read and validate an ``inference.json`` (unknown keys and bad values raise :class:`UareError`)."""
        return cls.from_dict(read_inference_json(path), path)

    @classmethod
    def from_dict(cls, d: dict, path: Path | str = "inference.json") -> InferenceDefaults:
        """Validate a parsed ``inference.json`` (see :meth:`from_file`)."""
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)} | set(_FLAT_SAMPLER_KEYS)
        unknown = sorted(set(d) - known)
        if unknown:
            raise UareError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        d = nest_sampler(d, path)
        sampler = d.pop("sampler", {})
        ref = FlowSampler()
        unknown = sorted(set(sampler) - set(ref.to_dict()))
        if unknown:
            raise UareError(f"{path}: unknown sampler key(s) {', '.join(unknown)}; known: "
                            f"{', '.join(ref.to_dict())}")
        _check_types(ref, sampler, path, _SAMPLER_RANGES, "sampler.")
        try:  # the sampler's own checks (flow source, renorm, ...)
            flow = ref.replace(**sampler)
        except ValueError as e:
            raise UareError(f"{path}: sampler.{e}") from None
        _check_types(cls(), d, path, _RANGES)
        if "self_ensemble" in d and d["self_ensemble"] not in SELF_ENSEMBLE_VIEWS:
            raise UareError(f"{path}: self_ensemble must be one of {', '.join(map(str, SELF_ENSEMBLE_VIEWS))}, "
                            f"got {d['self_ensemble']!r}")
        bad = {k: v for k, v in d.get("strength", {}).items()
               if k not in CATEGORIES or not isinstance(v, int | float) or not 0.0 <= v <= 1.0}
        if bad:
            raise UareError(f"{path}: strength must map categories ({', '.join(CATEGORIES)}) to numbers in "
                            f"[0, 1], got {bad}")
        kinds = {c.name: c.kinds for c in CATEGORY_TABLE}
        bad = {k: v for k, v in d.get("kind_words", {}).items()
               if k not in kinds or not isinstance(v, list) or not set(v) <= set(kinds[k])}
        if bad:
            raise UareError(f"{path}: kind_words must map categories to lists of their kinds (e.g. "
                            f"{{\"noise\": [\"sensor\"]}}; noise kinds: {', '.join(kinds['noise'])}), got {bad}")
        for k, choices in (("image_prep", ("auto", "uare", "bagel")), ("vae_posterior", ("mean", "sample"))):
            if d.get(k, choices[0]) not in choices:
                raise UareError(f"{path}: {k} must be one of {', '.join(choices)}, got {d[k]!r}")
        if d.get("keep_level", "") not in ("", *LEVELS):
            raise UareError(f"{path}: keep_level must be one of {', '.join(LEVELS)} or \"\", got {d['keep_level']!r}")
        out = cls(**d, sampler=flow)
        _check_trained_with(out, path)
        return out

    def to_dict(self) -> dict:
        """The ``inference.json`` object of these defaults (nested sampler)."""
        d = dataclasses.asdict(self)
        d["sampler"] = self.sampler.to_dict()
        return d


def read_inference_json(path: Path | str) -> dict:
    """The object of an ``inference.json`` file, unvalidated; one-line :class:`UareError` when it is not one."""
    try:
        d = json.loads(Path(path).read_text())
    except OSError as e:
        raise UareError(f"{path}: cannot read it ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise UareError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); fix or delete the file") from None
    if not isinstance(d, dict):
        raise UareError(f"{path}: expected a JSON object of inference defaults")
    return d


def nest_sampler(d: dict, path: Path | str = "inference.json") -> dict:
    """A copy of an ``inference.json`` object with the sampler settings older files keep at the top level
    (``steps``, ``timestep_shift``, ``init``, ...) moved into ``sampler`` (``init`` becomes ``flow_source``:
    source -> degraded, degraded -> sdedit); the values are type-checked under the name the file used."""
    d = dict(d)
    sampler = d.pop("sampler", {})
    if not isinstance(sampler, dict):
        raise UareError(f"{path}: sampler must be an object of sampler settings like {{\"steps\": 20}}")
    flat = {k: d.pop(k) for k in _FLAT_SAMPLER_KEYS if k in d}
    both = sorted(set(flat) & set(sampler) | ({"init"} & set(flat) if "flow_source" in sampler else set()))
    if both:
        raise UareError(f"{path}: {', '.join(both)} given both at the top level and in sampler; keep one")
    if "init" in flat:  # the old name of flow_source, with the old value names
        init = flat.pop("init")
        if init not in LEGACY_INIT:
            raise UareError(f"{path}: init must be noise, degraded or source, got {init!r}")
        flat["flow_source"] = LEGACY_INIT[init]
    _check_types(FlowSampler(), flat, path, _SAMPLER_RANGES)
    if flat or sampler:
        d["sampler"] = {**flat, **sampler}
    return d


def _check_trained_with(d: InferenceDefaults, path: Path | str) -> None:
    """Inference settings that must equal what the model was trained with (``trained_with``)."""
    tw = d.trained_with
    unknown = sorted(set(tw) - set(TRAINED_WITH_KEYS) - {"stage", "config", "step"})
    if unknown:
        raise UareError(f"{path}: unknown trained_with key(s) {', '.join(unknown)}; known: "
                        f"{', '.join(TRAINED_WITH_KEYS)}, stage, config, step")
    s = d.sampler
    if "flow_source" in tw:
        ok = s.flow_source == "degraded" if tw["flow_source"] == "degraded" else s.flow_source in ("noise", "sdedit")
        if not ok:
            raise UareError(f"{path}: sampler.flow_source {s.flow_source} cannot sample a model trained with "
                            f"flow_source {tw['flow_source']}; use "
                            f"{'degraded' if tw['flow_source'] == 'degraded' else 'noise or sdedit'}")
    pairs = [("source_noise", s.source_noise if s.flow_source == "degraded" else None),
             ("vit_max_size", d.vit_max_size), ("vit_min_size", d.vit_min_size), ("vit_native", d.assess_native)]
    for k, have in pairs:
        if k in tw and have is not None and have != tw[k]:
            raise UareError(f"{path}: {k} {have} differs from the {tw[k]} the model was trained with "
                            f"(trained_with.{k}); inference must see what training saw")


#: numeric ranges of inference.json fields: (low, high), inclusive, None = open
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "ensemble": (1, 4), "color_fix_sigma": (0, 64), "fidelity": (0, 1), "max_color_shift": (0, 100), "jpeg_blockiness": (0, 100),
    "lowlight_headroom": (0, 1), "haze_prior": (0, 1), "back_projection": (0, 50),
    "self_ensemble": (1, 8),
    "tile": (0, 4096), "overlap": (0, 4096), "max_untiled_side": (16, 4096), "max_analysis_tokens": (1, 4096),
    "max_description_tokens": (1, 4096), "max_compare_tokens": (1, 4096), "vit_max_size": (0, 4096),
    "vit_min_size": (0, 4096), "assess_crop": (0, 4096), "assess_crops": (1, 9), "compare_score_scale": (1e-6, None),
}
_SAMPLER_RANGES: dict[str, tuple[float | None, float | None]] = {
    "steps": (1, MAX_STEPS), "timestep_shift": (1e-6, None), "cfg_text": (0, None), "cfg_img": (0, None),
    "t_start": (1e-6, 1), "source_noise": (0, None), "cfg_renorm_min": (0, 1),
}


def _check_types(defaults: object, d: dict, path: Path | str, ranges: dict, prefix: str = "") -> None:
    """Each value of an inference.json must have its field's type and lie in its range."""
    import math

    for k, v in d.items():
        ref = getattr(defaults, k)
        if isinstance(ref, bool):
            ok = isinstance(v, bool)
        elif isinstance(ref, int):
            ok = isinstance(v, int) and not isinstance(v, bool)
        elif isinstance(ref, float):
            ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        elif isinstance(ref, str):
            ok = isinstance(v, str)
        elif isinstance(ref, tuple):
            ok = isinstance(v, list | tuple) and len(v) == len(ref) and all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in v)
        else:
            ok = isinstance(v, dict)
        if not ok:
            raise UareError(f"{path}: {prefix}{k} must be {type(ref).__name__} like {ref!r}, got {v!r}")
        lo, hi = ranges.get(k, (None, None))
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise UareError(f"{path}: {prefix}{k} must be in [{lo}, {'inf' if hi is None else hi}], got {v!r}")


def check_self_ensemble(value: int) -> int:
    """``value`` as a self-ensemble view count (1, 2, 4 or 8), or a one-line :class:`UareError`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) not in SELF_ENSEMBLE_VIEWS:
        raise UareError(f"self-ensemble must be one of {', '.join(map(str, SELF_ENSEMBLE_VIEWS))} views (1 = off), "
                        f"got {value!r}")
    return int(value)


def check_fidelity(value: float) -> float:
    """``value`` as a fidelity weight in [0, 1], or a one-line :class:`UareError`."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise UareError(f"fidelity must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= v <= 1.0:  # NaN fails too
        raise UareError(f"fidelity must be in [0, 1] (0 = generated only, 1 = fully guided by the input), got {value!r}")
    return v


@dataclass
class RestoreJob:
    """One restoration between the stages of :meth:`UARE.restore`: what was asked, prepared and planned."""

    prep: Prepared
    lq: np.ndarray  # the input at the output size, float RGB (bicubic-enlarged when scale > 1)
    src: np.ndarray  # what is generated: lq, or its BAGEL-prepared copy
    task: str
    scale: int
    sampler: FlowSampler
    seed: int
    tile: int
    overlap: int
    instr_text: str
    assessment: Assessment | None
    plan_text: str | None
    fidelity: float
    notes: list[str]
    t0: float
    views: int = 1  # the heads' self-ensemble (InferenceDefaults.self_ensemble)
    kept: bool = False  # the do-no-harm gate returned the input
    unchanged: str | None = None  # why the output is the input, and the way out (Restoration.unchanged)
    condition: bool = True  # whether the generation attends to the analysis (see InferenceDefaults.match_task)
    doubted: set[str] = dataclasses.field(default_factory=set)  # blind diagnoses the input contradicts
    untreated: set[str] = dataclasses.field(default_factory=set)  # found, stated, deliberately not treated

    @property
    def skipped(self) -> set[str]:
        """Categories found but not treated: doubted (contradicted by the image) or untreated."""
        return self.doubted | self.untreated


class UARE:
    """One model for image quality assessment, comparison, restoration and enhancement."""

    def __init__(self, checkpoint: Checkpoint, defaults: InferenceDefaults | None = None, is_random: bool = False,
                 refiner: Refiner | RefinerBank | None = None):
        self.ck = checkpoint
        self.refiner = refiner  # the LQ-guided pixel decoder of the folder (uare.model.refiner), if any
        self.model = checkpoint.model
        self.vae = checkpoint.vae
        # On the CPU the autoencoder's convolutions run 1.5-3x faster in channels-last (NHWC) layout
        # (oneDNN); values agree to ~4e-7. Other devices keep their default layout.
        self._nhwc = next(self.vae.parameters()).device.type == "cpu"
        if self._nhwc:
            self.vae = self.vae.to(memory_format=torch.channels_last)
        self.tokenizer = checkpoint.tokenizer
        self.special = checkpoint.tokenizer.special
        self.config = checkpoint.config
        self.defaults = defaults or InferenceDefaults()
        self.is_random = is_random
        self._level_ids = self.tokenizer.level_ids(LEVELS)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str | torch.device | None = "cpu",
                        dtype: str | torch.dtype | None = "fp32", revision: str | None = None) -> UARE:
        """Load a BAGEL or uare checkpoint folder or Hub id; ``None`` means the shipped default model.

        ``path`` may be a Hugging Face Hub id ``ORG/NAME[@REVISION]`` (or ``revision=``): resolved into
        the Hub's cache with the ``hub`` extra, and from that cache alone when ``HF_HUB_OFFLINE=1``
        (see :mod:`uare.hub`). A name that exists on disk is always the local folder.

        The default is uare-tiny, shipped inside the package (``uare/weights/uare-tiny``, see its
        MODEL_CARD.md). Should that folder be missing (a stripped install), ``None`` builds a *random*
        tiny model (seed 0) and warns: its outputs are meaningless, but every code path runs.
        """
        if path is None:
            if (DEFAULT_MODEL_DIR / "config.json").is_file():
                path = DEFAULT_MODEL_DIR
            else:
                warnings.warn(f"the shipped uare-tiny weights are missing ({DEFAULT_MODEL_DIR}): using a RANDOM tiny "
                              "model (outputs are meaningless); pass --model DIR for a real checkpoint",
                              stacklevel=2)
                return cls(_random_default(device, dtype), InferenceDefaults(FlowSampler(steps=8)), is_random=True)
        from uare.hub import resolve_model

        folder = resolve_model(path, revision)
        ck = load_checkpoint(folder, device=device, dtype=dtype)
        return cls(ck, InferenceDefaults.from_folder(folder), refiner=load_refiner(folder, ck.model.device))

    @property
    def device(self) -> torch.device:
        return self.model.device

    # ------------------------------------------------------------------ building blocks
    def _ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    @property
    def prep(self) -> ImagePrep:
        """How images become model input (:class:`~uare.data.sequence.ImagePrep`, shared with training)."""
        return ImagePrep.from_model(self.config, self.defaults.vit_max_size, self.defaults.vit_min_size,
                                    bagel=self.bagel_prep)

    @property
    def bagel_prep(self) -> bool:
        """Whether images are prepared as BAGEL prepares them (``InferenceDefaults.image_prep``)."""
        mode = self.defaults.image_prep
        return mode == "bagel" or (mode == "auto" and self.ck.format == "bagel")

    def _prefill(self, ctx: Context, items: list, posterior: torch.Generator | None = None
                 ) -> tuple[Context, list[tuple[torch.Tensor, tuple[int, int]]]]:
        """Run a built sequence (:mod:`uare.data.sequence`) into ``ctx``; returns it and the latent
        tokens and grids of its VAE images."""
        latents = []
        for it in items:
            if isinstance(it, Text):
                ctx = self.model.prefill_text(ctx, it.ids, self.special)
            elif isinstance(it, ViT):
                ctx = self.model.prefill_vit(ctx, it.patches, it.grid, self.special)
            elif isinstance(it, VAE):
                tokens, grid = self._encode(it.pixels, posterior)
                ctx = self.model.prefill_vae(ctx, tokens, grid, self.special)
                latents.append((tokens, grid))
            else:
                raise TypeError(f"cannot prefill a {type(it).__name__}")
        return ctx, latents

    def _posterior(self, seed: int, *where: int) -> torch.Generator | None:
        """With ``vae_posterior: sample``, the generator of one encoding: a pure function of the seed and
        of where it happens (analysis pass, tile, flipped view), so no draw depends on another."""
        if self.defaults.vae_posterior != "sample":
            return None
        key = np.random.SeedSequence([int(seed), *[int(w) for w in where]]).generate_state(1, np.uint64)[0] >> 1
        return torch.Generator(self.device).manual_seed(int(key))

    def _encode(self, pixels: torch.Tensor, posterior: torch.Generator | None = None
                ) -> tuple[torch.Tensor, tuple[int, int]]:
        """VAE pixels ``[3, H, W]`` in [-1, 1] -> latent tokens [h*w, p*p*z] and their grid."""
        x = pixels[None].to(self.device, self.vae.encoder.conv_in.weight.dtype)
        if self._nhwc:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            z = self.vae.encode(x, sample=posterior is not None, generator=posterior)[0].float()
        p = self.config.latent_patch_size
        return latent_patchify(z, p), (z.shape[1] // p, z.shape[2] // p)

    def _decode(self, tokens: torch.Tensor, grid: tuple[int, int]) -> np.ndarray:
        p, c = self.config.latent_patch_size, self.config.latent_channels
        z = latent_unpatchify(tokens, grid[0], grid[1], p, c)[None]
        if self._nhwc:
            z = z.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            x = self.vae.decode(z.to(self.vae.encoder.conv_in.weight.dtype))
        return ((x[0].float().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).cpu().numpy()

    # ------------------------------------------------------------------ assess / compare
    @torch.no_grad()
    def assess(self, image: ImageInput, describe: bool = True, max_pixels: int | None = DEFAULT_MAX_PIXELS
               ) -> Assessment:
        """Score (expected value over the five level words, Q-Align style) and describe the quality.

        The level is the documented bin of the score (:func:`uare.quality.level_from_score`), and the
        description is written after a prefix that states both, so the text always agrees with them.
        """
        prep = image if isinstance(image, Prepared) else prepare(image, max_pixels)
        # score_sequence / describe_sequence of each view: the image once, shared by both requests
        image_prep = self.prep
        vit_ctxs = [self._prefill(Context(), [image_prep.vit(view)])[0] for view in self._views(prep.rgb)]
        question = score_request(self.tokenizer)
        probs_all = []
        for ctx_view in vit_ctxs:
            ctx_s, _ = self._prefill(ctx_view, question)
            logits = self.model.next_token_logits(ctx_s, self._ids(prompts.SCORE_PREFIX), self.special)
            probs_all.append(torch.softmax(logits[self._level_ids], dim=0))
        probs = torch.stack(probs_all).mean(0).tolist()
        level_probs = {lv: round(float(p), 6) for lv, p in zip(LEVELS, probs, strict=True)}
        score = round(float(expected_score(level_probs)), 4)
        level = level_from_score(round(score, 2))
        text, degradations = "", []
        if describe:
            # written from the first (central) view
            request = describe_request(self.tokenizer, prompts.describe_instruction())
            text = self._write(self._prefill(vit_ctxs[0], request)[0], None, prompts.description_prefix(level, score),
                               self.defaults.max_description_tokens)
            degradations = _parse_degradations(text)
            found = _checked_findings(degradations, prep.rgb, self.defaults)
            if found != degradations:  # re-stated from the checked findings, in the description's own phrasing
                degradations, text = found, prompts.description_from(level, score, found)
        return Assessment(score, level, level_probs, degradations, text)

    def _write(self, ctx: Context, request: str | list[int] | None, prefix: str, max_tokens: int) -> str:
        """Prefill ``request`` (if any), then let the model continue ``prefix``; returns prefix + continuation."""
        if request is not None:
            ids = request if isinstance(request, list) else self._ids(request)
            ctx = self.model.prefill_text(ctx, ids, self.special)
        pre = self._ids(prefix)
        out = self.model.generate_text(ctx, self.special, max_tokens, prefix=pre)
        return self.tokenizer.decode(pre + out.ids).strip()

    @torch.no_grad()
    def compare(self, a: ImageInput, b: ImageInput, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Comparison:
        """Which image is better, and why.

        Two readings of the model are combined, in log-odds: the pairwise head (the likelihood margin of
        the two canonical verdicts "The first/second image is better" with both images in context, read
        in both orders and averaged, so it is antisymmetric) and the two images' scores from
        :meth:`assess`, ``(score_a - score_b) / compare_score_scale``. On training pairs (bsd200 crops,
        single degradations at least one level apart) the head alone ranked 80.6 %, the scores 87.1 %, the
        sum 87.1 %: the scores decide, the head breaks near-ties. ``compare(b, a)`` is exactly the mirror of
        ``compare(a, b)``. The text states the verdict with both scores, then the model writes the reasons.
        """
        pa, pb = prepare(a, max_pixels), prepare(b, max_pixels)
        views_a, views_b = self._views(pa.rgb), self._views(pb.rgb)
        first = self._ids("The first image is better")
        second = self._ids("The second image is better")
        request = prompts.compare_instruction()

        def margin(x: np.ndarray, y: np.ndarray) -> tuple[float, Context]:
            c, _ = self._prefill(Context(), compare_sequence(self.tokenizer, self.prep, x, y, request))
            return (self.model.continuation_logprob(c, first, self.special)
                    - self.model.continuation_logprob(c, second, self.special)), c

        ab = [margin(va, vb) for va, vb in zip(views_a, views_b, strict=False)]
        ba = [margin(vb, va) for va, vb in zip(views_a, views_b, strict=False)]
        head = 0.5 * (float(np.mean([x for x, _ in ab])) - float(np.mean([x for x, _ in ba])))
        sa, sb = self.assess(pa, describe=False).score, self.assess(pb, describe=False).score
        z = head + (sa - sb) / self.defaults.compare_score_scale
        p_first = float(torch.sigmoid(torch.tensor(z)))
        preferred = "first" if z >= 0 else "second"
        prefix = prompts.verdict_prefix(preferred, sa, sb)
        if (sa - sb) * z < 0:  # the head overruled a near-tie of the scores: do not state them
            prefix = prefix.split(" (", 1)[0] + ":"
        text = self._write(ab[0][1], None, prefix, self.defaults.max_compare_tokens)
        return Comparison(preferred, round(max(p_first, 1 - p_first), 6), text)

    def _views(self, rgb: np.ndarray) -> list[np.ndarray]:
        """What the ViT sees for assessment: the whole image, or (``assess_crop``) native-resolution crops.

        The centre crop first, then the corners and the quarter points; positions are relative, so the
        two images of a comparison are viewed at the same places even when their sizes differ.
        """
        c, n = self.defaults.assess_crop, self.defaults.assess_crops
        h, w = rgb.shape[:2]
        p = self.config.vit.patch_size
        if c <= 0:
            return [rgb]
        if max(h, w) <= c:
            # native mode: cut the image down to whole patches (at most p - 1 px a side) instead of
            # letting the ViT resize it; images too small for min_size are left to the resize
            hh, ww = h // p * p, w // p * p
            if not self.defaults.assess_native or min(hh, ww) < self.defaults.vit_min_size:
                return [rgb]
            y, x = (h - hh) // 2, (w - ww) // 2
            return [rgb[y:y + hh, x:x + ww]]
        ch, cw = min(c, h), min(c, w)
        if self.defaults.assess_native:
            ch, cw = max(p, ch // p * p), max(p, cw // p * p)
        rel = [(0.5, 0.5)] + [(fy, fx) for fy in (0.0, 1.0) for fx in (0.0, 1.0)]
        rel += [(fy, fx) for fy in (0.25, 0.75) for fx in (0.25, 0.75)]
        out = []
        for fy, fx in rel[: max(1, n)]:
            y, x = round(fy * (h - ch)), round(fx * (w - cw))
            out.append(rgb[y:y + ch, x:x + cw])
        return out

    # ------------------------------------------------------------------ restore
    def _context(self, lq: np.ndarray, instr: str, analysis: list[int] | None,
                 posterior: torch.Generator | None = None) -> tuple[Context, ...]:
        """Conditional context I, V, T(instruction)[, T(analysis)] (:func:`~uare.data.sequence.restore_sequence`),
        the context of the images alone (text guidance's), and the input's latent tokens and grid."""
        seq = restore_sequence(self.tokenizer, self.prep, lq, instr)
        ctx_img, [(tokens, grid)] = self._prefill(Context(), seq[:2], posterior)
        ctx, _ = self._prefill(ctx_img, seq[2:])
        if analysis is not None:
            ctx = self.model.prefill_text(ctx, analysis, self.special)
        return ctx, ctx_img, tokens, grid

    def _img_uncond(self, instr: list[int], analysis: list[int] | None) -> Context:
        ctx = self.model.prefill_text(Context(), instr, self.special)
        return self.model.prefill_text(ctx, analysis, self.special) if analysis is not None else ctx

    @torch.no_grad()
    def restore(self, image: ImageInput, task: str = "auto", scale: int = 1, assess: bool = True,
                analysis: str | None = None, steps: int | None = None, cfg_text: float | None = None,
                cfg_img: float | None = None, seed: int = 0, tile: int | None = None, overlap: int | None = None,
                timestep_shift: float | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                progress: Progress | None = None, force: bool = False, sampler: FlowSampler | None = None,
                fidelity: float | None = None, self_ensemble: int | None = None) -> Restoration:
        """Restore (or super-resolve by ``scale``) an image; see the module docstring for ``assess`` / ``analysis``.

        Three stages, as a diffusers pipeline splits its call: :meth:`plan_restoration` (checks, the
        assessment, the do-no-harm gate, the written analysis), :meth:`generate` (the flow sampler over
        the latents, in tiles for large images) and :meth:`finish_restoration` (the LQ-guided refiner,
        strength, colour fix and the colour check).

        Images whose output side exceeds the model's untiled limit are processed in overlapping tiles
        of ``tile`` px (default from the model); the analysis is written once for the whole image.

        Do no harm: in blind mode (``task="auto"`` with ``assess``), an image the assessment rates at or
        above the model's ``keep_level`` (uare-tiny: good) comes back unchanged (up-scaled bicubic when
        ``scale`` > 1) and ``notes`` says so; ``force=True`` restores it anyway. A mean-keeping
        restoration whose output's mean colour moves further than ``max_color_shift`` from the input's
        is blended back (and, failing that, returned as the input) with a note.

        ``fidelity`` (models with a refiner, :mod:`uare.model.refiner`): 0 = the generation expert's
        output alone, 1 = fully guided by the degraded input (default from ``inference.json``).
        ``self_ensemble`` (models with a bank of heads): average the heads over 1, 2, 4 or 8 flipped / rotated
        views of the input (default from ``inference.json``; each view is one more pass of the heads).
        """
        job = self.plan_restoration(image, task, scale, assess, analysis, steps, cfg_text, cfg_img, seed, tile,
                                    overlap, timestep_shift, max_pixels, force, sampler, fidelity, self_ensemble)
        if job.kept:
            return self._result(job, finish(job.lq, _rescaled(job.prep, job.scale)), 0)
        if self.heads_alone(job) is not None:  # the generation would be blended out: not computed
            out = self.finish_restoration(job, None, progress)
            return self._result(job, finish(out, _rescaled(job.prep, job.scale)), 1)
        out, n_tiles, tstats = self.generate(job, progress)
        out = self.finish_restoration(job, out)
        return self._result(job, finish(out, _rescaled(job.prep, job.scale)), n_tiles, tstats)

    def plan_restoration(self, image: ImageInput, task: str = "auto", scale: int = 1, assess: bool = True,
                         analysis: str | None = None, steps: int | None = None, cfg_text: float | None = None,
                         cfg_img: float | None = None, seed: int = 0, tile: int | None = None,
                         overlap: int | None = None, timestep_shift: float | None = None,
                         max_pixels: int | None = DEFAULT_MAX_PIXELS, force: bool = False,
                         sampler: FlowSampler | None = None, fidelity: float | None = None,
                         self_ensemble: int | None = None) -> RestoreJob:
        """Stage 1 of :meth:`restore`: check the arguments, prepare the input, assess, apply the do-no-harm
        gate and write the analysis. Returns the :class:`RestoreJob` the next stages run."""
        t0 = time.perf_counter()
        d = self.defaults
        if task not in prompts.RESTORE_TASKS:
            raise UareError(f"unknown task {task!r}; choose from {', '.join(prompts.RESTORE_TASKS)}")
        if scale not in (1, 2, 4):
            raise UareError(f"scale must be 1, 2 or 4, got {scale}")
        fidelity = check_fidelity(d.fidelity if fidelity is None else fidelity)
        views = check_self_ensemble(d.self_ensemble if self_ensemble is None else self_ensemble)
        try:  # the sampler checks the values (e.g. "steps must be >= 1, got 0")
            sampler = (sampler or d.sampler).replace(
                steps=None if steps is None else int(steps), cfg_text=None if cfg_text is None else float(cfg_text),
                cfg_img=None if cfg_img is None else float(cfg_img),
                timestep_shift=None if timestep_shift is None else float(timestep_shift))
        except ValueError as e:
            raise UareError(str(e)) from None
        prep = prepare(image, max_pixels)
        h, w = prep.rgb.shape[:2]
        ho, wo = h * scale, w * scale
        if max_pixels is not None and ho * wo > max_pixels:
            raise UareError(f"output of {wo}x{ho} exceeds the {max_pixels:,}-pixel limit; lower --scale or raise "
                            "--max-pixels")
        lq = prep.rgb if scale == 1 else cv2.resize(prep.rgb, (wo, ho), interpolation=cv2.INTER_CUBIC)
        lq = np.clip(lq, 0, 1)
        tok = self.config.latent_downsample  # pixels per generation token (16 for BAGEL, 8 for uare-tiny)
        limit = self.config.max_latent_size * tok
        asked_tile, notes = tile, list(prep.notes)
        tile = int(tile if tile is not None else (d.tile if max(ho, wo) > d.max_untiled_side else 0))
        overlap = int(overlap if overlap is not None else d.overlap)
        if tile == 0 and max(ho, wo) > limit:
            tile = min(d.tile, limit - 16)
        src = lq  # what is generated: the image itself, or (BAGEL's preparation) its VAE-resized copy
        if self.bagel_prep:
            src, tile = self.prep.vae_resize(lq), 0
            if asked_tile:
                notes.append("tiling is off with BAGEL's image preparation (the image is generated whole, "
                             "at the VAE transform's size); image_prep: uare in inference.json tiles")
        if tile and (tile % 16 or tile > limit - 16):
            # edge tiles stretch by up to 15 px, and must still fit the latent position table
            raise UareError(f"--tile must be a multiple of 16 and at most {limit - 16}, got {tile}")
        instr_text = prompts.restore_instruction(task, scale)
        assessment = self.assess(prep) if assess and analysis is None else None
        job = RestoreJob(prep=prep, lq=lq, src=src, task=task, scale=scale, sampler=sampler, seed=int(seed),
                         tile=tile, overlap=overlap, instr_text=instr_text, assessment=assessment, plan_text=analysis,
                         fidelity=fidelity, notes=notes, t0=t0, views=views)
        measured = [x["type"] for x in (assessment.degradations if assessment is not None else [])
                    if x.get("source") == "measured"]
        good = (assessment is not None and task == "auto" and not force and bool(d.keep_level)
                and LEVELS.index(assessment.level) >= LEVELS.index(d.keep_level))
        rated_good = good and not measured
        if rated_good and scale > 1 and d.plan_from_assessment:
            # an enlargement was asked for: carried out, and only it (the gate keeps the rest as it is)
            job.untreated = {x["type"] for x in assessment.degradations} - {"lowres"}
            notes.append(f"assessed {assessment.level} ({assessment.score:.2f}/5): only the x{scale} upscale is "
                         "carried out (force=True / --force restores the rest too)")
        elif rated_good:
            notes.append(f"assessed {assessment.level} ({assessment.score:.2f}/5): returned unchanged "
                         f"(at or above {d.keep_level}; force=True / --force restores anyway)")
            job.unchanged = f"rated {assessment.level} ({assessment.score:.2f}/5); --force to restore anyway"
            job.plan_text = prompts.analysis_prefix(task, assessment.level, assessment.score, scale) + \
                " no restoration needed."
            job.kept = True
            return job
        if job.plan_text is None and assess:
            # the analysis is written in the restoration context itself: for a tiled image, from its
            # central tile at native resolution (what the model was trained on), then used for every
            # tile. It continues a prefix that states the assessment's level and score (and, with
            # plan_from_assessment, its degradations and the plan).
            if good and measured:
                notes.append(f"assessed {assessment.level} ({assessment.score:.2f}/5), but {', '.join(measured)} "
                             "measured on the input: restored")
            degr = assessment.degradations
            if d.check_plan and task == "auto" and d.plan_from_assessment and self._doubt(
                    job, {x["type"] for x in degr}):
                return job
            whole = src if not tile else _center(src, tile)
            ctx, *_ = self._context(_pad(whole, tok), instr_text, None, self._posterior(seed, 0))
            if d.plan_from_assessment:
                prefix = prompts.analysis_from_assessment(task, assessment.level, assessment.score, degr, scale,
                                                          untreated=job.skipped)
            else:
                prefix = prompts.analysis_prefix(task, assessment.level, assessment.score, scale)
            job.plan_text = self._write(ctx, None, prefix, d.max_analysis_tokens)
            if d.check_plan and task == "auto" and not d.plan_from_assessment and self._doubt(
                    job, {x["type"] for x in degr + _analysis_degradations(job.plan_text)}):
                return job
            if d.match_task and task != "auto":
                found = {x["type"] for x in _analysis_degradations(job.plan_text)}
                if TASK_CATEGORY[task] not in found:
                    job.condition = False
                    notes.append(f"the analysis does not find what --task {task} treats "
                                 f"({TASK_CATEGORY[task]}): generated from the instruction alone")
        return job

    @staticmethod
    def _doubt(job: RestoreJob, found: set[str]) -> bool:
        """``check_plan``: set ``job.doubted`` (blind diagnoses the input's statistics contradict, see
        :func:`_doubted`); True when nothing credible is left, the job then returns the input unchanged."""
        job.doubted = _doubted(found, job.lq)
        if not job.doubted:
            return False
        job.notes.append(f"the analysis found {', '.join(sorted(job.doubted))}, which the image's own "
                         "statistics contradict (too bright / too colourful / too contrasty): not treated")
        if found - job.doubted or job.scale > 1:  # something credible left, or the asked-for upscale
            return False
        job.notes.append("returned unchanged (nothing else found; --task names what to restore)")
        job.unchanged = (f"nothing credible to restore (the analysis found only {', '.join(sorted(job.doubted))}, "
                         "which the image contradicts); --task names what to restore")
        job.kept = True
        return True

    def generate(self, job: RestoreJob, progress: Progress | None = None) -> tuple[np.ndarray, int, dict]:
        """Stage 2 of :meth:`restore`: the flow sampler over the image's latents (per tile and flipped view),
        decoded to float RGB at the output size. Returns the pixels, the number of tiles and tile stats."""
        d, src, sampler, seed = self.defaults, job.src, job.sampler, job.seed
        instr = self._ids(job.instr_text)
        plan = self._ids(job.plan_text) if job.plan_text is not None and job.condition else None
        tok = self.config.latent_downsample
        f = self.config.vae.downsample
        g = torch.Generator().manual_seed(seed)
        p = self.config.latent_patch_size
        grid_h, grid_w = -(-src.shape[0] // tok), -(-src.shape[1] // tok)
        noise = torch.randn(self.config.latent_channels, p * grid_h, p * grid_w, generator=g)
        tile = job.tile

        def run_view(crop_px: np.ndarray, nz: torch.Tensor, flip: tuple[bool, bool], where: tuple[int, int]
                     ) -> np.ndarray:
            """One generation of a (possibly flipped) window; the output is flipped back."""
            dims = [d_ for d_, on in zip((0, 1), flip, strict=True) if on]
            if dims:
                crop_px = np.ascontiguousarray(np.flip(crop_px, axis=dims))
                nz = torch.flip(nz, dims=[d_ + 1 for d_ in dims])
            posterior = self._posterior(seed, 1, *where, *flip)
            ctx, ctx_img, tokens, grid = self._context(crop_px, job.instr_text, plan, posterior)
            x = latent_patchify(nz, self.config.latent_patch_size)
            x = sampler.initial_latent(x, tokens.cpu())
            guided = sampler.guided
            cb = (lambda i, n: progress("denoise", i, n)) if progress and not tile and not dims else None
            z = self.model.generate_latents(
                ctx, grid, self.special, sampler, text_uncond=ctx_img if guided else None,
                img_uncond=self._img_uncond(instr, plan) if guided and sampler.cfg_img > 1.0 else None,
                x_init=x, callback=cb)
            out_px = self._decode(z, grid)
            if d.residual_decode:  # input + D(z_out) - D(z_in): the AE's round-trip error cancels
                out_px = np.clip(crop_px + out_px - self._decode(tokens, grid), 0.0, 1.0)
            return np.flip(out_px, axis=dims) if dims else out_px

        flips = [(False, False), (False, True), (True, False), (True, True)][: max(1, d.ensemble)]

        def run(win: Window) -> np.ndarray:
            crop = _pad(src[win.y0:win.y1, win.x0:win.x1], tok)
            gh, gw = crop.shape[0] // tok, crop.shape[1] // tok
            # tiles start on multiples of 16 px, so every tile reads the same noise at the same pixel
            nz = noise[:, win.y0 // f: win.y0 // f + p * gh, win.x0 // f: win.x0 // f + p * gw]
            # self-ensemble (``ensemble`` > 1): average over flipped views, which cancels part of a
            # small model's orientation-dependent errors
            where = (win.y0, win.x0)
            out_px = np.mean([run_view(crop, nz, fl, where) for fl in flips], axis=0) if len(flips) > 1 else \
                run_view(crop, nz, flips[0], where)
            return out_px[: win.y1 - win.y0, : win.x1 - win.x0]

        tstats: dict = {}
        ho, wo = job.lq.shape[:2]
        if tile:
            tile_progress = (lambda i, n: progress("tiles", i, n)) if progress else None
            out, n_tiles = process_tiled((ho, wo, 3), run, tile, min(job.overlap, tile - 16), 16, tile_progress,
                                         stats=tstats)
        else:
            n_tiles = 1
            out = run(Window(0, src.shape[0], 0, src.shape[1]))
            if out.shape[:2] != (ho, wo):  # BAGEL's preparation: back to the requested size
                out = np.clip(cv2.resize(out, (wo, ho), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
                job.notes.append(f"generated at {src.shape[1]}x{src.shape[0]} (BAGEL's VAE transform), resized to "
                                 f"{wo}x{ho}")
        return out, n_tiles, tstats

    def finish_restoration(self, job: RestoreJob, out: np.ndarray | None, progress: Progress | None = None
                           ) -> np.ndarray:
        """Stage 3 of :meth:`restore`: :meth:`prepare_refinement` (strength, colour fix), the LQ-guided
        refiner (when the model has one) and the colour check, on float RGB at the output size.
        ``out=None``: no generation was run because the heads alone make the output (:meth:`heads_alone`)."""
        if out is None:
            heads = self.heads_alone(job)
            if heads is None:
                raise ValueError("finish_restoration(job, None) needs a job the heads alone restore (heads_alone)")
            job.notes.append(f"LQ-guided heads: {', '.join(heads)} (fidelity 1){_soft_note(job)}")
            job.notes.append("the generation expert's output, which fidelity 1 replaces, was not computed")
            out = self._run_heads(job, job.lq, heads, progress)
        else:
            out = self.prepare_refinement(job, out)
            if self.refiner is not None and job.fidelity > 0.0:
                out = self._refine(job, out)
            out = self._haze_prior(job, out)
        out = self._back_project(job, out)
        if self.defaults.max_color_shift > 0 and _keeps_mean(job.task, job.assessment, job.plan_text, job.skipped):
            out = _color_check(out, job.lq, self.defaults.max_color_shift, job.notes)
            if out is job.lq:  # refused
                job.unchanged = ("the restored colour moved too far from the input's (colour check); "
                                 "--fidelity or --task change what is tried")
        return out

    def _refine(self, job: RestoreJob, out: np.ndarray) -> np.ndarray:
        """The model's LQ-guided refiner on the generated pixels ``out`` (see :mod:`uare.model.refiner`).

        A bank of per-category heads runs the heads of the categories this restoration treats (the named
        task's, plus ``lowres`` when up-scaling; in blind mode those the assessment and the analysis found)
        on the degraded input, and the result is blended with ``out`` by ``fidelity``. A plan that changes
        the brightness (low light, haze) keeps the generation expert's tone: the heads then run on
        :func:`~uare.model.refiner.tone_transfer` (its tone, the input's detail: no 8-px token grid), and
        low light brings its sensor noise, so the noise head runs too.
        """
        ref, f = self.refiner, job.fidelity
        if not isinstance(ref, RefinerBank):
            return ref.refine(job.lq, out, f)
        cats = _head_categories(job)
        src = job.lq
        if cats & set(MEAN_CHANGING):
            src = tone_transfer(out, job.lq)
            cats |= {"noise"} if "lowlight" in cats else set()
        heads = ref.route(cats, job.task, job.scale)
        if src is job.lq and not heads:
            return out
        job.notes.append(("tone from the generation, detail from the input; " if src is not job.lq else "")
                         + f"LQ-guided heads: {', '.join(heads) or 'none'} (fidelity {f:g}){_soft_note(job)}")
        return out + f * (self._run_heads(job, src, heads) - out)

    def _back_project(self, job: RestoreJob, out: np.ndarray) -> np.ndarray:
        """``out`` back-projected toward the input of a named ``--task sr`` up-scale (``back_projection``)."""
        n = self.defaults.back_projection
        if n <= 0 or job.scale == 1 or job.task != "sr":
            return out
        job.notes.append(f"back-projection: {n} rounds toward the input (its bicubic down-sampling reproduces it)")
        return np.clip(back_project(out, job.prep.rgb, n), 0.0, 1.0)

    def _haze_prior(self, job: RestoreJob, out: np.ndarray) -> np.ndarray:
        """``out`` with the dark-channel prior blended in when this restoration dehazes (``haze_prior``)."""
        w_max = self.defaults.haze_prior
        if w_max <= 0.0 or "haze" not in _treated(job.task, job.scale, job.assessment, job.plan_text, job.skipped):
            return out
        contrast = luma_contrast(job.lq)
        if contrast >= HAZE_MAX_CONTRAST:
            job.notes.append(f"haze prior: none (luma contrast {contrast:.2f} >= {HAZE_MAX_CONTRAST:g}: "
                             "a contrasty image, whose bright content the dark channel would read as haze)")
            return out
        out, w, m = with_haze_prior(out, job.lq, w_max)
        job.notes.append(f"haze prior: {w:.2f} of the dark-channel-prior inversion blended in (at most {w_max:g}; "
                         f"median dark channel {m:.2f})")
        return out

    def heads_alone(self, job: RestoreJob) -> list[str] | None:
        """The heads that alone make this restoration's output, or None: with a bank, at fidelity 1, a
        mean-keeping restoration (no low light / haze) whose categories the bank covers returns the heads'
        output, ``gen + 1 * (heads - gen)``; :meth:`restore` then skips the generation it would replace."""
        ref = self.refiner
        if not isinstance(ref, RefinerBank) or job.fidelity != 1.0 or job.kept:
            return None
        cats = _head_categories(job)
        if cats & set(MEAN_CHANGING):
            return None
        return ref.route(cats, job.task, job.scale) or None

    def _run_heads(self, job: RestoreJob, src: np.ndarray, heads: list[str], progress: Progress | None = None
                   ) -> np.ndarray:
        """``src`` (float RGB at the output size) through the bank's ``heads``; when up-scaling, the JPEG
        head runs at the input's size first (JPEG blocks sit on the input's 8-px grid), then the rest."""
        ref = self.refiner
        assert isinstance(ref, RefinerBank)
        for h in heads:
            if h in NAMED_HEADS:
                replaces, task, scale = NAMED_HEADS[h]
                job.notes.append(f"{h} head in place of {replaces}: --task {task} --scale {scale} names a clean "
                                 f"down-sampled input (leave --task out for photos with noise or JPEG)")
        if job.views > 1 and heads:
            job.notes.append(f"self-ensemble: the heads averaged over {job.views} flipped / rotated views")
        if job.scale > 1 and "jpeg" in heads and src is job.lq:
            small = ref.restore(job.prep.rgb, ["jpeg"], progress=progress, views=job.views)
            src = np.clip(cv2.resize(small, (src.shape[1], src.shape[0]), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
            heads = [h for h in heads if h != "jpeg"]
        return ref.restore(src, heads, progress=progress, views=job.views)

    def prepare_refinement(self, job: RestoreJob, out: np.ndarray) -> np.ndarray:
        """The generated pixels as the refiner reads them (and, without a refiner, as they are returned):
        the per-category strength, then the colour fix for mean-keeping restorations (the input's low
        frequencies). The refiner's training pool is built with this same function."""
        d, lq, notes = self.defaults, job.lq, job.notes
        strength = _strength(d.strength, job.task, job.assessment, job.plan_text, job.skipped)
        if strength < 1.0:
            out = lq + strength * (out - lq)
            notes.append(f"strength {strength:g} (inference.json: the model does not improve this degradation)")
            if strength == 0.0:
                cats = _treated(job.task, 1, job.assessment, job.plan_text, job.skipped)
                job.unchanged = (f"this model does not improve {', '.join(sorted(cats)) or 'this image'} yet "
                                 "(inference.json strength 0)")
        if d.color_fix_sigma > 0 and _keeps_mean(job.task, job.assessment, job.plan_text, job.skipped):
            out = _color_fix(out, lq, d.color_fix_sigma)
            notes.append(f"colour fix: low frequencies (sigma {d.color_fix_sigma:g} px) taken from the input")
        return out

    def _result(self, job: RestoreJob, image: np.ndarray, n_tiles: int, tstats: dict | None = None) -> Restoration:
        if self.is_random and not job.kept:
            job.notes.append("random model: the output is not a restoration")
        unchanged = job.unchanged
        if unchanged is None and np.array_equal(image, finish(job.lq, _rescaled(job.prep, job.scale))):
            unchanged = "the model's output equals its input"
        if unchanged is not None and job.scale > 1:
            unchanged += f" (enlarged {job.scale}x by bicubic only)"
        return Restoration(image, job.plan_text, job.assessment, job.task, job.scale,
                           0 if job.kept else job.sampler.steps, job.seed, n_tiles,
                           round(time.perf_counter() - job.t0, 3), job.notes,
                           tile_disagreement=round(tstats["disagreement"] * 255, 3) if tstats else None,
                           unchanged=unchanged)

    def enhance(self, image: ImageInput, task: str = "lowlight", **kw) -> Restoration:
        """Enhancement (``lowlight`` or ``dehaze``): a restoration with that task."""
        if task not in ENHANCE_TASKS:
            raise UareError(f"enhance takes --task {' or '.join(ENHANCE_TASKS)}, got {task!r}")
        return self.restore(image, task=task, **kw)

    # ------------------------------------------------------------------ batches
    def assess_batch(self, images: Iterable[ImageInput], **kw) -> list[Assessment]:
        return [self.assess(im, **kw) for im in images]

    def restore_batch(self, images: Iterable[ImageInput], **kw) -> list[Restoration]:
        return [self.restore(im, **kw) for im in images]


def _pad(rgb: np.ndarray, unit: int) -> np.ndarray:
    """Reflect-pad the bottom/right to multiples of ``unit`` px (one generation token)."""
    h, w = rgb.shape[:2]
    ph, pw = -h % unit, -w % unit
    if not (ph or pw):
        return np.ascontiguousarray(rgb)
    mode = "reflect" if h > ph and w > pw else "edge"
    return np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode=mode)


def _blind_found(assessment: Assessment | None, plan_text: str | None, doubted: set[str] | None = None
                 ) -> set[str]:
    """The categories a blind restoration treats: found by the assessment (measured JPEG blocking
    included) or the analysis, less the ``doubted`` ones (contradicted by the input's statistics)."""
    cats = {x["type"] for x in (assessment.degradations if assessment is not None else [])}
    cats |= {x["type"] for x in (_analysis_degradations(plan_text) if plan_text else [])}
    return cats - (doubted or set())


def _keeps_mean(task: str, assessment: Assessment | None, plan_text: str | None, doubted: set[str] | None = None
                ) -> bool:
    """Whether restoring ``task`` should keep the input's low-frequency colour (see ``color_fix_sigma``);
    ``doubted``: see :func:`_blind_found`."""
    if TASK_CATEGORY.get(task) in MEAN_CHANGING:
        return False
    if task != "auto":
        return True
    found = _blind_found(assessment, plan_text, doubted)
    if not found:
        return False  # nothing known about the image: leave the model's output alone
    return not found & set(MEAN_CHANGING)


#: rough JPEG quality of a block-grid strength (``jpeg_blockiness``): medians over 90 training images each
#: at quality 70, 50, 30, 20, 10 (see :func:`uare.metrics.grid.jpeg_blockiness`)
_BLOCKINESS_QUALITY = ((1.15, 70.0), (1.28, 50.0), (1.49, 30.0), (1.64, 20.0), (2.26, 10.0))


#: the smallest side on which JPEG blocking is measured (8 blocks): on fewer blocks the grid statistic is noise --
#: clean 24-px crops reach uare-tiny's 1.25 in 42 % of cases, 64-px ones in 11 %, 256-px ones never
#: (``benchmarks/jpeg_blockiness_size.py``); a 24-px crop enlarged x4 was "deblocked" 2.6 dB below its input
JPEG_MEASURE_MIN_SIDE = 64


def _measured_jpeg(rgb: np.ndarray, threshold: float) -> dict[str, str] | None:
    """JPEG blocking measured on float RGB ``rgb``: the assessment's degradation entry (``"source":
    "measured"``), or None below ``threshold``. The severity word comes from the JPEG quality the grid
    strength suggests (interpolated in :data:`_BLOCKINESS_QUALITY`), graded as the degradation engine
    grades JPEG. Images under :data:`JPEG_MEASURE_MIN_SIDE` are not measured."""
    if min(rgb.shape[:2]) < JPEG_MEASURE_MIN_SIDE:
        return None
    b = jpeg_blockiness(rgb)
    if b < threshold:
        return None
    xs, qs = zip(*_BLOCKINESS_QUALITY, strict=True)
    q = float(np.interp(b, xs, qs))
    word = severity_word(severity_from_strength("jpeg", 100.0 - q))
    return {"type": "jpeg", "severity": word if word != "none" else SEVERITY_WORDS[0], "kind": "jpeg",
            "source": "measured"}


#: severity word of the low-light headroom (the 99.5th percentile of max(R, G, B)): at or below each bound,
#: from the medians over 230 training images at the engine's levels 3, 4 and 5 (0.471, 0.373, 0.286;
#: ``benchmarks/lowlight_headroom.py``), taken halfway between neighbouring levels
_HEADROOM_SEVERITY = ((0.33, "severe"), (0.42, "strong"))


def _measured_lowlight(rgb: np.ndarray, threshold: float) -> dict[str, str] | None:
    """Underexposure measured on float RGB ``rgb``: the assessment's degradation entry (``"source":
    "measured"``), or None when its headroom (:func:`lowlight_headroom`) is at or above ``threshold``."""
    h = lowlight_headroom(rgb)
    if h >= threshold:
        return None
    word = next((w for bound, w in _HEADROOM_SEVERITY if h <= bound), "moderate")
    return {"type": "lowlight", "severity": word, "kind": "exposure", "source": "measured"}


def _merge_measured(out: list[dict[str, str]], said: dict[str, str] | None) -> list[dict[str, str]]:
    """``out`` with the measured finding ``said`` in place of the model's own entry of its type when the model
    missed it or rated it milder (in physical order)."""
    if said is None:
        return out
    own = [x for x in out if x["type"] == said["type"]]
    if own and SEVERITY_WORDS.index(own[0]["severity"]) >= SEVERITY_WORDS.index(said["severity"]):
        return out
    return sorted([x for x in out if x["type"] != said["type"]] + [said], key=lambda x: CATEGORIES.index(x["type"]))


def _checked_findings(degradations: list[dict[str, str]], rgb: np.ndarray, d: InferenceDefaults
                      ) -> list[dict[str, str]]:
    """A description's findings after the checks of ``d``: JPEG blocking (``jpeg_blockiness``) and
    underexposure (``lowlight_headroom``) measured on ``rgb`` that the model missed or rated milder replace
    its entry of that type (in physical order), and sub-type words the model cannot back lose their kind
    (``kind_words``). Unchanged findings come back as they are."""
    out = degradations
    if d.lowlight_headroom:
        out = _merge_measured(out, _measured_lowlight(rgb, d.lowlight_headroom))
    if d.jpeg_blockiness:
        out = _merge_measured(out, _measured_jpeg(rgb, d.jpeg_blockiness))

    def unbacked(x: dict[str, str]) -> bool:
        return bool(x.get("kind")) and x["type"] in d.kind_words and x["kind"] not in d.kind_words[x["type"]]

    if any(map(unbacked, out)):
        out = [{k: v for k, v in x.items() if k != "kind"} if unbacked(x) else x for x in out]
    return out


#: blind-mode diagnoses the input's own statistics can contradict: an image whose mean max(R, G, B) is at
#: least this is not underexposed (the bench's low-light inputs: <= 0.35; saturated reds assessed as
#: "underexposed": >= 0.6), and one whose mean CIELAB chroma is at least this is not hazy (haze
#: desaturates: the bench's hazy inputs <= 24; the saturated crops it harmed: >= 31), nor one whose luma
#: contrast (:func:`luma_contrast`) is at least this (haze compresses contrast: no training image hazed at level
#: 3 or more keeps 0.21, the most is 0.206; light haze above it goes untreated; ``benchmarks/haze_contrast.py``)
LOWLIGHT_MAX_VALUE = 0.45
HAZE_MAX_CHROMA = 28.0
HAZE_MAX_CONTRAST = 0.21


def _doubted(cats: set[str], lq: np.ndarray) -> set[str]:
    """Which of the blind diagnoses ``cats`` the input ``lq`` (float RGB) contradicts (see the thresholds)."""
    out = set()
    if "lowlight" in cats and float(lq.max(axis=2).mean()) >= LOWLIGHT_MAX_VALUE:
        out.add("lowlight")
    if "haze" in cats and (chroma(lq * 255.0) >= HAZE_MAX_CHROMA or luma_contrast(lq) >= HAZE_MAX_CONTRAST):
        out.add("haze")
    return out


def _treated(task: str, scale: int, assessment: Assessment | None, plan_text: str | None,
             doubted: set[str] | None = None) -> set[str]:
    """The degradation categories a restoration treats: the named task's (plus ``lowres`` when up-scaling);
    in blind mode :func:`_blind_found`."""
    cats = {TASK_CATEGORY[task]} if task != "auto" else _blind_found(assessment, plan_text, doubted)
    return cats | ({"lowres"} if scale > 1 else set())


def _soft_at_same_size(job: RestoreJob) -> str | None:
    """The severity of "low resolution" found blind in an image kept at its size (it only looks soft), or None."""
    if job.task != "auto" or job.scale != 1:
        return None
    if "lowres" not in _treated(job.task, 1, job.assessment, job.plan_text, job.skipped):
        return None
    said = (job.assessment.degradations if job.assessment is not None else []) + \
        (_analysis_degradations(job.plan_text) if job.plan_text else [])
    return next((x["severity"] for x in said if x["type"] == "lowres"), "moderate")


def _head_categories(job: RestoreJob) -> set[str]:
    """The categories whose heads a restoration runs: :func:`_treated`, except for "low resolution" found
    blind in an image kept at its size. The ``lowres`` head was trained on bicubic enlargements; on a same-size
    image it sharpened JPEG blocks (colour-set JPEG q20 crops rated "mild low resolution": 1.0 to 2.1 dB
    below the input; the blur head in its place did no better). Such softness is treated by the blur head from
    "moderate" up, and not at all when "mild" (12 bench images, RGB PSNR gain over the input: blind
    blur+JPEG, all but one "strong" or "severe", +0.38 dB with the lowres head, +0.57 with the blur head,
    +0.01 with neither; low light+noise+JPEG kodim03 / kodim04,
    "mild": +7.4 / +6.9 dB with the lowres head, +9.5 / +8.9 without)."""
    cats = _treated(job.task, job.scale, job.assessment, job.plan_text, job.skipped)
    sev = _soft_at_same_size(job)
    if sev is None:
        return cats
    return (cats - {"lowres"}) | (set() if _slight(sev) else {"blur"})


def _slight(severity: str) -> bool:
    """Whether ``severity`` is "mild" or milder."""
    return SEVERITY_WORDS.index(severity) <= SEVERITY_WORDS.index("mild")


def _soft_note(job: RestoreJob) -> str:
    sev = _soft_at_same_size(job)
    if sev is None:
        return ""
    if _slight(sev):
        return f" ({sev} low resolution at the same size: a slightly soft image, left as it is)"
    return f" ({sev} low resolution at the same size: a soft image, treated by the blur head)"


def _strength(table: dict[str, float], task: str, assessment: Assessment | None, plan_text: str | None,
              doubted: set[str] | None = None) -> float:
    """The blend factor of :attr:`InferenceDefaults.strength` for this restoration (1 = the model's output)."""
    if not table:
        return 1.0
    return max([float(table.get(c, 1.0)) for c in _treated(task, 1, assessment, plan_text, doubted)] or [1.0])


def _color_fix(out: np.ndarray, ref: np.ndarray, sigma: float) -> np.ndarray:
    """``out - G(out) + G(ref)``: the output's detail on the reference's low frequencies (float RGB)."""
    def low(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(np.ascontiguousarray(x, dtype=np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)

    return np.clip(out - low(out) + low(ref), 0.0, 1.0)


def _color_check(out: np.ndarray, lq: np.ndarray, limit: float, notes: list[str]) -> np.ndarray:
    """Do no harm to colour: ``out`` if the mean a*b* of its low-pass (8x8 area means) stays within ``limit``
    of ``lq``'s, else halfway back, else ``lq`` itself (float RGB in [0, 1]); what happened goes into ``notes``.
    (Per-pixel a*b* means would move when noise is removed: CIELAB is not linear.)"""
    def low(x: np.ndarray) -> np.ndarray:  # 8x8 area means: noise removed by a restoration is no colour change
        h, w = x.shape[:2]
        return cv2.resize(np.ascontiguousarray(x, dtype=np.float32), (max(1, w // 8), max(1, h // 8)),
                          interpolation=cv2.INTER_AREA)

    ref = low(lq)

    def shift(x: np.ndarray) -> float:
        return color_shift(low(x), ref, scale=1.0)

    s = shift(out)
    if s <= limit:
        return out
    half = lq + 0.5 * (out - lq)
    if shift(half) <= limit:
        notes.append(f"colour check: the output's mean colour moved {s:.1f} (CIELAB a*b*, limit {limit:g}); "
                     "blended halfway back to the input")
        return half
    notes.append(f"colour check: the output's mean colour moved {s:.1f} (CIELAB a*b*, limit {limit:g}); "
                 "returned the input unchanged")
    return lq  # the input itself: callers tell a refused output by identity


def _center(rgb: np.ndarray, side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    y, x = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return rgb[y:y + side, x:x + side]


def _rescaled(prep: Prepared, scale: int) -> Prepared:
    return prep if scale == 1 else dataclasses.replace(prep)


def _findings(parsed) -> list[dict[str, str]]:
    """A parsed description's or analysis's degradations as the assessment's entries."""
    return [{"type": c, "severity": w, **({"kind": parsed.kinds[c]} if parsed.kinds.get(c) else {})}
            for c, w in parsed.degradations.items()]


def _parse_degradations(text: str) -> list[dict[str, str]]:
    """The degradations a description states; [] when it cannot be read."""
    try:
        return _findings(parse_description(text))
    except ValueError:
        return []


def _analysis_degradations(text: str) -> list[dict[str, str]]:
    """The degradations a four-part analysis states in its quality part (read as a description when it is
    not a four-part analysis); [] when it cannot be read. (Read as a description, a whole analysis names two
    levels, the image's and the expected one, and was refused: every named task's analysis then read as
    finding nothing -- the bug behind release 5's weak named low light and haze.)"""
    try:
        return _findings(parse_analysis(text))
    except ValueError:
        return _parse_degradations(text)


def _random_default(device, dtype) -> Checkpoint:
    """The stand-in default model: tiny config, weights as ``uare init-random --seed 0`` writes them."""
    from uare.model.config import tiny
    from uare.model.random_init import random_fill
    from uare.model.tokenizer import train_quality_tokenizer
    from uare.model.unified import UAREModel
    from uare.model.vae import build_vae

    tok = train_quality_tokenizer(vocab_size=2048, seed=0)
    cfg = tiny(vocab_size=tok.vocab_size)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    model, vae = UAREModel(cfg), build_vae(cfg.vae)
    fill = random_fill(0)
    with torch.no_grad():
        for module in (model, vae):
            for k, v in module.state_dict().items():
                v.copy_(fill(k, tuple(v.shape)))
    model.to(dev, dt).eval()
    vae.to(dev).eval()
    return Checkpoint(model, vae, tok, cfg, "random", Path("<random>"))
