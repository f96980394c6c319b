"""Object point clouds: surface samples of the posed object with 2 mm Gaussian noise and 1 %
outliers, centred on the object (axes of the camera's optical frame, so pose and size show).

``view_origin`` makes it a single-view scan, as a segmented RGB-D cloud: only surface points that
a ray from the sensor reaches first (not hidden by the object itself or by occluders) are kept,
then N are drawn from them. Without it the cloud covers the whole surface (ModelNet style).

Columns: x, y, z [m] and r, g, b in [0, 1]. By default rgb is a constant 0.5 so that colour and
pattern stay image-only; ``albedo`` paints the albedo and pattern (as a coloured RGB-D scan
would; lighting is not baked in).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from .patterns import marking_colour, pattern_mask
from .raycast import ObjectPose, cast_objects
from .shapes import UnitMesh

NOISE_M = 0.002
OUTLIER_FRACTION = 0.01
VISIBLE_TOLERANCE_M = 0.002
OVERSAMPLE = 6


def _visible(points: np.ndarray, origin: np.ndarray, scene: Sequence[Tuple[UnitMesh, ObjectPose]]) -> np.ndarray:
    """Mask of world points that are the first hit of the ray from ``origin``."""
    directions = points - origin
    hits = cast_objects(scene, origin, directions)  # t = 1 at the point itself
    return hits.t >= 1.0 - VISIBLE_TOLERANCE_M / np.linalg.norm(directions, axis=1)


def object_point_cloud(mesh: UnitMesh, pose: ObjectPose, n_points: int, rng: np.random.Generator,
                       noise: bool = True, albedo: Optional[np.ndarray] = None, pattern: str = "plain",
                       view_origin: Optional[np.ndarray] = None,
                       occluders: Sequence[Tuple[UnitMesh, ObjectPose]] = ()) -> np.ndarray:
    """(n_points, 6) float32 cloud relative to ``pose.translation``; ``albedo`` (linear RGB) switches
    colour on, ``view_origin`` (world) makes it a partial scan seen from there."""
    local, _ = mesh.sample_surface(n_points * (OVERSAMPLE if view_origin is not None else 1), rng)
    if view_origin is not None:
        seen = local[_visible(pose.to_world(local), np.asarray(view_origin, float), [(mesh, pose), *occluders])]
        if len(seen) == 0:  # fully hidden: fall back to the whole surface
            seen = local
        local = seen[rng.choice(len(seen), n_points, replace=len(seen) < n_points)]
    xyz = pose.to_world(local) - pose.translation
    if noise:
        xyz = xyz + rng.normal(0.0, NOISE_M, xyz.shape)
        n_out = int(round(OUTLIER_FRACTION * n_points))
        idx = rng.choice(n_points, n_out, replace=False)
        direction = rng.normal(size=(n_out, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        radius = 1.2 * float(pose.axis_scale.max())
        xyz[idx] = direction * (radius * rng.random((n_out, 1)) ** (1 / 3))
    rgb = np.full((n_points, 3), 0.5)
    if albedo is not None:
        base = np.asarray(albedo, dtype=np.float64)
        mask = pattern_mask(pattern, local)[:, None]
        rgb = base * (1 - mask) + marking_colour(base) * mask
    return np.concatenate([xyz, rgb], axis=1).astype(np.float32)
