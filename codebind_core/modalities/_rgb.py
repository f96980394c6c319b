"""The RGB pipeline shared by image, tactile and video (ImageBind's image loader).

uint8 RGB (or float in [0, 1]) -> bicubic resize of the short side to S -> centre crop S x S ->
(x - CLIP mean) / CLIP std. RGBA drops alpha; grayscale is rejected (stack it to 3 channels).
uint8 images are resampled as PIL does (ImageBind's loader opens images with PIL), which this
matches to within one grey level; float images are resampled in float and clamped to [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Tuple

import numpy as np
import torch

from . import _checks
from ._resize import INTERPOLATIONS, resize_short_side_center_crop

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
MAX_PIXELS = 1 << 26  # 67 M pixels per frame, e.g. 8192 x 8192
MAX_SIDE = 1 << 15
FLOAT_TOLERANCE = 1e-3  # float images may overshoot [0, 1] by rounding noise; clamped after the check
RGB_DTYPES = (np.uint8, *_checks.FLOAT_DTYPES)


@dataclass(frozen=True)
class RGBConfig(_checks.ModalityOptions):
    """Options of the RGB pipeline.

    Attributes:
        size: output side S (short side resized to S, then centre-cropped to S x S).
        mean, std: per-channel normalisation, CLIP's by default (as ImageBind).
        interpolation: ``bicubic`` (ImageBind), ``bilinear`` or ``nearest``.
    """

    NAME: ClassVar[str] = "image"
    size: int = 224
    mean: Tuple[float, float, float] = CLIP_MEAN
    std: Tuple[float, float, float] = CLIP_STD
    interpolation: str = "bicubic"

    def normalise(self) -> None:
        super().normalise()
        object.__setattr__(self, "mean", _checks.check_stats(self.NAME, "mean", self.mean, 3))
        object.__setattr__(self, "std", _checks.check_stats(self.NAME, "std", self.std, 3))

    def validate(self) -> None:
        super().validate()
        self.check_range("size", 1, 4096, integer=True)
        self.check(min(self.std) > 0, f"std must be positive, got {self.std}")
        self.check_choice("interpolation", INTERPOLATIONS)

    def output_shape(self) -> Tuple[int, ...]:
        """Shape of one preprocessed sample."""
        return (3, self.size, self.size)


def check_frames(name: str, arr: np.ndarray, layout: str) -> np.ndarray:
    """Validate (..., H, W, 3|4) RGB(A) frames; returns the RGB part (alpha dropped)."""
    _checks.require_dtype(name, arr, RGB_DTYPES, " - pass uint8 RGB or float RGB in [0, 1]")
    channels = arr.shape[-1] if arr.ndim else 0
    if channels not in (3, 4):
        hint = ""
        if arr.ndim >= 3 and arr.shape[-3] in (3, 4):
            hint = " (looks channels-first: move the channel axis last)"
        raise ValueError(f"{name}: expected {layout} with 3 (RGB) or 4 (RGBA) channels, "
                         f"got shape {tuple(arr.shape)}{hint}")
    _checks.require_nonempty(name, arr)
    h, w = arr.shape[-3], arr.shape[-2]
    _checks.require_at_most(name, max(h, w), MAX_SIDE, "pixels on the long side")
    _checks.require_at_most(name, h * w, MAX_PIXELS, "pixels per frame")
    rgb = arr[..., :3]
    if arr.dtype.kind == "f":
        _checks.require_finite(name, rgb, "pixel values")
        _checks.require_range(name, rgb, -FLOAT_TOLERANCE, 1 + FLOAT_TOLERANCE, "float pixel values",
                              " (pass uint8 for 0..255 data, or divide by 255)")
    return rgb


def frames_to_tensor(rgb: np.ndarray, cfg: RGBConfig) -> torch.Tensor:
    """Validated (N, H, W, 3) frames -> (N, 3, S, S) float32, normalised."""
    quantize = rgb.dtype == np.uint8
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2).to(torch.float32)
    if quantize:
        x = resize_short_side_center_crop(x, cfg.size, cfg.interpolation, quantize_255=True) / 255.0
    else:
        x = resize_short_side_center_crop(x.clamp(0.0, 1.0), cfg.size, cfg.interpolation).clamp(0.0, 1.0)
    mean = torch.tensor(cfg.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def preprocess_rgb_image(name: str, raw: Any, cfg: RGBConfig) -> torch.Tensor:
    """One (H, W, 3|4) image -> (3, S, S)."""
    arr = _checks.to_array(name, raw)
    if arr.ndim == 2:
        raise ValueError(f"{name}: expected a 3-D (H, W, 3) RGB array, got a 2-D grayscale array of "
                         f"shape {tuple(arr.shape)} (stack it to 3 channels)")
    _checks.require_ndim(name, arr, (3,), "3-D (H, W, 3) RGB")
    rgb = check_frames(name, arr, "(H, W, C)")
    return frames_to_tensor(rgb[None], cfg)[0]


def example_rgb(rng: np.random.Generator, height: int = 48, width: int = 64) -> np.ndarray:
    """A small uint8 RGB scene: a lit gradient background, a coloured disc, sensor noise."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([xx / width, yy / height, 0.5 * np.ones_like(xx)], axis=-1) * 160 + 40
    cy, cx, r = height * rng.uniform(0.3, 0.7), width * rng.uniform(0.3, 0.7), min(height, width) / 4
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
    img[disc] = rng.uniform(0, 255, size=3)
    img += rng.normal(0, 4, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)
