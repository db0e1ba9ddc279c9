"""Sample builders: each turns ``(rng, step)`` into one :class:`~uare.data.items.Sample`.

Every random choice comes from the ``numpy.random.Generator`` it is given, so a sample is a pure function
of that generator's seed (and of the training ``step`` for the stage-1 curriculum).

Plans (BAGEL's edit path for restoration, Q-Align style for IQA):

- restoration / paired: ``VAE(LQ, clean, cfg)`` -> ``ViT(LQ, cfg)`` -> ``Text(instruction, cfg)`` ->
  ``VAE(HQ, noisy)``; a super-resolution LQ image is first resized (bicubic) to the HQ size;
- interleaved (stage 2): the same, with ``Text(four-part analysis, loss)`` between the instruction and the
  noisy HQ image, so the restoration expert reads the assessment expert's analysis;
- iqa score: ``ViT(img)`` -> ``Text(SCORE_QUESTION)`` -> ``Text("The quality of the image is <level>.", loss)``;
  description: an ``assess`` instruction and :func:`~uare.quality.description_text`; compare: two ViT images
  (two degradations of one crop), a ``compare`` instruction and :func:`~uare.quality.comparison_text`;
- mos: a score answer from a MOS table (:mod:`uare.data.mos`), the whole image at the ViT resolution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from uare.data.config import CurriculumConfig, SourceConfig
from uare.data.images import (
    DataError,
    ImageCache,
    crop_size,
    list_images,
    random_crop,
    resize_to,
    to_rgb3,
)
from uare.data.items import Sample, ViT
from uare.data.mos import read_mos_table
from uare.data.sequence import (
    ImagePrep,
    answer,
    compare_sequence,
    describe_sequence,
    restore_sequence,
    score_sequence,
)
from uare.data.shards import ShardStream, open_shards
from uare.degrade import HIGHORDER_PIPELINES, PIPELINES, Curriculum, degrade, usm_sharpen
from uare.degrade.record import DegradationRecord
from uare.degrade.types import TYPE_CATEGORY, pool_types
from uare.quality import (
    LEVELS,
    TASK_CATEGORY,
    QualitySummary,
    analysis_text,
    comparison_text,
    description_text,
    instruction,
    score_answer,
    summarize,
    summary_from_severities,
)
from uare.tasks import IQA_TASKS

_CATEGORY_TASK = {c: t for t, c in TASK_CATEGORY.items()}


@dataclass
class Geometry:
    """Image sizes a sample must respect: the latent stride, the ViT patch and grid limits."""

    latent_stride: int
    max_latent_side: int  # latent tokens per side
    vit_patch: int
    vit_max_side: int  # ViT patches per side
    vit_min_size: int = 0

    @classmethod
    def for_model(cls, model_cfg, vit_max_size: int, vit_min_size: int) -> Geometry:
        """The geometry of a model config with a data config's ViT sizes (``data.vit_max_size`` / ``_min_size``;
        0: the model's largest grid / one patch), the same rule as :meth:`ImagePrep.from_model`."""
        prep = ImagePrep.from_model(model_cfg, vit_max_size, vit_min_size)
        return cls(model_cfg.latent_downsample, model_cfg.max_latent_size, prep.vit_patch,
                   prep.vit_max_px // prep.vit_patch, vit_min_size)

    @property
    def prep(self) -> ImagePrep:
        """The image preparation (:class:`~uare.data.sequence.ImagePrep`) shared with inference."""
        return ImagePrep.from_sizes(self.vit_patch, self.vit_max_side, self.latent_stride, 0, self.vit_min_size)

    def vit(self, img: np.ndarray) -> ViT:
        return self.prep.vit(img)


def _weighted(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = sorted(k for k, w in weights.items() if w > 0)
    p = np.array([weights[k] for k in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def pick_task(summary: QualitySummary, rng: np.random.Generator, auto_prob: float) -> str:
    """The instruction's task: a single-purpose task when exactly one visible degradation has one
    (``sr`` for pure down-sampling), else ``auto``; even then ``auto`` with probability ``auto_prob``.

    Never a single-purpose task when other degradations are present: the target is the fully clean
    image, so the instruction must ask for everything to be fixed.
    """
    cats = summary.categories()
    u = float(rng.uniform())
    if summary.scale > 1 and all(c == "lowres" for c in cats):
        task = "sr"
    elif summary.scale == 1 and len(cats) == 1 and cats[0] in _CATEGORY_TASK:
        task = _CATEGORY_TASK[cats[0]]
    else:
        return "auto"
    return "auto" if u < auto_prob else task


def _summary(rec: DegradationRecord, clean: np.ndarray, degraded: np.ndarray) -> QualitySummary:
    h, w = (int(v) for v in rec.input_size)
    try:
        return summarize(rec, clean=clean[:h, :w], degraded=degraded)
    except ValueError:  # e.g. smaller than the SSIM window: the record alone
        return summarize(rec)


class _FolderSource:
    """Shared parts of sources that crop clean images from folders."""

    def __init__(self, cfg: SourceConfig, geo: Geometry, tokenizer, cache: ImageCache):
        self.cfg, self.geo, self.tok, self.cache = cfg, geo, tokenizer, cache
        # images from shards (read as a stream, one record after the other) or from folders (drawn at random)
        self.shards = open_shards(cfg.shards) if cfg.shards else None
        self.stream: ShardStream | None = None  # set per reader slot by uare.data.stream.PackDataset
        self.files = list_images(cfg.folders) if cfg.kind != "paired" and not cfg.shards else []
        lo, hi = (cfg.crop * 2)[:2] if len(cfg.crop) == 1 else cfg.crop[:2]
        top = geo.latent_stride * geo.max_latent_side
        if hi > top:
            raise DataError(f"crop {hi} px exceeds the model's latent table ({top} px)")
        self.crop_lo, self.crop_hi = lo, hi
        for p in cfg.pipelines:
            if p not in PIPELINES:
                raise DataError(f"unknown pipeline {p!r}; choose from {', '.join(PIPELINES)}")
        self.pool = _pool(cfg)

    def _crop(self, rng: np.random.Generator, stride: int | None = None) -> tuple[np.ndarray, str]:
        if self.shards is not None:
            if self.stream is None:
                raise DataError("a shard source reads through a stream: build it with uare.data.PackDataset")
            rec, img = self.stream.peek()
            name = f"{self.stream.unit_name()}:{rec.key}"
        else:
            path = self.files[int(rng.integers(len(self.files)))]
            img, name = self.cache.load(path), path.name
        size = crop_size(rng, self.crop_lo, self.crop_hi, stride or self.geo.latent_stride)
        return random_crop(img, size, rng), name

    def commit(self) -> None:
        """The sample just built is used: a shard source moves past its record (folders draw at random)."""
        if self.stream is not None:
            self.stream.advance()

    def _mix_degrade(self, img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, DegradationRecord]:
        pipeline = _weighted(rng, self.cfg.pipelines)
        if pipeline in HIGHORDER_PIPELINES:  # they draw their own types (realesrgan, apisr)
            return degrade(img, pipeline, scale=self.cfg.realesrgan_scale, seed=rng)
        scale = int(rng.choice(self.cfg.sr_scales)) if rng.uniform() < self.cfg.sr_prob else 1
        return degrade(img, pipeline, scale=scale, seed=rng, pool=self.pool)

    def _restore_items(self, lq: np.ndarray, hq: np.ndarray, instruction: str, analysis: str | None = None,
                       target: bool = True) -> list:
        """Snap HQ to the latent stride, bring LQ to its size, and lay out the restoration sequence
        (:func:`~uare.data.sequence.restore_sequence`), the analysis answer and the target image."""
        s = self.geo.latent_stride
        h, w = hq.shape[0] // s * s, hq.shape[1] // s * s
        lq_up = resize_to(to_rgb3(lq), hq.shape[:2])[:h, :w]
        prep = self.geo.prep
        items = restore_sequence(self.tok, prep, lq_up, instruction)
        if analysis is not None:
            items.append(answer(self.tok, analysis))
        if target:
            items.append(prep.vae(to_rgb3(hq)[:h, :w], noisy=True))
        return items


class RestorationSource(_FolderSource):
    """Clean folders degraded on the fly; ``degradation: curriculum`` follows the stage-1 schedule."""

    def __init__(self, cfg: SourceConfig, geo: Geometry, tokenizer, cache: ImageCache,
                 curriculum: CurriculumConfig | None = None):
        super().__init__(cfg, geo, tokenizer, cache)
        if cfg.degradation not in ("curriculum", "mix"):
            raise DataError(f"unknown degradation {cfg.degradation!r}; choose curriculum or mix")
        c = curriculum or CurriculumConfig()
        self.usm_gt = c.usm_gt
        self.curriculum = Curriculum(c.single_steps, c.multi_steps, c.highorder_steps, c.factor, c.severity_start,
                                     c.severity_end, c.ramp, c.sr_prob, tuple(c.sr_scales), c.highorder_scale,
                                     pool=self.pool, highorder_pipelines=dict(c.highorder_pipelines))

    def degrade(self, img: np.ndarray, rng: np.random.Generator, step: int
                ) -> tuple[np.ndarray, DegradationRecord, str]:
        if self.cfg.degradation == "curriculum":
            lq, rec = self.curriculum.sample(img, step, seed=rng)
            return lq, rec, self.curriculum.stage_at(step)
        lq, rec = self._mix_degrade(img, rng)
        return lq, rec, rec.pipeline

    def __call__(self, rng: np.random.Generator, step: int) -> Sample:
        img, name = self._crop(rng)
        lq, rec, stage = self.degrade(img, rng, step)
        h, w = (int(v) for v in rec.input_size)
        hq = img[:h, :w]
        if self.usm_gt and rec.pipeline == "realesrgan":  # Real-ESRGAN's recipe sharpens its own GT only
            hq = usm_sharpen(hq)
        summary = summarize(rec)
        task = pick_task(summary, rng, self.cfg.auto_prob)
        text = instruction(task, rng, scale=rec.scale)
        items = self._restore_items(lq, hq, text)
        return Sample(items, "restoration", {"stage": stage, "scale": rec.scale, "task": task, "file": name,
                                             "instruction": text})


class PairedSource(_FolderSource):
    """LQ/HQ pairs matched by file stem; an LQ smaller by an integer factor is an SR pair."""

    def __init__(self, cfg: SourceConfig, geo: Geometry, tokenizer, cache: ImageCache):
        super().__init__(cfg, geo, tokenizer, cache)
        hq = {p.stem: p for p in list_images([cfg.hq_folder])}
        lq = {p.stem: p for p in list_images([cfg.lq_folder])}
        self.pairs = [(lq[k], hq[k]) for k in sorted(hq) if k in lq]
        if not self.pairs:
            raise DataError(f"no LQ/HQ pairs with matching names in {cfg.lq_folder} and {cfg.hq_folder}")

    def __call__(self, rng: np.random.Generator, step: int) -> Sample:
        lq_path, hq_path = self.pairs[int(rng.integers(len(self.pairs)))]
        lq, hq = self.cache.load(lq_path), self.cache.load(hq_path)
        k = max(1, round(hq.shape[0] / lq.shape[0]))
        if hq.shape[0] < lq.shape[0] * k - k or hq.shape[1] < lq.shape[1] * k - k:
            raise DataError(f"{lq_path.name}: LQ {lq.shape[:2]} and HQ {hq.shape[:2]} are not an integer-scale pair")
        stride = self.geo.latent_stride * k // np.gcd(self.geo.latent_stride, k)
        size = crop_size(rng, self.crop_lo, min(self.crop_hi, lq.shape[0] * k, lq.shape[1] * k,
                                                hq.shape[0], hq.shape[1]), stride)
        ls = size // k
        y = int(rng.integers(0, lq.shape[0] - ls + 1))
        x = int(rng.integers(0, lq.shape[1] - ls + 1))
        lq_c = lq[y:y + ls, x:x + ls]
        hq_c = hq[y * k:y * k + size, x * k:x * k + size]
        task = "sr" if k > 1 and rng.uniform() >= self.cfg.auto_prob else "auto"
        text = instruction(task, rng, scale=k)
        return Sample(self._restore_items(lq_c, hq_c, text), "paired",
                      {"scale": k, "task": task, "file": hq_path.name, "instruction": text})


def _same_size(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A degraded view at the clean crop's size: a down-sampled (SR) view is enlarged back (bicubic)."""
    return resize_to(out, like.shape[:2]) if out.shape[:2] != like.shape[:2] else out


#: level index (0 = bad .. 4 = excellent) -> single-type severities to try, the likeliest first
_TARGET_SEVERITY: dict[int, tuple[int, ...]] = {0: (5, 4), 1: (4, 3, 5), 2: (3, 2, 4), 3: (2, 1, 3), 4: (1,)}
#: the same for ``balance_by: level`` (the first sampler)
_LEVEL_SEVERITY: dict[int, tuple[int, ...]] = {0: (4, 5), 1: (3, 4), 2: (2, 3), 3: (1, 2), 4: (1,)}


def _pool(cfg: SourceConfig) -> tuple[str, ...] | None:
    """The types a source draws from: ``None`` (the default pool) unless ``extra_types`` adds some."""
    if not cfg.extra_types:
        return None
    try:
        return pool_types(cfg.extra_types)
    except ValueError as e:
        raise DataError(f"extra_types: {e}") from None


class _Views:
    """Degraded views of a clean crop, at the crop's size, with their quality summaries.

    A view is always the size of the crop it was cut from (a down-sampled one is enlarged back), so
    neither its pixel count nor its ViT token count says anything about its quality. With
    ``balance_levels`` the quality level is drawn first, uniformly, then a degradation that reaches it:
    a single one (its category drawn uniformly, so every category is seen at every level it can reach,
    then the severity searched for the level) or, below "good", two or three mixed ones or Real-ESRGAN's
    pipeline. A draw whose level misses the target is drawn again (up to ``balance_tries``, then the closest).
    """

    def __init__(self, cfg: SourceConfig, mix: Callable):
        self.cfg, self.mix = cfg, mix
        self.pool = _pool(cfg)
        # categories a single degradation is drawn from (uniformly, then a type of the category)
        self.types = self.pool or pool_types()
        self.categories = tuple(dict.fromkeys(TYPE_CATEGORY[t] for t in self.types))

    def __call__(self, img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, QualitySummary, int]:
        """(view, its summary, its scale); the scale > 1 when it was down-sampled and enlarged back."""
        if not self.cfg.balance_levels:
            if rng.uniform() < self.cfg.clean_prob:
                return img, summary_from_severities({}), 1
            return self._measured(img, *self.mix(img, rng))
        target = int(rng.integers(len(LEVELS)))
        best = None
        propose = self._propose if self.cfg.balance_by == "category" else self._propose_by_level
        for _ in range(self.cfg.balance_tries):
            view = propose(img, rng, target)
            gap = abs(LEVELS.index(view[1].level) - target)
            if best is None or gap < best[0]:
                best = (gap, view)
            if gap == 0:
                break
        return best[1]

    def _measured(self, img: np.ndarray, out: np.ndarray, rec: DegradationRecord
                  ) -> tuple[np.ndarray, QualitySummary, int]:
        h, w = (int(v) for v in rec.input_size)
        clean = img[:h, :w]
        view = _same_size(out, clean)
        return view, _summary(rec, clean, view), rec.scale

    def _propose_shared(self, img: np.ndarray, rng: np.random.Generator, target: int, esrgan_p: float,
                        multi_p: float, table: dict) -> tuple[tuple | None, int, tuple[int, ...]]:
        """What both samplers share, with the same draws in the same order: a clean view, Real-ESRGAN,
        then two or three types (each a level lighter than a single one). Returns ``(view or None, scale,
        severities for the target)``; ``None`` leaves the single-type choice to the caller."""
        if target == len(LEVELS) - 1 and rng.uniform() < 0.5:
            return (img, summary_from_severities({}), 1), 1, ()
        u = float(rng.uniform())
        if target <= 1 and u < esrgan_p:
            return self._measured(img, *degrade(img, "realesrgan", scale=self.cfg.realesrgan_scale, seed=rng)), 1, ()
        scale = int(rng.choice(self.cfg.sr_scales)) if target < 3 and rng.uniform() < self.cfg.sr_prob else 1
        sev = table[target]
        if target < 3 and u < multi_p:
            level = max(1, int(rng.choice(sev)) - 1)
            view = self._measured(img, *degrade(img, "multi", severity=level, scale=scale, seed=rng, pool=self.pool))
            return view, scale, sev
        return None, scale, sev

    def _propose_by_level(self, img: np.ndarray, rng: np.random.Generator, target: int
                          ) -> tuple[np.ndarray, QualitySummary, int]:
        """``balance_by: level`` (the first sampler, kept to reproduce runs made with it): any type at a
        severity typical of the target. It under-samples degradations that rarely reach a target with one
        draw -- strong JPEG alone was 1 % of the views -- so the model could not learn them."""
        view, scale, sev = self._propose_shared(img, rng, target, 0.2, 0.55, _LEVEL_SEVERITY)
        if view is not None:
            return view
        level = int(rng.choice(sev))
        if scale > 1:
            level = max(1, level - 1)
        return self._measured(img, *degrade(img, "single", severity=level, scale=scale, seed=rng, pool=self.pool))

    def _propose(self, img: np.ndarray, rng: np.random.Generator, target: int
                 ) -> tuple[np.ndarray, QualitySummary, int]:
        """``balance_by: category``: the category first (``category_weights``), then one of its types at
        the severities likeliest to reach the target level, keeping the view that comes closest."""
        view, scale, sev = self._propose_shared(img, rng, target, 0.15, 0.45, _TARGET_SEVERITY)
        if view is not None:
            return view
        w = np.array([self.cfg.category_weights.get(c, 1.0) for c in self.categories], dtype=np.float64)
        cat = self.categories[int(rng.choice(len(self.categories), p=w / w.sum()))]
        kinds = [t for t in self.types if TYPE_CATEGORY[t] == cat]
        kind = kinds[int(rng.integers(len(kinds)))]
        best = None
        for level in sev:  # the same type, severities from the likeliest for the target on
            if scale > 1:  # the down-sampling is already a degradation of its own
                level = max(1, level - 1)
            view = self._measured(img, *degrade(img, "single", types=[kind], severity=level, scale=scale, seed=rng))
            gap = abs(LEVELS.index(view[1].level) - target)
            if best is None or gap < best[0]:
                best = (gap, view)
            if gap == 0:
                break
        return best[1]


def answer_weights(ids: list[int], level_ids: set[int], level_weight: float) -> list[float] | None:
    """CE weights of an answer's targets (ids + ``<|im_end|>``): ``level_weight`` on its first level word."""
    if level_weight == 1.0:
        return None
    w = [1.0] * (len(ids) + 1)
    for i, t in enumerate(ids):
        if t in level_ids:
            w[i] = float(level_weight)
            break
    return w


def soft_level(score: float, sigma: float, rng: np.random.Generator) -> str:
    """A level word drawn with probability proportional to ``exp(-(value - score)^2 / 2 sigma^2)``."""
    v = np.arange(1, len(LEVELS) + 1, dtype=np.float64)
    p = np.exp(-0.5 * ((v - float(score)) / sigma) ** 2)
    return LEVELS[int(rng.choice(len(LEVELS), p=p / p.sum()))]


class IQASource(_FolderSource):
    """Synthetic IQA from clean folders: score, description and comparison answers.

    Every view has its crop's size (see :class:`_Views`); ``balance_levels`` balances the five quality
    levels, ``soft_levels`` makes score answers soft labels and ``level_weight`` weights the level word.
    """

    def __init__(self, cfg: SourceConfig, geo: Geometry, tokenizer, cache: ImageCache):
        super().__init__(cfg, geo, tokenizer, cache)
        bad = sorted(set(cfg.tasks) - set(IQA_TASKS))
        if bad:
            raise DataError(f"unknown IQA task(s) {', '.join(bad)}; choose from {', '.join(IQA_TASKS)}")
        self.views = _Views(cfg, self._mix_degrade)
        self.level_ids = set(tokenizer.level_ids(LEVELS))

    def __call__(self, rng: np.random.Generator, step: int) -> Sample:
        task = _weighted(rng, self.cfg.tasks)
        # vit_native: crops are multiples of the ViT patch, so the ViT sees the pixels themselves (a resize
        # to the patch grid would interpolate away the 1-px structure of noise and JPEG blocking)
        img, name = self._crop(rng, self.geo.vit_patch if self.cfg.vit_native else None)
        a, sa, scale = self.views(img, rng)
        said = sa.level
        prep = self.geo.prep
        if task == "compare":
            b, sb, _ = self.views(img, rng)
            q, ans = instruction("compare", rng), comparison_text(sa, sb, rng)
            items = compare_sequence(self.tok, prep, a, b, q)
        elif task == "score":
            if self.cfg.soft_levels > 0:
                said = soft_level(sa.score, self.cfg.soft_levels, rng)
            ans = score_answer(said)
            items = score_sequence(self.tok, prep, a)
        else:
            q, ans = instruction("assess", rng), description_text(sa, rng)
            items = describe_sequence(self.tok, prep, a, q)
        ids = self.tok.encode(ans)
        w = answer_weights(ids, self.level_ids, self.cfg.level_weight) if task != "compare" else None
        items.append(answer(self.tok, ans, w))
        return Sample(items, f"iqa_{task}", {"file": name, "level": sa.level, "score": sa.score, "said": said,
                                             "answer": ans, "crop": int(img.shape[0]), "scale": scale})


class MOSSource:
    """Score answers from a MOS table (:func:`~uare.data.mos.read_mos_table`)."""

    def __init__(self, cfg: SourceConfig, geo: Geometry, tokenizer, cache: ImageCache):
        self.geo, self.tok, self.cache = geo, tokenizer, cache
        rng = tuple(cfg.mos_range) if cfg.mos_range else None
        if rng is not None and len(rng) != 2:
            raise DataError(f"mos_range must be [low, high], got {list(rng)}")
        self.rows = read_mos_table(cfg.table, cfg.image_root or None, cfg.layout, rng)  # type: ignore[arg-type]

    def __call__(self, rng: np.random.Generator, step: int) -> Sample:
        row = self.rows[int(rng.integers(len(self.rows)))]
        img = self.cache.load(row.path)
        ans = score_answer(row.level)
        items = [*score_sequence(self.tok, self.geo.prep, img), answer(self.tok, ans)]
        return Sample(items, "iqa_mos", {"file": row.path.name, "mos": row.mos, "score": row.score,
                                         "level": row.level, "answer": ans})


class InterleavedSource(_FolderSource):
    """Stage 2: instruction -> four-part analysis (text loss) -> the restored image (flow loss).

    ``target: false`` drops the restored image (understanding pre-training trains the analysis alone);
    ``balance_levels`` balances the quality levels of the degraded inputs, as for IQA.
    """

    def __init__(self, cfg: SourceConfig, geo: Geometry, tokenizer, cache: ImageCache):
        super().__init__(cfg, geo, tokenizer, cache)
        self.views = _Views(cfg, self._mix_degrade)

    def __call__(self, rng: np.random.Generator, step: int) -> Sample:
        img, name = self._crop(rng)
        lq, summary, scale = self.views(img, rng)  # at the (mod-cropped) crop's size
        img = img[: lq.shape[0], : lq.shape[1]]
        task = pick_task(summary, rng, self.cfg.auto_prob)
        text = instruction(task, rng, scale=scale)
        analysis = analysis_text(summary, rng, task)
        items = self._restore_items(lq, img, text, analysis, self.cfg.target)
        return Sample(items, "interleaved", {"file": name, "scale": scale, "task": task, "instruction": text,
                                             "analysis": analysis, "level": summary.level,
                                             "crop": int(img.shape[0])})


def build_source(cfg: SourceConfig, geo: Geometry, tokenizer, cache: ImageCache,
                 curriculum: CurriculumConfig | None = None) -> Callable[[np.random.Generator, int], Sample]:
    """The builder for ``cfg.kind``."""
    if cfg.kind == "restoration":
        return RestorationSource(cfg, geo, tokenizer, cache, curriculum)
    if cfg.kind == "paired":
        return PairedSource(cfg, geo, tokenizer, cache)
    if cfg.kind == "iqa":
        return IQASource(cfg, geo, tokenizer, cache)
    if cfg.kind == "mos":
        return MOSSource(cfg, geo, tokenizer, cache)
    if cfg.kind == "interleaved":
        return InterleavedSource(cfg, geo, tokenizer, cache)
    raise DataError(f"unknown source kind {cfg.kind!r}")


def source_paths(cfg: SourceConfig) -> list[Path]:
    """Every path a source reads (for the check that no test folder is used)."""
    paths = [Path(f) for f in cfg.folders] + [Path(str(f).partition("#")[0]) for f in cfg.shards]
    paths += [Path(p) for p in (cfg.lq_folder, cfg.hq_folder, cfg.table, cfg.image_root) if p]
    return paths
