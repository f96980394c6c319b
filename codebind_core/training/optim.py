"""Optimisers and learning-rate schedules, chosen by name from registries."""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Iterable, Tuple

import torch

OPTIMIZERS: Dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adamw": lambda params, lr, weight_decay, betas: torch.optim.AdamW(
        params, lr=lr, weight_decay=weight_decay, betas=betas),
    "adam": lambda params, lr, weight_decay, betas: torch.optim.Adam(
        params, lr=lr, weight_decay=weight_decay, betas=betas),
    "sgd": lambda params, lr, weight_decay, betas: torch.optim.SGD(
        params, lr=lr, weight_decay=weight_decay, momentum=betas[0]),
}


def _constant(step: int, warmup: int, total: int) -> float:
    return min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0


def _cosine(step: int, warmup: int, total: int) -> float:
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _linear(step: int, warmup: int, total: int) -> float:
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    return max(0.0, 1.0 - (step - warmup) / max(1, total - warmup))


SCHEDULES: Dict[str, Callable[[int, int, int], float]] = {
    "constant": _constant, "cosine": _cosine, "linear": _linear,
}


def build_optimizer(name: str, params: Iterable[Any], lr: float, weight_decay: float,
                    betas: tuple) -> torch.optim.Optimizer:
    """``params``: parameters, or param groups (dicts with "params" and their own "lr");
    parameters that do not require grad are left out."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {sorted(OPTIMIZERS)}")
    items = list(params)
    if items and isinstance(items[0], dict):
        groups = [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in items]
        params = [g for g in groups if g["params"]]
    else:
        params = [p for p in items if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    return OPTIMIZERS[name](params, lr, weight_decay, tuple(betas))


# The official per-modality optimiser (official §13, App. A.3): (base lr, lr_new). The base lr
# trains the trunks (LoRA), the shared heads and the preprocessors; lr_new the new, randomly
# initialised parts (specific heads, decoders). Point clouds have no official config: the
# paper's 5e-4.
OFFICIAL_LR: Dict[str, Tuple[float, float]] = {
    "image": (1e-5, 5e-4), "video": (1e-5, 5e-4), "depth": (5e-4, 5e-4), "audio": (5e-5, 5e-4),
    "thermal": (5e-5, 5e-4), "tactile": (5e-4, 5e-4), "eeg": (5e-4, 5e-4), "pointcloud": (5e-4, 5e-4),
}
OFFICIAL_BETAS = (0.9, 0.95)
OFFICIAL_WEIGHT_DECAY = 1e-4


def official_optim(target: str) -> Dict[str, Any]:
    """The official AdamW settings of a target modality: lr, lr_new, betas, weight_decay."""
    if target not in OFFICIAL_LR:
        raise ValueError(f"no official optimiser settings for {target!r}; known: {sorted(OFFICIAL_LR)}")
    lr, lr_new = OFFICIAL_LR[target]
    return {"lr": lr, "lr_new": lr_new, "betas": OFFICIAL_BETAS, "weight_decay": OFFICIAL_WEIGHT_DECAY}


def build_schedule(name: str, optimizer: torch.optim.Optimizer, warmup_steps: int,
                   total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR stepping once per optimiser step: linear warm-up, then the named decay."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose from {sorted(SCHEDULES)}")
    fn = SCHEDULES[name]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: fn(s, warmup_steps, total_steps))
