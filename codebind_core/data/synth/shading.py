"""RGB shading of ray hits: Lambert + ambient under one directional light, painted albedo with a
procedural pattern, over a colour-gradient background (the backdrop is not lit).

Everything is computed in linear light and encoded as sRGB at the end. Material is deliberately
absent: RGB sees colour, pattern, shape, pose, background and lighting only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .patterns import marking_colour, pattern_mask
from .raycast import Hits


@dataclass(frozen=True)
class Paint:
    """Surface appearance of one object: linear albedo and a pattern name."""

    albedo: np.ndarray
    pattern: str = "plain"


@dataclass(frozen=True)
class Lighting:
    """A directional light (``direction`` points towards the light) plus ambient light."""

    direction: np.ndarray
    intensity: float = 1.0
    ambient: float = 0.25


def background_image(height: int, width: int, colour: np.ndarray, angle: float, gradient: float) -> np.ndarray:
    """(H, W, 3) linear backdrop: ``colour`` times a linear ramp of strength ``gradient`` along ``angle``."""
    x = np.linspace(-1, 1, width)[None, :]
    y = np.linspace(-1, 1, height)[:, None]
    ramp = 1.0 + gradient * 0.5 * (x * np.cos(angle) + y * np.sin(angle))
    return np.clip(ramp[..., None] * np.asarray(colour)[None, None, :], 0.0, 1.0)


def shade(hits: Hits, paints: Sequence[Paint], light: Lighting, background: np.ndarray,
          shadowed: Optional[np.ndarray] = None) -> np.ndarray:
    """(H, W, 3) linear RGB. ``shadowed`` (H, W) bool marks hits that the light does not reach."""
    out = np.array(background, dtype=np.float64, copy=True)
    lambert = np.clip(hits.normal @ np.asarray(light.direction, dtype=np.float64), 0.0, None)
    if shadowed is not None:
        lambert = np.where(shadowed, 0.0, lambert)
    irradiance = light.ambient + light.intensity * lambert
    for i, paint in enumerate(paints):
        sel = hits.object_id == i
        if not sel.any():
            continue
        base = np.asarray(paint.albedo, dtype=np.float64)
        mask = pattern_mask(paint.pattern, hits.local[sel])[:, None]
        albedo = base * (1.0 - mask) + marking_colour(base) * mask
        out[sel] = albedo * irradiance[sel, None]
    return out


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` blocks (supersampling -> pixels)."""
    if factor == 1:
        return image
    h, w = image.shape[0] // factor, image.shape[1] // factor
    return image.reshape(h, factor, w, factor, *image.shape[2:]).mean(axis=(1, 3))


def camera_noise(linear: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shot + read noise of a colour camera, on linear RGB: variance 0.0004 x + 0.006^2."""
    sigma = np.sqrt(np.clip(linear, 0, None) * 0.0004 + 0.006 ** 2)
    return np.clip(linear + sigma * rng.standard_normal(linear.shape, dtype=np.float32), 0.0, 1.0)
