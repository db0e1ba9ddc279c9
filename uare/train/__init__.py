"""Training: configs, stage-specific freezing, the loop (FSDP2 / DDP / one process), checkpoints, dry-run."""

from uare.train.config import TrainConfig, TrainConfigError, config_from_dict, load_config
from uare.train.trainer import RunResult, Trainer, train

__all__ = ["RunResult", "TrainConfig", "TrainConfigError", "Trainer", "config_from_dict", "load_config", "train"]
