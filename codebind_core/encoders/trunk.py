"""ViT trunk for a target modality: tokenizer + CLS + positions + transformer (App. A.3)."""
from __future__ import annotations

from typing import List

import torch
from torch import nn

from ..config import InputConfig, TrunkConfig
from ..layers import Transformer
from .base import TargetEncoder
from .patch_embed import TOKENIZERS


class ViTTrunk(TargetEncoder):
    def __init__(self, modality: str, trunk: TrunkConfig, inputs: InputConfig):
        super().__init__()
        if modality not in TOKENIZERS:
            raise ValueError(f"no tokenizer for modality {modality!r}; known: {sorted(TOKENIZERS)}")
        self.modality = modality
        self.width = trunk.width
        self.tokenizer = TOKENIZERS[modality](trunk.width, inputs)
        self.num_patches = self.tokenizer.num_patches
        self.patch_dim = self.tokenizer.patch_dim
        self.cls_token = nn.Parameter(torch.zeros(1, 1, trunk.width))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + self.num_patches, trunk.width) * 0.02)
        self.transformer = Transformer(trunk.width, trunk.depth, trunk.heads, trunk.mlp_ratio, trunk.drop_path)

    @property
    def expected_shape(self) -> tuple:
        """Per-sample input shape (no batch axis)."""
        return tuple(self.tokenizer.expected)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.tokenizer(x)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        return self.transformer(torch.cat([cls, tokens], dim=1) + self.pos_embed)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        return self.tokenizer.patchify(x)

    def lora_target_modules(self, last_k: int) -> List[str]:
        n = len(self.transformer.blocks)
        return [f"transformer.blocks.{i}.attn.{name}"
                for i in range(max(0, n - last_k), n) for name in ("qkv", "proj")]
