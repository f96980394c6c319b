"""Reconstruction decoder (App. A.1 Eq. 2, App. A.3): a ViT over quantized [shared, specific]
CLS + patch tokens that predicts each patch's input values. Dropped at inference."""
from __future__ import annotations

import torch
from torch import nn

from .layers import Transformer


class ReconDecoder(nn.Module):
    def __init__(self, in_dim: int, num_tokens: int, patch_dim: int, width: int = 512,
                 depth: int = 8, heads: int = 8):
        super().__init__()
        self.embed = nn.Linear(in_dim, width)
        self.pos_embed = nn.Parameter(torch.randn(1, num_tokens, width) * 0.02)
        self.transformer = Transformer(width, depth, heads)
        self.head = nn.Linear(width, patch_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, 1+P, in_dim) -> (B, P, patch_dim): the CLS token conditions, patches are predicted."""
        x = self.transformer(self.embed(tokens) + self.pos_embed)
        return self.head(x[:, 1:])
