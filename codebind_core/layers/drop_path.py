"""Stochastic depth, the one implementation used by every transformer trunk."""
from __future__ import annotations

import torch
from torch import nn


class DropPath(nn.Module):
    """Stochastic depth (timm semantics: one draw per index of axis 0, scaled by 1/keep).

    Batch-first inputs draw per sample; inside the ImageBind trunks the input is sequence-first,
    so, exactly as in ImageBind, the draw is per token position. Identity in eval mode and at
    rate 0."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep
