"""The two encoder contracts the CodeBind model composes (§3.1, App. A.3)."""
from __future__ import annotations

from typing import List

import torch
from torch import nn


class TargetEncoder(nn.Module):
    """A target-modality trunk: tokenizer + transformer.

    ``forward(x)`` returns (B, 1+P, width) tokens, CLS first; ``patchify(x)`` returns the
    (B, P, patch_dim) reconstruction targets matching the P patch tokens one to one (Eq. 2)."""

    width: int
    num_patches: int
    patch_dim: int

    def patchify(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def lora_target_modules(self, last_k: int) -> List[str]:  # pragma: no cover - interface
        raise NotImplementedError


class Bridge(nn.Module):
    """Frozen text + image encoders whose joint space the targets are aligned to."""

    embed_dim: int
    image_encoder: "TargetEncoder | None" = None

    def tokenize(self, texts: List[str]) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def image_tokens(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        """(B, 1+P, embed_dim): pooled image embedding first, then projected patch tokens."""
        raise NotImplementedError

    def patchify_image(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError
