"""Procedural surface patterns evaluated at hit points in the object's canonical unit frame, so a
pattern is painted on the object and turns with it. Each returns a mask in [0, 1]: 1 where the
secondary (marking) colour shows."""
from __future__ import annotations

from typing import Callable, Dict

import numpy as np

PatternFn = Callable[[np.ndarray], np.ndarray]


def _plain(p: np.ndarray) -> np.ndarray:
    return np.zeros(p.shape[:-1])


def _stripes(p: np.ndarray) -> np.ndarray:
    return (np.sin(2 * np.pi * 2.5 * p[..., 2]) > 0).astype(np.float64)


def _checker(p: np.ndarray) -> np.ndarray:
    cells = np.floor(3.0 * p).astype(np.int64)
    return (cells.sum(axis=-1) % 2).astype(np.float64)


def _dots(p: np.ndarray) -> np.ndarray:
    spacing = 0.45
    nearest = np.round(p / spacing) * spacing
    return (np.linalg.norm(p - nearest, axis=-1) < 0.14).astype(np.float64)


def _rings(p: np.ndarray) -> np.ndarray:
    radius = np.linalg.norm(p[..., :2], axis=-1)
    return (np.sin(2 * np.pi * 3.0 * radius) > 0.3).astype(np.float64)


PATTERNS: Dict[str, PatternFn] = {
    "plain": _plain,
    "stripes": _stripes,
    "checker": _checker,
    "dots": _dots,
    "rings": _rings,
}

# caption adjective per pattern ("" = not mentioned)
PATTERN_WORDS: Dict[str, str] = {"plain": "plain", "stripes": "striped", "checker": "checkered",
                                 "dots": "polka-dot", "rings": "ringed"}


def pattern_mask(name: str, local_points: np.ndarray) -> np.ndarray:
    """Evaluate pattern ``name`` at (..., 3) canonical-frame points."""
    if name not in PATTERNS:
        raise ValueError(f"unknown pattern {name!r}; known: {sorted(PATTERNS)}")
    return PATTERNS[name](local_points)


def marking_colour(base_linear: np.ndarray) -> np.ndarray:
    """The pattern's second colour: a dark shade of a light base, a light tint of a dark one."""
    luminance = float(base_linear @ np.array([0.2126, 0.7152, 0.0722]))
    return base_linear * 0.25 if luminance > 0.15 else 0.35 * base_linear + 0.55
