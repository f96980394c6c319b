"""Reconstruction decoder (App. A.1 Eq. 2, App. A.3): a ViT over quantized [shared, specific]
CLS + patch tokens that predicts each patch's input values. Dropped at inference.

``trunk_dim`` turns on the official decoder's continuous-input shortcut (``input_projection``,
official §4): ``h = LN(W q + b) + LN(F_trunk)`` with one LayerNorm (eps 1e-6) for both terms,
where ``F_trunk`` is the unquantized, non-detached trunk output, so reconstruction also trains the
trunk directly and the decoder can partly bypass the codes. Differences kept on purpose: the
decoder's own learned position embedding stands for the encoder's, and a linear head predicts
each patch at input resolution (the official one deconvolves to half resolution).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .layers import Transformer


class ReconDecoder(nn.Module):
    def __init__(self, in_dim: int, num_tokens: int, patch_dim: int, width: int = 512,
                 depth: int = 8, heads: int = 8, trunk_dim: Optional[int] = None):
        super().__init__()
        self.trunk_dim = trunk_dim
        if trunk_dim:
            self.input_projection = nn.Linear(in_dim, trunk_dim)
            self.input_norm = nn.LayerNorm(trunk_dim, eps=1e-6)
        self.embed = nn.Linear(trunk_dim or in_dim, width)
        self.pos_embed = nn.Parameter(torch.randn(1, num_tokens, width) * 0.02)
        self.transformer = Transformer(width, depth, heads)
        self.head = nn.Linear(width, patch_dim)

    def forward(self, tokens: torch.Tensor, trunk: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, 1+P, in_dim) quantized tokens [+ (B, 1+P, trunk_dim) trunk tokens] -> (B, P, patch_dim)."""
        if self.trunk_dim:
            if trunk is None:
                raise ValueError("this decoder takes the trunk tokens too (input_projection)")
            tokens = self.input_norm(self.input_projection(tokens)) + self.input_norm(trunk)
        x = self.transformer(self.embed(tokens) + self.pos_embed)
        return self.head(x[:, 1:])
