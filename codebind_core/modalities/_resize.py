"""Short-side resize + centre crop, the spatial transform of every image-like modality.

Mirrors torchvision's ``Resize(S)`` + ``CenterCrop(S)`` as used by ImageBind's image loader
(the long side becomes ``int(S * long / short)``, the crop offset ``int(round((H - S) / 2))``,
and an image already at the target size is not resampled).
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F

# interpolation name -> (torch mode, antialias when downsampling)
INTERPOLATIONS = {
    "bicubic": ("bicubic", True),
    "bilinear": ("bilinear", True),
    "nearest": ("nearest-exact", False),
}


# The resized image (before the crop) is built in full only while it is at most this many times
# the crop's area; more elongated images are resampled straight into the crop (same weights), so
# a 1 x 32768 image never becomes a 64 x 2,097,152 intermediate.
MAX_FULL_RESIZE_RATIO = 4
_SUPPORT = {"bicubic": 2.0, "bilinear": 1.0}  # filter radius in output pixels


def resized_shape(height: int, width: int, size: int) -> Tuple[int, int]:
    """(H, W) after scaling the short side to ``size`` (torchvision's rounding)."""
    if width <= height:
        return int(size * height / width), size
    return size, int(size * width / height)


def _interpolate(x: torch.Tensor, size: Tuple[int, int], mode: str, antialias: bool) -> torch.Tensor:
    kwargs = {"antialias": True} if antialias else {}
    align = {} if mode.startswith("nearest") else {"align_corners": False}
    return F.interpolate(x, size=size, mode=mode, **align, **kwargs)


def _filter(mode: str, x: np.ndarray) -> np.ndarray:
    """The antialiasing filters of torch's ``F.interpolate(..., antialias=True)`` (and PIL)."""
    x = np.abs(x)
    if mode == "bilinear":
        return np.clip(1.0 - x, 0.0, None)
    a = -0.5  # PIL's bicubic, as torch's antialiased bicubic
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def axis_weights(in_len: int, out_len: int, start: int, count: int, mode: str
                 ) -> Tuple[int, np.ndarray]:
    """Outputs ``start .. start + count`` of resampling an axis of ``in_len`` samples to ``out_len``
    as (first input index, (count, span) float64 weights over inputs ``first .. first + span``).

    The same coefficients as torch's antialiased interpolation (PIL's ``precompute_coeffs``) and
    its ``nearest-exact`` index rule, computed only for the outputs asked for."""
    scale = in_len / out_len
    out = np.arange(start, start + count, dtype=np.float64)
    if mode.startswith("nearest"):
        scale32 = float(np.float32(in_len) / np.float32(out_len))  # torch computes it in float
        idx = np.minimum(np.floor(((out + 0.5) * scale32).astype(np.float32)).astype(np.int64),
                         in_len - 1)
        first = int(idx.min())
        weights = np.zeros((count, int(idx.max()) - first + 1))
        weights[np.arange(count), idx - first] = 1.0
        return first, weights
    support = _SUPPORT[mode] * max(scale, 1.0)
    inv = 1.0 / scale if scale >= 1.0 else 1.0
    centre = scale * (out + 0.5)
    lo = np.maximum((centre - support + 0.5).astype(np.int64), 0)   # truncation, as C casts
    hi = np.minimum((centre + support + 0.5).astype(np.int64), in_len)
    first, span = int(lo.min()), int((hi - lo.min()).max())
    j = first + np.arange(span, dtype=np.float64)[None, :]
    weights = _filter(mode, (j - centre[:, None] + 0.5) * inv)
    weights[(j < lo[:, None]) | (j >= hi[:, None])] = 0.0
    total = weights.sum(axis=1, keepdims=True)
    return first, weights / np.where(total == 0.0, 1.0, total)


def _resample_into_crop(x: torch.Tensor, size: int, new_hw: Tuple[int, int], top_left: Tuple[int, int],
                        mode: str, quantize_255: bool) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, size, size): the crop of the resized image, computed from only the
    input pixels it depends on (intermediates at most the input's size or ``size`` x input side)."""
    (h, w), (new_h, new_w), (top, left) = x.shape[-2:], new_hw, top_left
    y0, wy = axis_weights(h, new_h, top, size, mode)
    x0, wx = axis_weights(w, new_w, left, size, mode)
    x = x[..., y0:y0 + wy.shape[1], x0:x0 + wx.shape[1]]
    wy_t = torch.from_numpy(wy).to(x.dtype)
    wx_t = torch.from_numpy(wx).to(x.dtype)
    x = torch.matmul(x, wx_t.T)  # width first, as PIL
    if quantize_255:
        x = x.clamp(0.0, 255.0).round()
    x = torch.matmul(wy_t, x)
    if quantize_255:
        x = x.clamp(0.0, 255.0).round()
    return x


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
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    if new_h * new_w > MAX_FULL_RESIZE_RATIO * size * size:
        x = _resample_into_crop(x, size, (new_h, new_w), (top, left), mode, quantize_255)
        return x.reshape(*lead, *x.shape[-3:])
    if quantize_255:  # PIL resamples uint8 images in two 8-bit passes: width, then height
        for size_hw in ((h, new_w), (new_h, new_w)):
            if size_hw != tuple(x.shape[-2:]):
                x = _interpolate(x, size_hw, mode, antialias).clamp(0.0, 255.0).round()
    elif (new_h, new_w) != (h, w):
        x = _interpolate(x, (new_h, new_w), mode, antialias)
    x = x[..., top:top + size, left:left + size]
    return x.reshape(*lead, *x.shape[-3:])
