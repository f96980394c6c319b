"""The pinhole camera intrinsics every part of the package uses (OpenCV / ROS optical convention).

The optical frame looks along +z with +x to the right of the image and +y down, so image row 0 is the
top. Pixel (u, v) = (column, row) has its centre at integer coordinates, as in OpenCV and
``sensor_msgs/CameraInfo``: ``u = fx * x / z + cx``, ``v = fy * y / z + cy``. No distortion.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Pinhole:
    """An undistorted pinhole camera: image size (px) and intrinsics fx, fy, cx, cy (px)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"camera width/height must be positive integers, got {self.width}x{self.height}")
        for name in ("fx", "fy"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"camera {name} must be a positive finite focal length in px, got {value}")
        for name in ("cx", "cy"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"camera {name} must be finite")

    @property
    def K(self) -> np.ndarray:
        """The 3 x 3 camera matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def P(self) -> np.ndarray:
        """The 3 x 4 projection matrix [K | 0] of a monocular camera."""
        p = np.zeros((3, 4))
        p[:, :3] = self.K
        return p

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

    def optical_rays(self) -> np.ndarray:
        """(H, W, 3) ray directions of every pixel in the optical frame, z = 1 (so a ray-cast hit
        distance is the z-depth an RGB-D camera reports)."""
        d = np.empty((self.height, self.width, 3))
        d[..., 0] = ((np.arange(self.width) - self.cx) / self.fx)[None, :]
        d[..., 1] = ((np.arange(self.height) - self.cy) / self.fy)[:, None]
        d[..., 2] = 1.0
        return d

    def scaled(self, factor: int):
        """The same camera sampled ``factor`` times more densely per axis (for supersampling); the
        other fields (a subclass's pose) are kept."""
        return replace(self, width=self.width * factor, height=self.height * factor,
                       fx=self.fx * factor, fy=self.fy * factor,
                       cx=(self.cx + 0.5) * factor - 0.5, cy=(self.cy + 0.5) * factor - 0.5)

    def in_image(self, uv: np.ndarray) -> np.ndarray:
        """Mask of (N, 2) pixel coordinates inside the image (NaN is outside)."""
        u, v = uv[:, 0], uv[:, 1]
        return (u >= 0) & (u < self.width) & (v >= 0) & (v < self.height)
