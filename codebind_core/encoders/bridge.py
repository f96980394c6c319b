"""OpenCLIP bridges: any OpenCLIP architecture, weights from a local file, frozen (§3.1).

Image towers: OpenCLIP's VisionTransformer (tokens = projected patch tokens) or a timm model
(``vision_cfg.timm_model_name``, an NCHW convolutional trunk; tokens = the last feature map's
cells through the tower's projection head, after the pooled embedding ``encode_image`` gives)."""
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
        from open_clip.timm_model import TimmModel
        from open_clip.transformer import VisionTransformer

        from .fast_bpe import FastSimpleTokenizer

        model_cfg = cfg.openclip_cfg()
        self.clip = open_clip.CLIP(**model_cfg)
        if cfg.weights:
            missing, unexpected = self.clip.load_state_dict(load_state_dict(cfg.weights), strict=False)
            missing = [k for k in missing if "attn_mask" not in k]
            if missing or unexpected:
                raise ValueError(f"bridge weights {cfg.weights} do not match {cfg.arch}: "
                                 f"missing {missing[:5]}, unexpected {unexpected[:5]}")
        text_cfg = model_cfg["text_cfg"]
        self.context_length = int(text_cfg.get("context_length", 77))
        self._tokenizer = FastSimpleTokenizer(context_length=self.context_length)  # open_clip's ids, faster
        self.embed_dim = int(model_cfg["embed_dim"])
        self.image_size = int(model_cfg["vision_cfg"].get("image_size", 224))
        self._timm = isinstance(self.clip.visual, TimmModel)
        if self._timm:
            self.patch_size = self.image_size // _feature_grid(self.clip.visual.trunk, self.image_size)
        elif isinstance(self.clip.visual, VisionTransformer):
            self.patch_size = int(model_cfg["vision_cfg"].get("patch_size", 16))
            self.clip.visual.output_tokens = True
        else:
            raise ValueError(f"bridge {cfg.arch!r}: image tower {type(self.clip.visual).__name__} has no "
                             "token output; use a ViT or a timm tower (vision_cfg.timm_model_name)")
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
        if self._timm:
            fmap = visual.trunk.forward_features(images)
            pooled = visual.head(visual.trunk.forward_head(fmap))
            return torch.cat([pooled.unsqueeze(1), visual.head(fmap.flatten(2).transpose(1, 2))], dim=1)
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


def _feature_grid(trunk: torch.nn.Module, image_size: int) -> int:
    """Side of the square feature map a timm trunk makes of an image_size input."""
    was_training = trunk.training
    trunk.eval()
    with torch.no_grad():
        fmap = trunk.forward_features(torch.zeros(1, 3, image_size, image_size))
    trunk.train(was_training)
    if fmap.ndim != 4 or fmap.shape[-1] != fmap.shape[-2]:
        raise ValueError(f"timm image tower: expected a square (B, C, H, W) feature map, got shape "
                         f"{tuple(fmap.shape)}; use a convolutional trunk")
    side = int(fmap.shape[-1])
    if image_size % side:
        raise ValueError(f"timm image tower: a {image_size} px image gives a {side}x{side} feature map, "
                         "which does not tile it; choose image_size as a multiple of the tower's stride")
    return side
