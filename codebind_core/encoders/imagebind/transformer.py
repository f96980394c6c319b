"""ImageBind's trunk: pre-norm transformer blocks around ``nn.MultiheadAttention``.

Block (used identically by all six trunks)::

    x = x + DropPath(MHA(LN1(x)))      # self-attention, packed in_proj, optional bias_k/bias_v
    x = x + DropPath(MLP(LN2(x)))      # fc1 (D -> 4D), exact GELU, fc2 (4D -> D)

Both LayerNorms use eps 1e-6; no LayerScale; no final LayerNorm (the head's plays that role). The
blocks run sequence-first (L x B x D); the trunk converts from and back to B x L x D.
"""
from __future__ import annotations

from typing import List, Optional

import torch
from torch import nn

from ...layers.drop_path import DropPath
from .layers import BatchFirst, SequenceFirst

BLOCK_LN_EPS = 1e-6
MLP_RATIO = 4


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.act = nn.GELU()  # exact (erf) GELU
        self.fc2 = nn.Linear(hidden, width)
        self.drop = nn.Dropout(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm residual block; ``bias_kv`` appends learned ``bias_k``/``bias_v`` key/value slots."""

    def __init__(self, width: int, heads: int, bias_kv: bool, drop_path: float = 0.0):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, bias=True, add_bias_kv=bias_kv)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm_1 = nn.LayerNorm(width, eps=BLOCK_LN_EPS)
        self.mlp = Mlp(width, MLP_RATIO * width)
        self.norm_2 = nn.LayerNorm(width, eps=BLOCK_LN_EPS)

    def forward(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``x``: L x B x D; ``attn_mask``: additive L x L float mask or None."""
        h = self.norm_1(x)
        x = x + self.drop_path(self.attn(h, h, h, need_weights=False, attn_mask=attn_mask)[0])
        return x + self.drop_path(self.mlp(self.norm_2(x)))


class Trunk(nn.Module):
    """``pre_transformer_layer`` (LayerNorm eps 1e-6 for vision, else Identity; then B L D -> L B D),
    ``blocks``, ``post_transformer_layer`` (L B D -> B L D)."""

    def __init__(self, width: int, blocks: int, heads: int, pre_norm: bool, bias_kv: bool,
                 drop_path: float = 0.0):
        super().__init__()
        first = nn.LayerNorm(width, eps=1e-6) if pre_norm else nn.Identity()
        self.pre_transformer_layer = nn.Sequential(first, SequenceFirst())
        rates: List[float] = [r.item() for r in torch.linspace(0, drop_path, blocks, device="cpu")]
        self.blocks = nn.Sequential(*[Block(width, heads, bias_kv, r) for r in rates])
        self.post_transformer_layer = BatchFirst()
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        """From-scratch init: xavier-uniform Linear weights (incl. out_proj), zero biases, unit LNs;
        ``in_proj_weight``/``bias_k``/``bias_v`` keep PyTorch's MHA init."""
        if self.blocks[0].norm_1.weight.is_meta:
            return
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, tokens: torch.Tensor, attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """B x L x D -> B x L x D."""
        x = self.pre_transformer_layer(tokens)
        for block in self.blocks:
            x = block(x, attn_mask=attn_mask)
        return self.post_transformer_layer(x)
