"""Colour palettes (sRGB, 0..255): object colours and image backgrounds.

Colour is an image/video-only factor: nothing else reads these tables.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

COLOURS: Dict[str, Tuple[int, int, int]] = {
    "red": (200, 35, 35),
    "orange": (235, 125, 25),
    "yellow": (230, 205, 45),
    "green": (45, 160, 65),
    "cyan": (40, 190, 200),
    "blue": (45, 75, 205),
    "purple": (130, 55, 175),
    "pink": (235, 125, 175),
    "white": (235, 235, 230),
    "brown": (120, 78, 42),
}

# muted wall / table tones behind the object (a separate palette so the background is never
# mistaken for an object colour word)
BACKGROUNDS: Dict[str, Tuple[int, int, int]] = {
    "beige": (205, 190, 160),
    "grey": (128, 128, 128),
    "charcoal": (55, 58, 62),
    "sky": (150, 185, 215),
    "olive": (120, 125, 80),
    "navy": (40, 50, 85),
    "maroon": (95, 45, 50),
    "sand": (190, 170, 125),
}


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] -> linear light."""
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb_u8(c: np.ndarray) -> np.ndarray:
    """Linear light -> sRGB uint8 (clipped)."""
    c = np.clip(c, 0.0, 1.0)
    s = np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)
    return np.clip(np.round(s * 255.0), 0, 255).astype(np.uint8)


def palette_linear(palette: Dict[str, Tuple[int, int, int]], name: str) -> np.ndarray:
    """A palette entry as linear RGB (3,)."""
    if name not in palette:
        raise ValueError(f"unknown colour {name!r}; known: {sorted(palette)}")
    return srgb_to_linear(np.array(palette[name]) / 255.0)
