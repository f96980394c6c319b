"""Short-side resize + centre crop, the spatial transform of every image-like modality.

Mirrors torchvision's ``Resize(S)`` + ``CenterCrop(S)`` as used by ImageBind's image loader
(the long side becomes ``int(S * long / short)``, the crop offset ``int(round((H - S) / 2))``,
and an image already at the target size is not resampled).
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F

# interpolation name -> (torch mode, antialias when downsampling)
INTERPOLATIONS = {
    "bicubic": ("bicubic", True),
    "bilinear": ("bilinear", True),
    "nearest": ("nearest-exact", False),
}


def resized_shape(height: int, width: int, size: int) -> Tuple[int, int]:
    """(H, W) after scaling the short side to ``size`` (torchvision's rounding)."""
    if width <= height:
        return int(size * height / width), size
    return size, int(size * width / height)


def _interpolate(x: torch.Tensor, size: Tuple[int, int], mode: str, antialias: bool) -> torch.Tensor:
    kwargs = {"antialias": True} if antialias else {}
    align = {} if mode.startswith("nearest") else {"align_corners": False}
    return F.interpolate(x, size=size, mode=mode, **align, **kwargs)


def resize_short_side_center_crop(x: torch.Tensor, size: int, interpolation: str = "bicubic",
                                  quantize_255: bool = False) -> torch.Tensor:
    """(..., C, H, W) float -> (..., C, size, size).

    ``quantize_255``: ``x`` holds 0..255 values of a uint8 image, resized as PIL resizes it (as
    ImageBind's loader does): a horizontal then a vertical pass, each rounded and clamped to
    0..255. This matches PIL to within one grey level.
    """
    mode, antialias = INTERPOLATIONS[interpolation]
    lead = x.shape[:-3]
    x = x.reshape(-1, *x.shape[-3:])
    h, w = x.shape[-2:]
    new_h, new_w = resized_shape(h, w, size)
    if quantize_255:  # PIL resamples uint8 images in two 8-bit passes: width, then height
        for size_hw in ((h, new_w), (new_h, new_w)):
            if size_hw != tuple(x.shape[-2:]):
                x = _interpolate(x, size_hw, mode, antialias).clamp(0.0, 255.0).round()
    elif (new_h, new_w) != (h, w):
        x = _interpolate(x, (new_h, new_w), mode, antialias)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    x = x[..., top:top + size, left:left + size]
    return x.reshape(*lead, *x.shape[-3:])
