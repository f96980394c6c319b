"""image: (H, W, 3) uint8 RGB or float RGB in [0, 1] -> (3, S, S) float32.

ImageBind's image transform: bicubic resize of the short side to S, S x S centre crop, CLIP
mean/std normalisation. (H, W, 4) RGBA drops alpha; (H, W) grayscale is rejected.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Sequence

import numpy as np
import torch

from . import _checks
from ._rgb import RGBConfig, example_rgb, preprocess_rgb_image

NAME = "image"


@dataclass(frozen=True)
class ImageConfig(RGBConfig):
    """Image options (see :class:`RGBConfig`): ``size`` (224), ``mean``/``std`` (CLIP), ``interpolation``."""

    NAME: ClassVar[str] = NAME


DEFAULTS = ImageConfig()
MODEL_OPTIONS = {"size": "image_size"}  # option -> InputConfig attribute


def preprocess(raw: Any, **options: Any) -> torch.Tensor:
    """One (H, W, 3|4) RGB(A) image -> (3, S, S) float32."""
    return preprocess_rgb_image(NAME, raw, _checks.parse_options(NAME, ImageConfig, options))


def preprocess_batch(raws: Sequence[Any], **options: Any) -> torch.Tensor:
    """A list of images (any sizes) -> (B, 3, S, S)."""
    return _checks.stack_batch(NAME, preprocess, raws, options)


def example(rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """A small (48, 64, 3) uint8 RGB scene."""
    return example_rgb(rng if rng is not None else np.random.default_rng(0))
