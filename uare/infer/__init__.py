"""Inference: :class:`UARE` assesses, compares, restores and enhances; results are small dataclasses."""

from uare.infer.outputs import Assessment, Comparison, Restoration
from uare.infer.pipeline import DEFAULT_MODEL_DIR, UARE, InferenceDefaults

__all__ = ["DEFAULT_MODEL_DIR", "UARE", "Assessment", "Comparison", "InferenceDefaults", "Restoration"]
