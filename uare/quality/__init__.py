"""The quality language: scores, levels, severity words, seeded texts and their parser.

One concept per module:

* :mod:`~uare.quality.score` - the 1-5 score from a degradation record (+ optional SSIM term);
* :mod:`~uare.quality.fidelity` - BT.601 luma and Gaussian-window SSIM;
* :mod:`~uare.quality.levels` - the five Q-Align levels, thresholds and expected score;
* :mod:`~uare.quality.words` - severity words and degradation nouns;
* :mod:`~uare.quality.summary` - :class:`QualitySummary` and :func:`summarize`;
* :mod:`~uare.quality.templates` - instructions, analyses, descriptions, comparisons;
* :mod:`~uare.quality.parse` - reading those texts back.
"""

from uare.quality.fidelity import fidelity, luma, ssim, ssim_map
from uare.quality.levels import (
    LEVEL_THRESHOLDS,
    LEVEL_VALUES,
    LEVELS,
    SCORE_QUESTION,
    expected_score,
    level_from_score,
    score_answer,
)
from uare.quality.parse import (
    ParsedAnalysis,
    ParsedComparison,
    ParsedDescription,
    parse_analysis,
    parse_comparison,
    parse_description,
    parse_instruction,
    parse_level,
    parse_plan,
    parse_scale,
    parse_score,
)
from uare.quality.score import aggregate_severity, fidelity_score, quality_score, record_score
from uare.quality.summary import QualitySummary, summarize, summary_from_severities
from uare.quality.templates import (
    HEADERS,
    PLAN_ORDER,
    RESTORE_TASKS,
    TASK_CATEGORY,
    TASKS,
    TIE_MARGIN,
    analysis_text,
    comparison_text,
    defect_phrases,
    description_text,
    expected_summary,
    instruction,
    plan_categories,
)
from uare.quality.words import (
    NOUNS,
    SEVERITY_WORDS,
    encoded_kind,
    find_degradations,
    noun,
    noun_kind,
    severity_word,
)

__all__ = [
    "HEADERS",
    "LEVELS",
    "LEVEL_THRESHOLDS",
    "LEVEL_VALUES",
    "NOUNS",
    "PLAN_ORDER",
    "RESTORE_TASKS",
    "SCORE_QUESTION",
    "SEVERITY_WORDS",
    "TASKS",
    "TASK_CATEGORY",
    "TIE_MARGIN",
    "ParsedAnalysis",
    "ParsedComparison",
    "ParsedDescription",
    "QualitySummary",
    "aggregate_severity",
    "analysis_text",
    "comparison_text",
    "defect_phrases",
    "description_text",
    "encoded_kind",
    "expected_score",
    "expected_summary",
    "fidelity",
    "fidelity_score",
    "find_degradations",
    "instruction",
    "level_from_score",
    "luma",
    "noun",
    "noun_kind",
    "parse_analysis",
    "parse_comparison",
    "parse_description",
    "parse_instruction",
    "parse_level",
    "parse_plan",
    "parse_scale",
    "parse_score",
    "plan_categories",
    "quality_score",
    "record_score",
    "score_answer",
    "severity_word",
    "ssim",
    "ssim_map",
    "summarize",
    "summary_from_severities",
]
