"""A posed pinhole camera for the synthetic renderer (intrinsics from :mod:`codebind_core.geometry.pinhole`).

Rays are built by :meth:`Pinhole.optical_rays` rather than with open3d's ``create_rays_pinhole``
because open3d puts pixel centres at u + 0.5, half a pixel away from the CameraInfo convention. Ray
directions have unit z in the optical frame, so a ray-cast hit distance t is directly the z-depth
that an RGB-D camera reports.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Sequence, Tuple

import numpy as np

from codebind_core.geometry.pinhole import Pinhole

MAX_SIZE = 16384   # px per side the renderer accepts


def _check_pose(pose: np.ndarray) -> np.ndarray:
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
        raise ValueError(f"camera pose must be a finite 4x4 matrix, got shape {pose.shape}")
    r = pose[:3, :3]
    if not np.allclose(r @ r.T, np.eye(3), atol=1e-6) or np.linalg.det(r) < 0:
        raise ValueError("camera pose rotation must be orthonormal and right-handed")
    return pose


@dataclass(frozen=True, eq=False)
class PinholeCamera(Pinhole):
    """:class:`Pinhole` intrinsics plus ``pose``: the 4 x 4 transform from the optical frame to the
    world frame.

    Use :meth:`from_fov` for a centred camera and :meth:`look_at_pose` to aim it.
    """

    pose: np.ndarray = field(default_factory=lambda: np.eye(4))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.width > MAX_SIZE or self.height > MAX_SIZE:
            raise ValueError(f"camera width/height must be at most {MAX_SIZE}, got {self.width}x{self.height}")
        object.__setattr__(self, "pose", _check_pose(self.pose))

    def __eq__(self, other: object) -> bool:
        return (type(other) is type(self) and self.intrinsics == other.intrinsics
                and np.array_equal(self.pose, other.pose))

    __hash__ = None  # the pose is an array

    @property
    def intrinsics(self) -> Pinhole:
        """The camera without its pose."""
        return Pinhole(self.width, self.height, self.fx, self.fy, self.cx, self.cy)

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

    def world_rays(self) -> Tuple[np.ndarray, np.ndarray]:
        """Origin (3,) and (H, W, 3) directions of every pixel's ray in the world frame."""
        return self.pose[:3, 3].copy(), self.optical_rays() @ self.pose[:3, :3].T

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> optical frame."""
        r, t = self.pose[:3, :3], self.pose[:3, 3]
        return (np.asarray(points, dtype=np.float64) - t) @ r

    def camera_info(self) -> Dict[str, object]:
        """``sensor_msgs/CameraInfo`` fields (plumb_bob, no distortion, identity R)."""
        return {"width": int(self.width), "height": int(self.height), "distortion_model": "plumb_bob",
                "d": [0.0] * 5, "k": self.K.ravel().tolist(), "r": np.eye(3).ravel().tolist(),
                "p": self.P.ravel().tolist()}
