"""OpenCLIP bridges: any OpenCLIP architecture, weights from a local file, frozen (§3.1)."""
from __future__ import annotations

from typing import List

import torch
import torch.nn.functional as F

from ..config import BridgeConfig
from ..weights import load_state_dict
from .base import Bridge


class OpenCLIPBridge(Bridge):
    def __init__(self, cfg: BridgeConfig):
        super().__init__()
        import open_clip

        model_cfg = cfg.model_cfg or open_clip.get_model_config(cfg.arch)
        if model_cfg is None:
            raise ValueError(f"unknown OpenCLIP architecture {cfg.arch!r} and no model_cfg given")
        self.clip = open_clip.CLIP(**model_cfg)
        if cfg.weights:
            missing, unexpected = self.clip.load_state_dict(load_state_dict(cfg.weights), strict=False)
            missing = [k for k in missing if "attn_mask" not in k]
            if missing or unexpected:
                raise ValueError(f"bridge weights {cfg.weights} do not match {cfg.arch}: "
                                 f"missing {missing[:5]}, unexpected {unexpected[:5]}")
        text_cfg = model_cfg["text_cfg"]
        self.context_length = int(text_cfg.get("context_length", 77))
        self._tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=self.context_length)
        self.embed_dim = int(model_cfg["embed_dim"])
        self.patch_size = int(model_cfg["vision_cfg"].get("patch_size", 16))
        self.image_size = int(model_cfg["vision_cfg"].get("image_size", 224))
        self.clip.visual.output_tokens = True
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):  # frozen: always in eval mode
        return super().train(False)

    def tokenize(self, texts: List[str]) -> torch.Tensor:
        return self._tokenizer(list(texts))

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_text(tokens)

    def image_tokens(self, images: torch.Tensor) -> torch.Tensor:
        visual = self.clip.visual
        pooled, tokens = visual(images)
        if tokens.shape[-1] != self.embed_dim and visual.proj is not None:
            tokens = tokens @ visual.proj
        return torch.cat([pooled.unsqueeze(1), tokens], dim=1)

    def patchify_image(self, images: torch.Tensor) -> torch.Tensor:
        return F.unfold(images, self.patch_size, stride=self.patch_size).transpose(1, 2)

    @property
    def image_patch_dim(self) -> int:
        return 3 * self.patch_size ** 2

    @property
    def image_num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2
