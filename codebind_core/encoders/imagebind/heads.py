"""ImageBind heads (LayerNorm, token selection, bias-free projection) and postprocessors
(L2 normalisation, then a logit scale for every modality but vision)."""
from __future__ import annotations

import torch
from torch import nn

from .config import ImageBindConfig
from .layers import LogitScale, Normalize, SelectToken

HEAD_LN_EPS = 1e-6

# Postprocessor logit scales: (initial value, learnable). Vision has none. All are capped at 100.
LOGIT_SCALES = {"text": (1 / 0.07, True), "audio": (20.0, False), "depth": (5.0, False),
                "thermal": (10.0, False), "imu": (5.0, False)}


class EosHead(nn.Module):
    """Text head: take the token at the EOS position of each sequence, then ``proj`` (LN, Linear)."""

    def __init__(self, width: int, out_dim: int):
        super().__init__()
        self.proj = nn.Sequential(nn.LayerNorm(width, eps=HEAD_LN_EPS), nn.Linear(width, out_dim, bias=False))

    def forward(self, x: torch.Tensor, eos: torch.Tensor) -> torch.Tensor:
        return self.proj(x[torch.arange(x.shape[0], device=x.device), eos])


def _cls_head(width: int, out_dim: int) -> nn.Sequential:
    """Slots: 0 LayerNorm, 1 select the cls token, 2 Linear (no bias)."""
    return nn.Sequential(nn.LayerNorm(width, eps=HEAD_LN_EPS), SelectToken(0),
                         nn.Linear(width, out_dim, bias=False))


def _imu_head(width: int, out_dim: int) -> nn.Sequential:
    """Slots: 0 LayerNorm, 1 select the cls token, 2 Dropout(0.5), 3 Linear (no bias)."""
    return nn.Sequential(nn.LayerNorm(width, eps=HEAD_LN_EPS), SelectToken(0), nn.Dropout(p=0.5),
                         nn.Linear(width, out_dim, bias=False))


HEADS = {"vision": _cls_head, "text": EosHead, "audio": _cls_head, "depth": _cls_head,
         "thermal": _cls_head, "imu": _imu_head}


def build_head(modality: str, cfg: ImageBindConfig) -> nn.Module:
    if modality not in HEADS:
        raise ValueError(f"unknown ImageBind modality {modality!r}; choose from {tuple(HEADS)}")
    return HEADS[modality](cfg.tower(modality).width, cfg.out_embed_dim)


def build_postprocessor(modality: str) -> nn.Module:
    if modality == "vision":
        return Normalize(dim=-1)
    if modality not in LOGIT_SCALES:
        raise ValueError(f"unknown ImageBind modality {modality!r}")
    init, learnable = LOGIT_SCALES[modality]
    return nn.Sequential(Normalize(dim=-1), LogitScale(init, learnable=learnable))


def head_norm(head: nn.Module) -> nn.LayerNorm:
    """The LayerNorm a head applies to the trunk tokens."""
    return head.proj[0] if isinstance(head, EosHead) else head[0]


def head_projection(head: nn.Module) -> nn.Linear:
    """The bias-free Linear projecting the selected token to the output dim."""
    return head.proj[1] if isinstance(head, EosHead) else head[-1]
