"""Object point clouds: area-uniform surface samples of the posed, scaled object (centred on the
object, axes of the camera's optical frame), with 2 mm Gaussian noise and 1 % outliers.

Columns: x, y, z [m] and r, g, b in [0, 1]. By default rgb is a constant 0.5 so that colour and
pattern stay image-only; ``with_colour=True`` paints the albedo and pattern (as a coloured RGB-D
scan would; lighting is not baked in).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .patterns import marking_colour, pattern_mask
from .shapes import UnitMesh

NOISE_M = 0.002
OUTLIER_FRACTION = 0.01


def object_point_cloud(mesh: UnitMesh, rotation: np.ndarray, scale: float, n_points: int,
                       rng: np.random.Generator, noise: bool = True, albedo: Optional[np.ndarray] = None,
                       pattern: str = "plain") -> np.ndarray:
    """(n_points, 6) float32 cloud; ``albedo`` (linear RGB) switches colour on."""
    local, _ = mesh.sample_surface(n_points, rng)
    xyz = scale * local @ rotation.T
    if noise:
        xyz = xyz + rng.normal(0.0, NOISE_M, xyz.shape)
        n_out = int(round(OUTLIER_FRACTION * n_points))
        idx = rng.choice(n_points, n_out, replace=False)
        direction = rng.normal(size=(n_out, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        xyz[idx] = direction * (1.2 * scale * rng.random((n_out, 1)) ** (1 / 3))
    rgb = np.full((n_points, 3), 0.5)
    if albedo is not None:
        base = np.asarray(albedo, dtype=np.float64)
        mask = pattern_mask(pattern, local)[:, None]
        rgb = base * (1 - mask) + marking_colour(base) * mask
    return np.concatenate([xyz, rgb], axis=1).astype(np.float32)
