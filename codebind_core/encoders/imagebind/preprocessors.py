"""ImageBind modality preprocessors: stem -> cls token -> learnable positional embedding.

* vision: PadIm2Video (repeat to 2 frames) + Conv3d kernel = stride = (2, 14, 14), no norm.
* audio: Conv2d 1 -> D, kernel 16, stride 10 (overlapping), then LayerNorm (eps 1e-5).
* depth / thermal: Conv2d 1 -> D, kernel = stride = 16, then LayerNorm (eps 1e-5).
* imu: B x 6 x 2000 cut into 250 windows of 8 -> B x 250 x 48 (index channel * 8 + sample),
  Linear 48 -> D without bias, then LayerNorm (eps 1e-5).
* text: token embedding + positional embedding; causal mask; EOS position = argmax of the ids.

No stem has a bias and every convolution uses padding 0. Stem outputs are flattened to
B x (T*H*W) x D, time-major then row-major.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .config import CONTEXT_LENGTH, IMU_CHANNELS, IMU_WINDOW, VIDEO_PAD_FRAMES, VOCAB_SIZE, ImageBindConfig
from .layers import PadIm2Video


class PatchStem(nn.Module):
    """``proj`` (a conv, a Linear, or a Sequential of them) then an optional ``norm_layer``."""

    def __init__(self, proj: nn.Module, norm_layer: Optional[nn.Module] = None):
        super().__init__()
        self.proj = proj
        self.norm_layer = norm_layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        if x.ndim > 3:  # B x C x (T) x H x W -> B x (T)HW x C
            x = x.flatten(2).transpose(1, 2)
        return x if self.norm_layer is None else self.norm_layer(x)


def interpolate_pos_2d(pos: torch.Tensor, target: int) -> torch.Tensor:
    """Resize a 1 x N x D square-grid positional embedding to ``target`` patches (bicubic).

    Uses ``scale_factor = sqrt(target / N)`` exactly as ImageBind does, so a non-square target is
    refused instead of silently producing a different count."""
    n, dim = pos.shape[1], pos.shape[-1]
    if n == target:
        return pos
    side = int(math.sqrt(n))
    if side * side != n:
        raise ValueError(f"cannot interpolate a positional embedding of {n} patches: not a square grid")
    dtype = pos.dtype
    grid = pos.reshape(1, side, side, dim).permute(0, 3, 1, 2)
    if dtype == torch.bfloat16:  # bicubic interpolate has no bfloat16 kernel
        grid = grid.float()
    out = F.interpolate(grid, scale_factor=math.sqrt(target / n), mode="bicubic")
    out = out.to(dtype).permute(0, 2, 3, 1).reshape(1, -1, dim)
    if out.shape[1] != target:
        raise ValueError(f"input gives {target} patches, which is not a square grid the "
                         f"{side}x{side} positional embedding can be resized to")
    return out


class PosEmbedding(nn.Module):
    """Learnable 1 x (cls + patches) x D positional embedding of a patch grid (``pos_embed``)."""

    def __init__(self, layout: Tuple[int, ...], num_cls_tokens: int, width: int):
        super().__init__()
        self.layout = tuple(layout)
        self.num_cls_tokens = num_cls_tokens
        self.num_patches = math.prod(self.layout)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_cls_tokens + self.num_patches, width))

    def for_patches(self, num_patches: int, input_ndim: int) -> torch.Tensor:
        """The embedding for ``num_patches`` patch tokens (resized for square 2-D grids only)."""
        if num_patches == self.num_patches:
            return self.pos_embed
        if len(self.layout) < 2 or self.layout[-1] != self.layout[-2]:
            raise ValueError(f"input gives {num_patches} patches but this modality needs exactly "
                             f"{self.num_patches} (patch grid {self.layout} cannot be resized)")
        cls, grid = self.pos_embed[:, :self.num_cls_tokens], self.pos_embed[:, self.num_cls_tokens:]
        if len(self.layout) == 3 and self.layout[0] > 1:  # temporal grid: resize frame 0 of an image
            if input_ndim != 4:
                raise ValueError("temporal resizing of the positional embedding is not supported")
            grid = grid.reshape(1, self.layout[0], self.layout[1] * self.layout[2], -1)[0, 0].unsqueeze(0)
        return torch.cat((cls, interpolate_pos_2d(grid, num_patches)), dim=1)


class PatchPreprocessor(nn.Module):
    """Vision, audio, depth and thermal: ``cls_token``, the stem under ``stem_slot``
    (``rgbt_stem`` or ``depth_stem``), and ``pos_embedding_helper``."""

    def __init__(self, stem_slot: str, stem: PatchStem, layout: Tuple[int, ...], width: int):
        super().__init__()
        self.stem_slot = stem_slot
        self.add_module(stem_slot, stem)
        self.pos_embedding_helper = PosEmbedding(layout, 1, width)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self._init_weights(width)

    @torch.no_grad()
    def _init_weights(self, width: int) -> None:
        if self.cls_token.is_meta:  # shapes only (e.g. key checks): nothing to initialise
            return
        scale = width ** -0.5
        nn.init.normal_(self.pos_embedding_helper.pos_embed).mul_(scale)
        nn.init.normal_(self.cls_token).mul_(scale)

    @property
    def stem(self) -> PatchStem:
        return getattr(self, self.stem_slot)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """-> (B x (1 + P) x D tokens, head inputs {})."""
        tokens = self.stem(x)
        tokens = torch.cat((self.cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
        tokens = tokens + self.pos_embedding_helper.for_patches(tokens.shape[1] - 1, x.ndim)
        return tokens, {}


class ImuPreprocessor(nn.Module):
    """IMU: ``pos_embed`` (on the module itself), ``cls_token`` and ``imu_stem``."""

    def __init__(self, stem: PatchStem, num_windows: int, width: int):
        super().__init__()
        self.imu_stem = stem
        self.pos_embed = nn.Parameter(torch.empty(1, num_windows + 1, width))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        if not self.pos_embed.is_meta:
            with torch.no_grad():
                nn.init.normal_(self.pos_embed, std=0.01)
                nn.init.normal_(self.cls_token).mul_(width ** -0.5)

    @staticmethod
    def windows(imu: torch.Tensor) -> torch.Tensor:
        """B x 6 x T -> B x (T / 8) x 48, feature index = channel * 8 + sample."""
        w = imu.unfold(-1, IMU_WINDOW, IMU_WINDOW).permute(0, 2, 1, 3)
        return w.reshape(w.shape[0], w.shape[1], -1)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        tokens = self.imu_stem(self.windows(x))
        tokens = torch.cat((self.cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
        return tokens + self.pos_embed, {}


def causal_mask(length: int) -> torch.Tensor:
    """Additive float mask: 0 on and below the diagonal, -inf above."""
    mask = torch.full((length, length), float("-inf"), device="cpu").triu_(1)
    return mask.to(torch.empty(0).device)  # the current default device (e.g. meta for key checks)


class TextPreprocessor(nn.Module):
    """Text: ``pos_embed``, the causal ``mask`` buffer and ``token_embedding``."""

    def __init__(self, width: int, vocab_size: int = VOCAB_SIZE, context_length: int = CONTEXT_LENGTH):
        super().__init__()
        self.context_length = context_length
        # an explicit weight skips nn.Embedding's own init (initialised below, or left on meta)
        self.token_embedding = nn.Embedding(vocab_size, width, _weight=torch.empty(vocab_size, width))
        self.pos_embed = nn.Parameter(torch.empty(1, context_length, width))
        self.register_buffer("mask", causal_mask(context_length))
        if not self.pos_embed.is_meta:
            with torch.no_grad():
                nn.init.normal_(self.token_embedding.weight, std=0.02)
                nn.init.normal_(self.pos_embed, std=0.01)

    def forward(self, ids: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """-> (B x 77 x D tokens, {"attn_mask", "eos"}); EOS = argmax of the ids (EOT is the top id)."""
        tokens = self.token_embedding(ids) + self.pos_embed
        return tokens, {"attn_mask": self.mask, "eos": ids.argmax(dim=-1)}


# ---- builders (one per modality) ---------------------------------------------------------------
def _conv_stem(width: int, kernel: int, stride: int) -> PatchStem:
    return PatchStem(nn.Conv2d(1, width, kernel_size=kernel, stride=stride, bias=False), nn.LayerNorm(width))


def _vision(cfg: ImageBindConfig) -> nn.Module:
    w = cfg.vision.width
    proj = nn.Sequential(PadIm2Video(VIDEO_PAD_FRAMES),
                         nn.Conv3d(3, w, kernel_size=cfg.kernel_size, stride=cfg.kernel_size, bias=False))
    return PatchPreprocessor("rgbt_stem", PatchStem(proj), cfg.patch_layout("vision"), w)


def _conv2d(modality: str, cfg: ImageBindConfig) -> nn.Module:
    """Audio, depth, thermal: one channel through a 2-D conv stem (depth has a stem of its own;
    audio and thermal share the vision stem's module name in the checkpoint)."""
    w = getattr(cfg, modality).width
    stem = _conv_stem(w, *stem_geometry(modality, cfg))
    name = "depth_stem" if modality == "depth" else "rgbt_stem"
    return PatchPreprocessor(name, stem, cfg.patch_layout(modality), w)


def _imu(cfg: ImageBindConfig) -> nn.Module:
    w = cfg.imu.width
    stem = PatchStem(nn.Linear(IMU_CHANNELS * IMU_WINDOW, w, bias=False), nn.LayerNorm(w))
    return ImuPreprocessor(stem, cfg.num_patches("imu"), w)


def _text(cfg: ImageBindConfig) -> nn.Module:
    return TextPreprocessor(cfg.text.width)


PREPROCESSORS = {"vision": _vision, "text": _text, "audio": partial(_conv2d, "audio"),
                 "depth": partial(_conv2d, "depth"), "thermal": partial(_conv2d, "thermal"), "imu": _imu}


def build_preprocessor(modality: str, cfg: ImageBindConfig) -> nn.Module:
    if modality not in PREPROCESSORS:
        raise ValueError(f"unknown ImageBind modality {modality!r}; choose from {tuple(PREPROCESSORS)}")
    return PREPROCESSORS[modality](cfg)


def stem_geometry(modality: str, cfg: ImageBindConfig) -> Sequence[int]:
    """(kernel, stride) of a 2-D conv stem (audio, depth, thermal)."""
    table = {"audio": (cfg.audio_kernel_size, cfg.audio_stride),
             "depth": (cfg.depth_kernel_size, cfg.depth_kernel_size),
             "thermal": (cfg.thermal_kernel_size, cfg.thermal_kernel_size)}
    if modality not in table:
        raise ValueError(f"{modality!r} has no 2-D conv stem; these do: {tuple(table)}")
    return table[modality]
