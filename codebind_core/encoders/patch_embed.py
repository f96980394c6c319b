"""Patch embedding of each modality ("tokenizers" in ViT-Lens' terms): preprocessed tensor ->
(B, P, width) patch tokens (+ reconstruction targets)."""
from __future__ import annotations

from typing import Callable, Dict

import torch
import torch.nn.functional as F
from torch import nn

from ..config import InputConfig
from ..layers import Mlp


class ImagePatches(nn.Module):
    """(B, C, S, S) -> non-overlapping p x p patches (image, depth, thermal, tactile)."""

    def __init__(self, channels: int, width: int, cfg: InputConfig):
        super().__init__()
        p = cfg.patch_size
        self.expected = (channels, cfg.image_size, cfg.image_size)
        self.proj = nn.Conv2d(channels, width, p, p)
        self.num_patches = (cfg.image_size // p) ** 2
        self.patch_dim = channels * p * p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        p = self.proj.kernel_size[0]
        return F.unfold(x, p, stride=p).transpose(1, 2)


class VideoTubelets(nn.Module):
    """(B, 3, T, S, S) -> tubelets of tubelet x p x p."""

    def __init__(self, width: int, cfg: InputConfig):
        super().__init__()
        t, p = cfg.tubelet, cfg.patch_size
        self.expected = (3, cfg.num_frames, cfg.image_size, cfg.image_size)
        self.proj = nn.Conv3d(3, width, (t, p, p), (t, p, p))
        self.num_patches = (cfg.num_frames // t) * (cfg.image_size // p) ** 2
        self.patch_dim = 3 * t * p * p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        b, c, T, H, W = x.shape
        t, p, _ = self.proj.kernel_size
        x = x.reshape(b, c, T // t, t, H // p, p, W // p, p)
        return x.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, -1, c * t * p * p)


class AudioPatches(nn.Module):
    """(B, 1, mel, frames) log-mel fbank -> overlapping 16x16 patches, stride 10 (as ImageBind)."""

    def __init__(self, width: int, cfg: InputConfig):
        super().__init__()
        k, s = cfg.audio_patch, cfg.audio_stride
        self.expected = (1, cfg.mel_bins, cfg.audio_frames)
        self.proj = nn.Conv2d(1, width, k, s)
        self.num_patches = ((cfg.mel_bins - k) // s + 1) * ((cfg.audio_frames - k) // s + 1)
        self.patch_dim = k * k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        return F.unfold(x, self.proj.kernel_size, stride=self.proj.stride).transpose(1, 2)


class PointGroups(nn.Module):
    """(B, G, k, 6) FPS+kNN groups (index 0 = centre) -> one token per group.

    A shared mini-PointNet embeds each group's points relative to its centre (max-pooled), and
    an MLP of the centre's xyz adds the position (as in Point-BERT / ViT-Lens)."""

    def __init__(self, width: int, cfg: InputConfig):
        super().__init__()
        self.expected = (cfg.num_groups, cfg.group_size, 6)
        self.point_mlp = Mlp(6, 128, width)
        self.pos_mlp = Mlp(3, 128, width)
        self.num_patches = cfg.num_groups
        self.patch_dim = cfg.group_size * 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centre = x[:, :, :1, :3]
        local = torch.cat([x[..., :3] - centre, x[..., 3:]], dim=-1)
        return self.point_mlp(local).amax(dim=2) + self.pos_mlp(centre.squeeze(2))

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        return (x[..., :3] - x[:, :, :1, :3]).flatten(2)


class EEGPatches(nn.Module):
    """(B, C, T) -> one token per time window of ``eeg_patch`` samples across all channels."""

    def __init__(self, width: int, cfg: InputConfig):
        super().__init__()
        self.expected = (cfg.eeg_channels, cfg.eeg_samples)
        self.proj = nn.Conv1d(cfg.eeg_channels, width, cfg.eeg_patch, cfg.eeg_patch)
        self.num_patches = cfg.eeg_samples // cfg.eeg_patch
        self.patch_dim = cfg.eeg_channels * cfg.eeg_patch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).transpose(1, 2)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        p = self.proj.kernel_size[0]
        return x.reshape(b, c, t // p, p).permute(0, 2, 1, 3).reshape(b, t // p, c * p)


TOKENIZERS: Dict[str, Callable[[int, InputConfig], nn.Module]] = {
    "image": lambda w, c: ImagePatches(3, w, c),
    "tactile": lambda w, c: ImagePatches(3, w, c),
    "depth": lambda w, c: ImagePatches(1, w, c),
    "thermal": lambda w, c: ImagePatches(1, w, c),
    "video": VideoTubelets,
    "audio": AudioPatches,
    "pointcloud": PointGroups,
    "eeg": EEGPatches,
}
