"""video: (T, H, W, 3) uint8 RGB or float RGB in [0, 1] -> (3, T', S, S) float32.

T' = ``num_frames`` frames are sampled uniformly over the clip with pytorchvideo's
``UniformTemporalSubsample`` rule (indices ``linspace(0, T - 1, T')`` truncated to integers),
which repeats frames when T < T'. Each frame then goes through the image transform. Only the
sampled frames are read and value-checked.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Sequence, Tuple

import numpy as np
import torch

from . import _checks
from ._rgb import RGBConfig, check_frames, example_rgb, frames_to_tensor

NAME = "video"
MAX_FRAMES = 100_000


@dataclass(frozen=True)
class VideoConfig(RGBConfig):
    """Video options: ``num_frames`` T' (8) plus the image options ``size``, ``mean``, ``std``,
    ``interpolation`` (see :class:`RGBConfig`)."""

    NAME: ClassVar[str] = NAME
    num_frames: int = 8

    def validate(self) -> None:
        super().validate()
        self.check_range("num_frames", 1, 1024, integer=True)

    def output_shape(self) -> Tuple[int, ...]:
        return (3, self.num_frames, self.size, self.size)


DEFAULTS = VideoConfig()
MODEL_OPTIONS = {"size": "image_size", "num_frames": "num_frames"}


def frame_indices(num_input: int, num_output: int) -> np.ndarray:
    """Uniformly spaced frame indices (UniformTemporalSubsample): repeats frames when short."""
    return np.linspace(0, num_input - 1, num_output).astype(np.int64)


def preprocess(raw: Any, **options: Any) -> torch.Tensor:
    """One (T, H, W, 3|4) clip -> (3, T', S, S) float32."""
    cfg = _checks.parse_options(NAME, VideoConfig, options)
    arr = _checks.to_array(NAME, raw)
    _checks.require_ndim(NAME, arr, (4,), "4-D (T, H, W, 3) RGB")
    _checks.require_nonempty(NAME, arr)
    _checks.require_at_most(NAME, arr.shape[0], MAX_FRAMES, "frames")
    # only the sampled frames are read (and value-checked): a long clip costs no extra memory
    used, order = np.unique(frame_indices(arr.shape[0], cfg.num_frames), return_inverse=True)
    frames = frames_to_tensor(check_frames(NAME, arr[used], "(T, H, W, C)"), cfg)[order]
    return frames.permute(1, 0, 2, 3).contiguous()


def preprocess_batch(raws: Sequence[Any], **options: Any) -> torch.Tensor:
    """A list of clips (any lengths and sizes) -> (B, 3, T', S, S)."""
    return _checks.stack_batch(NAME, preprocess, raws, options)


def example(rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """A (6, 48, 64, 3) uint8 clip: a scene panning sideways by 2 pixels a frame."""
    rng = rng if rng is not None else np.random.default_rng(0)
    wide = example_rgb(rng, 48, 64 + 2 * 6)
    return np.stack([wide[:, 2 * t:2 * t + 64] for t in range(6)])
