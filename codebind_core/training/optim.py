"""Optimisers and learning-rate schedules, chosen by name from registries."""
from __future__ import annotations

import math
from typing import Callable, Dict, Iterable

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


def build_optimizer(name: str, params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float,
                    betas: tuple) -> torch.optim.Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {sorted(OPTIMIZERS)}")
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    return OPTIMIZERS[name](params, lr, weight_decay, tuple(betas))


def build_schedule(name: str, optimizer: torch.optim.Optimizer, warmup_steps: int,
                   total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR stepping once per optimiser step: linear warm-up, then the named decay."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose from {sorted(SCHEDULES)}")
    fn = SCHEDULES[name]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: fn(s, warmup_steps, total_steps))
