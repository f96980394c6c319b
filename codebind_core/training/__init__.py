"""Training of CodeBind (paper §3.4, App. B.2): configs, Stage-0 bridge pretraining, the Stage-1
loop (DDP, gradient accumulation, AMP, atomic checkpoints, exact resume) and data sources.

    from codebind_core.training import TrainConfig, run_training
    run_training(TrainConfig.from_file("training/configs/synth_tiny.yaml"))
"""
from .config import TrainConfig
from .run import run_training
from .trainer import LoopSettings, Trainer

__all__ = ["LoopSettings", "TrainConfig", "Trainer", "run_training"]
