"""What a camera saw at one stamp: which places in the fixed frame it could have seen empty.

A pinhole camera (:class:`~codebind_core.geometry.pinhole.Pinhole`) with its optical frame posed in
the fixed frame (REP 103 optical convention: z forward, x right, y down). A point p of the fixed
frame projects to ``u = fx x / z + cx, v = fy y / z + cy`` with (x, y, z) = pose^-1 p. With a depth
image (metres along z, 0 / NaN = no return), the place of an object of radius r at depth z is
*seen empty* when the measured depth at its pixel is beyond it, d > z + max(tol, r): the ray went
through where the object was. A nearer return (d < z - max(tol, r)) means it was occluded and says
nothing; a return at the object's depth means something is still there. Without a depth image
every in-frustum point within range counts as seen (the caller vouches for visibility).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .pinhole import Pinhole
from .transform import RigidTransform


class CameraView:
    """A camera's view at one stamp; :meth:`seen_empty` decides which object places it saw empty."""

    def __init__(self, pose: RigidTransform, camera: Pinhole, min_range: float = 0.1, max_range: float = 5.0,
                 depth: Optional[np.ndarray] = None, depth_tolerance: float = 0.05):
        if not isinstance(pose, RigidTransform):
            raise ValueError("pose must be a RigidTransform (fixed frame <- camera optical frame)")
        if not isinstance(camera, Pinhole):
            raise ValueError(f"camera must be a Pinhole, got {type(camera).__name__}")
        if not 0 <= min_range < max_range:
            raise ValueError(f"need 0 <= min_range < max_range, got {min_range}, {max_range}")
        if depth is not None:
            depth = np.asarray(depth, dtype=np.float32)
            if depth.shape != (camera.height, camera.width):
                raise ValueError(f"depth image must be ({camera.height}, {camera.width}), got {depth.shape}")
        if depth_tolerance < 0:
            raise ValueError(f"depth_tolerance must be >= 0, got {depth_tolerance}")
        self.pose = pose
        self.camera = camera
        self.min_range, self.max_range = float(min_range), float(max_range)
        self.depth = depth
        self.depth_tolerance = float(depth_tolerance)
        self._inverse = pose.inverse()

    def project(self, points) -> np.ndarray:
        """(N, 3) fixed-frame points -> (N, 3) columns u, v, z (pixel coordinates, NaN behind the
        camera, and depth)."""
        p = self._inverse.apply(np.atleast_2d(np.asarray(points, dtype=np.float64)))
        return np.concatenate([self.camera.project(p), p[:, 2:]], axis=1)

    def in_view(self, points) -> np.ndarray:
        """Mask of points inside the image and within [min_range, max_range] along the optical axis."""
        uvz = self.project(points)
        z = uvz[:, 2]
        return (z >= self.min_range) & (z <= self.max_range) & self.camera.in_image(uvz[:, :2])

    def seen_empty(self, points, radii=None) -> np.ndarray:
        """Mask of object places (centres, optional radii in metres) this view saw empty."""
        pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
        mask = self.in_view(pts)
        if self.depth is None or not mask.any():
            return mask
        r = np.zeros(len(pts)) if radii is None else np.broadcast_to(np.asarray(radii, np.float64), (len(pts),))
        uvz = self.project(pts[mask])
        d = self.depth[uvz[:, 1].astype(np.int64), uvz[:, 0].astype(np.int64)].astype(np.float64)
        margin = np.maximum(self.depth_tolerance, r[mask])
        empty = np.isfinite(d) & (d > 0) & (d > uvz[:, 2] + margin)
        out = np.zeros(len(pts), bool)
        out[np.flatnonzero(mask)] = empty
        return out
