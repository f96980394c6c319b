"""tactile: an RGB image of a vision-based touch sensor (GelSight, DIGIT) -> (3, S, S) float32.

Same pipeline as ``image`` (bicubic short-side resize, centre crop, CLIP mean/std), so a
tactile frame enters an ImageBind-style vision trunk exactly like a photo does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Sequence

import numpy as np
import torch

from . import _checks
from ._rgb import RGBConfig, preprocess_rgb_image

NAME = "tactile"


@dataclass(frozen=True)
class TactileConfig(RGBConfig):
    """Tactile options (see :class:`RGBConfig`): ``size`` (224), ``mean``/``std`` (CLIP),
    ``interpolation``."""

    NAME: ClassVar[str] = NAME


DEFAULTS = TactileConfig()
MODEL_OPTIONS = {"size": "image_size"}


def preprocess(raw: Any, **options: Any) -> torch.Tensor:
    """One (H, W, 3|4) tactile RGB(A) frame -> (3, S, S) float32."""
    return preprocess_rgb_image(NAME, raw, _checks.parse_options(NAME, TactileConfig, options))


def preprocess_batch(raws: Sequence[Any], **options: Any) -> torch.Tensor:
    """A list of tactile frames -> (B, 3, S, S)."""
    return _checks.stack_batch(NAME, preprocess, raws, options)


def example(rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """A (48, 64, 3) uint8 GelSight-like frame: a lit elastomer pressed by a round object.

    The membrane's height map is shaded by three coloured lights from different directions, which
    is how such sensors turn contact geometry into colour.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx, r = h * rng.uniform(0.35, 0.65), w * rng.uniform(0.35, 0.65), rng.uniform(8, 14)
    height = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    gy, gx = np.gradient(height)
    normals = np.stack([-gx, -gy, np.full_like(gx, 0.05)], axis=-1)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    angles = np.deg2rad([90.0, 210.0, 330.0])  # red, green, blue lights around the sensor
    lights = np.stack([np.cos(angles), np.sin(angles), np.full(3, 1.0)], axis=-1)
    lights /= np.linalg.norm(lights, axis=-1, keepdims=True)
    shading = np.clip(normals @ lights.T, 0, 1)
    img = 90 + 140 * shading + rng.normal(0, 3, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)
