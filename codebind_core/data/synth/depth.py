"""Depth maps: metric z-depth from ray hits, and an RGB-D sensor noise model.

Noise model (structured-light / stereo RGB-D cameras): axial noise sigma = 0.0012 z^2 m, returns
lost at grazing incidence and, half of the time, on depth discontinuities (flying pixels are
removed by the sensor), 0.5 % random dropouts, 1 mm quantisation, and no return beyond the range.
0 means "no return" (as REP 118's 0 / NaN / inf).
"""
from __future__ import annotations

import numpy as np

from .raycast import Hits

AXIAL_NOISE = 0.0012  # m / m^2
GRAZING_COS = 0.1
EDGE_JUMP_M = 0.05
DROPOUT = 0.005


def clean_depth(hits: Hits, directions: np.ndarray, background_depth: float, max_range: float) -> np.ndarray:
    """z-depth [m] of each pixel: the nearest hit, else the fronto-parallel background wall at
    ``background_depth``; anything beyond ``max_range`` reads 0. ``directions`` are the optical-frame
    rays (z = 1), so the hit parameter t is the z-depth."""
    if not np.allclose(directions[..., 2], 1.0):
        raise ValueError("clean_depth expects optical-frame rays with unit z")
    depth = np.where(hits.hit, hits.t, background_depth)
    depth[depth > max_range] = 0.0
    return depth.astype(np.float32)


def noisy_depth(depth: np.ndarray, hits: Hits, directions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Apply the sensor noise model to a clean depth map (see module docstring)."""
    z = depth.astype(np.float64)
    valid = z > 0
    out = z + rng.normal(0.0, 1.0, z.shape) * AXIAL_NOISE * z * z
    unit = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    cos = np.abs(np.einsum("...i,...i->...", hits.normal, unit))
    lost = hits.hit & (cos < GRAZING_COS)
    jump = np.zeros_like(valid)
    dz_x = np.abs(np.diff(z, axis=1)) > EDGE_JUMP_M
    dz_y = np.abs(np.diff(z, axis=0)) > EDGE_JUMP_M
    jump[:, 1:] |= dz_x
    jump[:, :-1] |= dz_x
    jump[1:, :] |= dz_y
    jump[:-1, :] |= dz_y
    lost |= jump & (rng.random(z.shape) < 0.5)
    lost |= rng.random(z.shape) < DROPOUT
    out = np.round(out * 1000.0) / 1000.0
    out[lost | ~valid] = 0.0
    return np.maximum(out, 0.0).astype(np.float32)
