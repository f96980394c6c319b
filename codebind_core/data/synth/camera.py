"""Pinhole camera in the OpenCV / ROS optical convention.

The optical frame looks along +z with +x to the right of the image and +y down, so image row 0
is the top. Pixel (u, v) = (column, row) has its centre at integer coordinates, as in OpenCV and
``sensor_msgs/CameraInfo``: u = fx * x / z + cx. Rays are built here rather than with open3d's
``create_rays_pinhole`` because open3d puts pixel centres at u + 0.5, half a pixel away from the
CameraInfo convention. Ray directions have unit z in the optical frame, so a ray-cast hit distance
t is directly the z-depth that an RGB-D camera reports.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Sequence, Tuple

import numpy as np


def _check_pose(pose: np.ndarray) -> np.ndarray:
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
        raise ValueError(f"camera pose must be a finite 4x4 matrix, got shape {pose.shape}")
    r = pose[:3, :3]
    if not np.allclose(r @ r.T, np.eye(3), atol=1e-6) or np.linalg.det(r) < 0:
        raise ValueError("camera pose rotation must be orthonormal and right-handed")
    return pose


@dataclass
class PinholeCamera:
    """Intrinsics (px) plus ``pose``: the 4 x 4 transform from the optical frame to the world frame.

    Use :meth:`from_fov` for a centred camera and :meth:`look_at` to aim it.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    pose: np.ndarray = field(default_factory=lambda: np.eye(4))

    def __post_init__(self) -> None:
        if not (isinstance(self.width, (int, np.integer)) and isinstance(self.height, (int, np.integer))
                and 1 <= self.width <= 16384 and 1 <= self.height <= 16384):
            raise ValueError(f"camera width/height must be ints in [1, 16384], got {self.width}x{self.height}")
        for name in ("fx", "fy"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"camera {name} must be a positive focal length in px, got {value}")
        if not (np.isfinite(self.cx) and np.isfinite(self.cy)):
            raise ValueError("camera cx, cy must be finite")
        self.pose = _check_pose(self.pose)

    @classmethod
    def from_fov(cls, width: int, height: int, fov_deg: float, pose: np.ndarray | None = None) -> "PinholeCamera":
        """Square pixels, principal point at the image centre, horizontal field of view ``fov_deg``."""
        if not 1.0 <= fov_deg <= 170.0:
            raise ValueError(f"fov_deg must be in [1, 170], got {fov_deg}")
        f = 0.5 * width / np.tan(np.radians(fov_deg) / 2)
        return cls(width, height, f, f, (width - 1) / 2, (height - 1) / 2,
                   np.eye(4) if pose is None else pose)

    @staticmethod
    def look_at_pose(eye: Sequence[float], target: Sequence[float],
                     up: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
        """Optical-frame pose at ``eye`` looking at ``target``; ``up`` (world) appears up in the image."""
        eye, target, up = (np.asarray(a, dtype=np.float64) for a in (eye, target, up))
        z = target - eye
        if np.linalg.norm(z) < 1e-9:
            raise ValueError("look_at: eye and target coincide")
        z /= np.linalg.norm(z)
        x = np.cross(z, up)
        if np.linalg.norm(x) < 1e-9:
            raise ValueError("look_at: viewing direction is parallel to up")
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        pose = np.eye(4)
        pose[:3, :3] = np.stack([x, y, z], axis=1)
        pose[:3, 3] = eye
        return pose

    @property
    def K(self) -> np.ndarray:
        """3 x 3 intrinsic matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, factor: int) -> "PinholeCamera":
        """The same camera sampled ``factor`` times more densely per axis (for supersampling)."""
        return PinholeCamera(self.width * factor, self.height * factor, self.fx * factor, self.fy * factor,
                             (self.cx + 0.5) * factor - 0.5, (self.cy + 0.5) * factor - 0.5, self.pose)

    def optical_rays(self) -> np.ndarray:
        """(H, W, 3) ray directions in the optical frame, z = 1."""
        u = (np.arange(self.width) - self.cx) / self.fx
        v = (np.arange(self.height) - self.cy) / self.fy
        d = np.empty((self.height, self.width, 3))
        d[..., 0] = u[None, :]
        d[..., 1] = v[:, None]
        d[..., 2] = 1.0
        return d

    def world_rays(self) -> Tuple[np.ndarray, np.ndarray]:
        """Origin (3,) and (H, W, 3) directions of every pixel's ray in the world frame."""
        return self.pose[:3, 3].copy(), self.optical_rays() @ self.pose[:3, :3].T

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> optical frame."""
        r, t = self.pose[:3, :3], self.pose[:3, 3]
        return (np.asarray(points, dtype=np.float64) - t) @ r

    def project(self, points_camera: np.ndarray) -> np.ndarray:
        """(N, 3) optical-frame points (z > 0) -> (N, 2) pixel coordinates (u, v)."""
        p = np.asarray(points_camera, dtype=np.float64).reshape(-1, 3)
        z = p[:, 2]
        if np.any(z <= 0):
            raise ValueError("project: points must be in front of the camera (z > 0)")
        return np.stack([self.fx * p[:, 0] / z + self.cx, self.fy * p[:, 1] / z + self.cy], axis=1)

    def camera_info(self) -> Dict[str, object]:
        """``sensor_msgs/CameraInfo`` fields (plumb_bob, no distortion, identity R)."""
        k = self.K
        p = np.zeros((3, 4))
        p[:, :3] = k
        return {"width": int(self.width), "height": int(self.height), "distortion_model": "plumb_bob",
                "d": [0.0] * 5, "k": k.ravel().tolist(), "r": np.eye(3).ravel().tolist(),
                "p": p.ravel().tolist()}
