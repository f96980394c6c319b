"""Ray casting posed unit meshes with open3d's CPU ``RaycastingScene``.

Each category's mesh lives once per process in its own scene in the canonical unit frame; an
instance at pose (R, c, s) is hit by transforming the rays instead of the mesh:
x_world = c + s R x_local, so o' = R^T (o - c) / s and d' = R^T d / s keep the ray parameter t
unchanged. Several objects combine by the nearest hit per ray.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np
import open3d as o3d

from .shapes import UnitMesh


@dataclass(frozen=True)
class ObjectPose:
    """Placement of a unit mesh: x_world = translation + rotation @ (scale * x_local).

    ``scale`` is a float (similar copy, the object's bounding radius) or per-axis (3,) factors of
    the canonical frame (stretched props such as bars and floors).
    """

    rotation: np.ndarray
    translation: np.ndarray
    scale: float | np.ndarray

    @property
    def axis_scale(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.scale, dtype=np.float64), (3,))

    def to_world(self, local: np.ndarray) -> np.ndarray:
        """(..., 3) canonical-frame points -> world frame."""
        return self.translation + (np.asarray(local) * self.axis_scale) @ self.rotation.T

    def to_local(self, world: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> canonical frame."""
        return ((np.asarray(world) - self.translation) @ self.rotation) / self.axis_scale


@dataclass
class Hits:
    """Nearest hits of a ray bundle of shape S (e.g. (H, W)).

    Attributes:
        t: S float64 ray parameter of the hit, +inf where nothing was hit.
        normal: S + (3,) world-frame unit normal, flipped to face the ray (two-sided surfaces).
        object_id: S int32 index of the hit object, -1 for a miss.
        local: S + (3,) hit point in the hit object's canonical unit frame (0 for a miss).
    """

    t: np.ndarray
    normal: np.ndarray
    object_id: np.ndarray
    local: np.ndarray

    @property
    def hit(self) -> np.ndarray:
        return self.object_id >= 0


@dataclass
class _Rays:
    """A flattened ray bundle: origins (1, 3) when shared, else (N, 3); directions (N, 3)."""

    o: np.ndarray
    d: np.ndarray
    dd: np.ndarray  # squared direction lengths

    @classmethod
    def make(cls, origins: np.ndarray, directions: np.ndarray) -> "_Rays":
        d = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
        o = np.asarray(origins, dtype=np.float64)
        o = o.reshape(1, 3) if o.size == 3 else np.broadcast_to(o, directions.shape).reshape(-1, 3)
        return cls(o, d, np.einsum("ij,ij->i", d, d))

    @property
    def shared(self) -> bool:
        return len(self.o) == 1 and len(self.d) != 1


def _candidates(pose: ObjectPose, rays: _Rays) -> np.ndarray:
    """Indices of rays passing within the posed mesh's bounding sphere (the unit mesh fits the
    unit sphere, so the radius is the largest axis scale) and not entirely behind their origin."""
    radius = float(pose.axis_scale.max()) * (1.0 + 1e-6)
    oc = pose.translation - rays.o
    if rays.shared:
        proj = rays.d @ oc[0]
        oc2 = float(oc[0] @ oc[0])
    else:
        proj = np.einsum("ij,ij->i", oc, rays.d)
        oc2 = np.einsum("ij,ij->i", oc, oc)
    dist2 = oc2 - proj * proj / rays.dd
    return np.flatnonzero((dist2 <= radius * radius) & (proj > -radius * np.sqrt(rays.dd)))


def _cast_sparse(mesh: UnitMesh, pose: ObjectPose, rays: _Rays) -> Tuple[np.ndarray, ...]:
    """(ray indices, t, world normals facing the rays, canonical-frame points) of the rays that hit.
    Only rays through the bounding sphere are sent to open3d."""
    idx = _candidates(pose, rays)
    if not len(idx):
        return idx, np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3))
    k = pose.axis_scale
    o = rays.o if rays.shared else rays.o[idx]
    d = rays.d[idx]
    o_local = np.broadcast_to(((o - pose.translation) @ pose.rotation) / k, d.shape)
    d_local = (d @ pose.rotation) / k
    out = mesh.scene.cast_rays(o3d.core.Tensor(np.ascontiguousarray(np.concatenate([o_local, d_local], 1), np.float32)))
    t = out["t_hit"].numpy().astype(np.float64)
    hit = np.isfinite(t)
    t = t[hit]
    # normals transform with the inverse transpose of the linear map R diag(k)
    normal = (out["primitive_normals"].numpy()[hit].astype(np.float64) / k) @ pose.rotation.T
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    normal[np.einsum("ij,ij->i", normal, d[hit]) > 0] *= -1.0
    return idx[hit], t, normal, o_local[hit] + t[:, None] * d_local[hit]


def cast_mesh(mesh: UnitMesh, pose: ObjectPose, origins: np.ndarray,
              directions: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cast rays (world frame; ``origins`` (3,) or broadcast against ``directions`` of shape S + (3,))
    at one posed mesh. Returns t (S, inf = miss), world normals facing the rays (S + (3,)) and
    canonical-frame hit points (S + (3,))."""
    hits = cast_objects([(mesh, pose)], origins, directions)
    return hits.t, hits.normal, hits.local


def cast_objects(objects: Sequence[Tuple[UnitMesh, ObjectPose]], origins: np.ndarray,
                 directions: np.ndarray) -> Hits:
    """Nearest hit over several posed meshes (one open3d cast per object, of its candidate rays)."""
    shape = directions.shape[:-1]
    rays = _Rays.make(origins, directions)
    n = len(rays.d)
    t_best, normal, local = np.full(n, np.inf), np.zeros((n, 3)), np.zeros((n, 3))
    object_id = np.full(n, -1, np.int32)
    for i, (mesh, pose) in enumerate(objects):
        idx, t, nrm, loc = _cast_sparse(mesh, pose, rays)
        closer = t < t_best[idx]
        idx = idx[closer]
        t_best[idx], normal[idx], local[idx], object_id[idx] = t[closer], nrm[closer], loc[closer], i
    return Hits(t_best.reshape(shape), normal.reshape(shape + (3,)), object_id.reshape(shape),
                local.reshape(shape + (3,)))
