"""Dataclasses of the ``data:`` section of a training config (validated by :mod:`uare.train.config`)."""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCE_KINDS = ("restoration", "paired", "iqa", "mos", "interleaved")


@dataclass
class SourceConfig:
    """One data source. Which fields matter depends on ``kind``:

    - ``restoration``: clean images in ``folders``, degraded on the fly (``degradation: curriculum`` for
      stage 1, or ``mix`` = ``pipelines`` weights); plan LQ clean VAE -> LQ ViT -> instruction -> noisy HQ.
    - ``paired``: LQ/HQ files with the same stem in ``lq_folder`` / ``hq_folder``; the same plan.
    - ``iqa``: synthetic IQA from clean ``folders``: ``tasks`` weights over score / description / compare.
    - ``mos``: a MOS table (``table``, ``image_root``, ``layout``, optional ``mos_range``); score answers.
    - ``interleaved``: stage 2 analyse-then-restore: instruction -> four-part analysis (text loss) ->
      restored image (flow loss).
    """

    kind: str = "restoration"
    weight: float = 1.0
    folders: list[str] = field(default_factory=list)
    # restoration / iqa / interleaved: clean images from shards instead of folders (uare.data.shards): shard
    # folders written by `uare data pack` (tar or parquet, with a manifest), BAGEL parquet data_dirs, or
    # BAGEL-style dataset_info.json files (file.json#group/name for one entry). Read as a stream: every
    # image once per epoch across ranks x data workers, resumed exactly from a checkpoint.
    shards: list[str] = field(default_factory=list)
    lq_folder: str = ""
    hq_folder: str = ""
    table: str = ""
    image_root: str = ""
    layout: str = "generic"
    mos_range: list[float] = field(default_factory=list)
    crop: list[int] = field(default_factory=lambda: [128, 256])
    degradation: str = "mix"
    pipelines: dict[str, float] = field(default_factory=lambda: {"single": 0.4, "multi": 0.4, "realesrgan": 0.2})
    sr_prob: float = 0.2
    sr_scales: list[int] = field(default_factory=lambda: [2, 4])
    realesrgan_scale: int = 4
    tasks: dict[str, float] = field(default_factory=lambda: {"score": 0.4, "description": 0.3, "compare": 0.3})
    clean_prob: float = 0.05
    auto_prob: float = 0.5
    # iqa / interleaved: draw the quality level first (uniform over the five) and a degradation that
    # reaches it (up to ``balance_tries`` draws; the label is always the drawn image's true level), so no
    # level is a cheap prior. ``clean_prob`` is then unused: "excellent" views are clean half the time.
    balance_levels: bool = False
    balance_tries: int = 6
    # how a degradation is drawn for a target level: "category" (a category drawn uniformly, then its
    # severity searched) or "level" (the first sampler: any type at a typical severity; see sources.py)
    balance_by: str = "category"
    # balance_by category: relative weight of each category of single degradations (default 1 each),
    # e.g. {jpeg: 3} when the model is slow to learn one of them
    category_weights: dict[str, float] = field(default_factory=dict)
    # restoration / iqa / interleaved: degradation types drawn at random besides the default pool (the
    # types of the first release, uare.degrade.types), e.g. [salt_pepper]: they join the single and multi
    # draws (and the curriculum's), and balance_by category draws their category too (weight 1 unless
    # category_weights says otherwise). Empty (the default) keeps every seeded draw of a config as it was.
    extra_types: list[str] = field(default_factory=list)
    # iqa score answers: the level word is drawn from a Gaussian over the five level values around the
    # view's score (this sigma, 0 = its level), so the expected CE is that of a soft label and the
    # model's expected score regresses the score itself rather than the bin it falls in.
    soft_levels: float = 0.0
    # CE weight of the level word (score and description answers) relative to the other answer tokens.
    level_weight: float = 1.0
    # iqa: crop sides are multiples of the ViT patch (not of the latent stride), so views reach the ViT
    # without being resized (inference: InferenceDefaults.assess_crop a multiple of the patch too)
    vit_native: bool = False
    # interleaved: False drops the restored-image target (the analysis alone is trained; understanding
    # pre-training, where the generation expert is frozen).
    target: bool = True


@dataclass
class CurriculumConfig:
    """Stage-1 easy-to-hard schedule (:class:`uare.degrade.Curriculum`); steps are training steps."""

    single_steps: int = 10_000
    multi_steps: int = 20_000
    highorder_steps: int = 1_500
    factor: float = 1.0
    severity_start: int = 2
    severity_end: int = 5
    ramp: float = 0.5
    sr_prob: float = 0.0
    sr_scales: list[int] = field(default_factory=lambda: [2, 4])
    highorder_scale: int = 4
    usm_gt: bool = False  # Real-ESRGAN sharpens the ground truth of its high-order pairs; off by default
    # the high-order sub-stage's pipelines and their weights (uare.degrade.HIGHORDER_PIPELINES: realesrgan,
    # apisr); the default, Real-ESRGAN alone, draws nothing, so seeded samples stay as they were
    highorder_pipelines: dict[str, float] = field(default_factory=lambda: {"realesrgan": 1.0})


@dataclass
class DropoutConfig:
    """Condition dropout for classifier-free guidance: instruction text, LQ ViT image, LQ clean VAE image."""

    text: float = 0.1
    vit: float = 0.1
    vae: float = 0.1


@dataclass
class DataConfig:
    """Sources, the token budget of one pack (one micro-batch per rank) and the loader."""

    sources: list[SourceConfig] = field(default_factory=list)
    tokens_per_pack: int = 8192
    max_samples_per_pack: int = 64
    vit_max_size: int = 518
    vit_min_size: int = 224
    num_workers: int = 0
    prefetch_factor: int = 2
    # "token": CE averaged over target tokens (BAGEL's default); "sqrt": each target of an n-target text
    # weighs 1 / sqrt(n) and the CE is divided by the sum of weights (BAGEL's ce_loss_reweighting);
    # "item": every trained text counts once (uare.data.items.normalize_ce)
    ce_norm: str = "token"
    dropout: DropoutConfig = field(default_factory=DropoutConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
