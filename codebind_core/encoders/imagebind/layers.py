"""Parameter-free pieces of the ImageBind graph and the logit scale.

They sit in the same ``nn.Sequential`` slots as in ImageBind, so the indices of the layers that do
carry weights (``proj.1``, ``heads.<m>.2``, ``postprocessors.<m>.1``) match its state dict.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class PadIm2Video(nn.Module):
    """B x C x H x W -> B x C x T x H x W; a single frame is repeated ``ntimes`` (pad type "repeat").

    A 5-D input is a clip and passes through unchanged unless its time length is 1."""

    def __init__(self, ntimes: int, time_dim: int = 2):
        super().__init__()
        if ntimes <= 0:
            raise ValueError(f"ntimes must be positive, got {ntimes}")
        self.ntimes = ntimes
        self.time_dim = time_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:
            x = x.unsqueeze(self.time_dim)
        elif x.ndim != 5:
            raise ValueError(f"vision input must be B x 3 x H x W or B x 3 x T x H x W, got {tuple(x.shape)}")
        if x.shape[self.time_dim] == 1:
            repeats = [1] * x.ndim
            repeats[self.time_dim] = self.ntimes
            x = x.repeat(repeats)
        return x


class SequenceFirst(nn.Module):
    """B x L x D -> L x B x D (the layout the trunks run ``nn.MultiheadAttention`` in)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(1, 0, 2)


class BatchFirst(nn.Module):
    """L x B x D -> B x L x D."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(1, 0, 2)


class SelectToken(nn.Module):
    """Pick one token (the cls token at index 0) from B x L x D."""

    def __init__(self, index: int = 0):
        super().__init__()
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.index, ...]


class Normalize(nn.Module):
    """L2 normalisation along ``dim`` (eps 1e-12, as ``F.normalize``)."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=self.dim, p=2)


class LogitScale(nn.Module):
    """Multiply by ``min(exp(log_logit_scale), max_scale)``.

    ``learnable=True`` stores the 0-d log scale as a parameter (ImageBind's text), otherwise as a
    buffer (its fixed audio 20, depth 5, thermal 10 and IMU 5)."""

    def __init__(self, init: float = 1 / 0.07, learnable: bool = True, max_scale: float = 100.0):
        super().__init__()
        if init <= 0:
            raise ValueError(f"logit scale must be positive, got {init}")
        self.max_scale = max_scale
        self.learnable = learnable
        value = torch.ones([]) * math.log(init)
        if learnable:
            self.log_logit_scale = nn.Parameter(value)
        else:
            self.register_buffer("log_logit_scale", value)

    def scale(self) -> torch.Tensor:
        return torch.clip(self.log_logit_scale.exp(), max=self.max_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale() * x

    def extra_repr(self) -> str:
        return f"learnable={self.learnable}, max_scale={self.max_scale}"
