"""sensor_msgs/CameraInfo <-> a small pinhole model (intrinsics, projection of 3-D points)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header


@dataclass(frozen=True)
class Pinhole:
    """An undistorted pinhole camera: ``u = fx * x / z + cx``, ``v = fy * y / z + cy``
    (optical frame: x right, y down, z forward)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera size must be positive, got {self.width}x{self.height}")
        for name in ("fx", "fy"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"camera {name} must be a positive finite number, got {value}")
        for name in ("cx", "cy"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"camera {name} must be finite")

    @property
    def k(self) -> np.ndarray:
        """The 3 x 3 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) points in the optical frame -> (N, 2) pixel coordinates (NaN behind the camera)."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        z = points[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = np.stack([self.fx * points[:, 0] / z + self.cx,
                           self.fy * points[:, 1] / z + self.cy], axis=1)
        uv[~(z > 0)] = np.nan
        return uv

    def back_project(self, u: np.ndarray, v: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Pixels (u, v) with depth z (metres) -> (N, 3) points in the optical frame."""
        u, v, z = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (u, v, depth))
        return np.stack([(u - self.cx) * z / self.fx, (v - self.cy) * z / self.fy, z], axis=1)


def from_camera_info(msg: CameraInfo) -> Pinhole:
    """The pinhole model of ``msg`` (uses the rectified projection P when set, else K)."""
    p = np.asarray(msg.p, dtype=np.float64).reshape(3, 4)
    k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if p[0, 0] > 0 and p[1, 1] > 0:
        fx, fy, cx, cy = p[0, 0], p[1, 1], p[0, 2], p[1, 2]
    else:
        fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    return Pinhole(int(msg.width), int(msg.height), float(fx), float(fy), float(cx), float(cy))


def to_camera_info(camera: Pinhole, header: Optional[Header] = None) -> CameraInfo:
    """A CameraInfo for an undistorted pinhole camera (plumb_bob with zero distortion)."""
    msg = CameraInfo()
    if header is not None:
        msg.header = header
    msg.width, msg.height = camera.width, camera.height
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = camera.k.reshape(-1).tolist()
    msg.r = np.eye(3).reshape(-1).tolist()
    p = np.zeros((3, 4))
    p[:, :3] = camera.k
    msg.p = p.reshape(-1).tolist()
    return msg
