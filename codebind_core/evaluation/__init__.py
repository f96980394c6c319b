"""Evaluation of CodeBind (paper §4, App. C): pure metrics, the per-target evaluation suite, the
modality-unique factors of SynthBind and the robot's retrieval metric. It imports no training code;
the benchmark and sweep that train and evaluate are in :mod:`codebind_core.experiments`.

    from codebind_core.evaluation import metrics
    metrics.zero_shot_accuracy(embeddings, class_embeddings, labels)   # {"acc@1": ..., "acc@5": ...}
"""
from . import metrics
from .suite import EvalOptions, TargetEvalData, evaluate_target

__all__ = ["EvalOptions", "TargetEvalData", "evaluate_target", "metrics"]
