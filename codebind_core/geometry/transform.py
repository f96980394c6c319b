"""Rigid transforms: translation + unit quaternion (x, y, z, w, the ROS geometry_msgs order).

``T = RigidTransform(t, q)`` maps a point p given in the child frame to the parent frame:
``T.apply(p) = R(q) p + t`` (tf2's ``target <- source`` convention). Composition
``(A * B).apply(p) = A.apply(B.apply(p))``. Interpolation between stamped poses lerps the
translation and slerps the rotation (Shoemake 1985, "Animating rotation with quaternion curves"),
as tf2 does between two buffered transforms.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

_NORM_TOL = 1e-6  # a rotation quaternion whose norm differs from 1 by more is refused


def _vec(name: str, value, n: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size != n:
        raise ValueError(f"{name} must have {n} values, got {arr.size}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has NaN or inf: {arr.tolist()}")
    return arr


def _unit_quaternion(q, normalize: bool) -> np.ndarray:
    q = _vec("rotation quaternion (x, y, z, w)", q, 4)
    n = float(np.linalg.norm(q))
    if n < 1e-9:
        raise ValueError("rotation quaternion is zero")
    if not normalize and abs(n - 1.0) > _NORM_TOL:
        raise ValueError(f"rotation quaternion must have unit norm, got norm {n:.9f} (pass normalize=True)")
    return q / n


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw,
                     aw * bw - ax * bx - ay * by - az * bz])


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _matrix_to_quat(r: np.ndarray) -> np.ndarray:
    """Shepperd's method: the largest of the four candidate divisors keeps it stable."""
    tr = np.trace(r)
    cands = [tr, r[0, 0], r[1, 1], r[2, 2]]
    i = int(np.argmax(cands))
    if i == 0:
        s = 2.0 * math.sqrt(1.0 + tr)
        q = [(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, s / 4]
    elif i == 1:
        s = 2.0 * math.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
        q = [s / 4, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s, (r[2, 1] - r[1, 2]) / s]
    elif i == 2:
        s = 2.0 * math.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
        q = [(r[0, 1] + r[1, 0]) / s, s / 4, (r[1, 2] + r[2, 1]) / s, (r[0, 2] - r[2, 0]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
        q = [(r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, s / 4, (r[1, 0] - r[0, 1]) / s]
    q = np.asarray(q)
    return q / np.linalg.norm(q)


def quaternion_slerp(q0, q1, t: float) -> np.ndarray:
    """Spherical linear interpolation of unit quaternions (x, y, z, w), t in [0, 1], shortest arc."""
    a = _unit_quaternion(q0, True)
    b = _unit_quaternion(q1, True)
    dot = float(np.dot(a, b))
    if dot < 0.0:  # q and -q are the same rotation: take the short way round
        b, dot = -b, -dot
    if dot > 0.9995:  # nearly parallel: normalised lerp (error below 1e-7 rad)
        q = a + t * (b - a)
        return q / np.linalg.norm(q)
    theta = math.acos(min(1.0, dot))
    s = math.sin(theta)
    return (math.sin((1 - t) * theta) / s) * a + (math.sin(t * theta) / s) * b


class RigidTransform:
    """A proper rigid motion: ``apply(p) = R p + t`` (float64)."""

    __slots__ = ("translation", "rotation")

    def __init__(self, translation: Sequence[float] = (0.0, 0.0, 0.0),
                 rotation: Sequence[float] = (0.0, 0.0, 0.0, 1.0), normalize: bool = False):
        self.translation = _vec("translation", translation, 3)
        self.rotation = _unit_quaternion(rotation, normalize)

    @classmethod
    def identity(cls) -> "RigidTransform":
        return cls()

    @classmethod
    def from_matrix(cls, matrix) -> "RigidTransform":
        """From a 4x4 homogeneous matrix whose 3x3 block is a rotation (orthonormal, det +1)."""
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape != (4, 4) or not np.isfinite(m).all():
            raise ValueError(f"expected a finite 4x4 matrix, got shape {m.shape}")
        r = m[:3, :3]
        if np.abs(r @ r.T - np.eye(3)).max() > 1e-6 or np.linalg.det(r) < 0:
            raise ValueError("the 3x3 block is not a rotation (orthonormal with determinant +1)")
        return cls(m[:3, 3], _matrix_to_quat(r))

    @classmethod
    def from_yaw(cls, x: float, y: float, z: float, yaw: float) -> "RigidTransform":
        """Translation plus a rotation of ``yaw`` radians about +z (a ground robot's pose)."""
        return cls((x, y, z), (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)))

    def matrix(self) -> np.ndarray:
        out = np.eye(4)
        out[:3, :3] = _quat_to_matrix(self.rotation)
        out[:3, 3] = self.translation
        return out

    def rotation_matrix(self) -> np.ndarray:
        return _quat_to_matrix(self.rotation)

    def __mul__(self, other: "RigidTransform") -> "RigidTransform":
        if not isinstance(other, RigidTransform):
            return NotImplemented
        return self.compose(other)

    def compose(self, other: "RigidTransform") -> "RigidTransform":
        """``self * other``: apply ``other`` first, then ``self``."""
        t = self.rotation_matrix() @ other.translation + self.translation
        q = _quat_mul(self.rotation, other.rotation)
        return RigidTransform(t, q, normalize=True)

    def inverse(self) -> "RigidTransform":
        qi = self.rotation * np.array([-1.0, -1.0, -1.0, 1.0])
        return RigidTransform(-(_quat_to_matrix(qi) @ self.translation), qi, normalize=True)

    def apply(self, points) -> np.ndarray:
        """Points (3,) or (N, 3) in the child frame -> the same shape in the parent frame."""
        p = np.asarray(points, dtype=np.float64)
        if p.shape[-1:] != (3,) or p.ndim > 2:
            raise ValueError(f"points must be (3,) or (N, 3), got shape {p.shape}")
        return p @ self.rotation_matrix().T + self.translation

    def rotate_extent(self, size) -> np.ndarray:
        """Axis-aligned extent, in the parent frame, of a box with axis-aligned ``size`` in the child frame."""
        s = _vec("size", size, 3)
        return np.abs(self.rotation_matrix()) @ s

    @staticmethod
    def interpolate(a: "RigidTransform", b: "RigidTransform", t: float) -> "RigidTransform":
        """Pose at fraction ``t`` in [0, 1] from ``a`` to ``b``: lerp of translations, slerp of rotations."""
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"interpolation fraction must be in [0, 1], got {t}")
        tr = (1 - t) * a.translation + t * b.translation
        return RigidTransform(tr, quaternion_slerp(a.rotation, b.rotation, t), normalize=True)

    def angle_to(self, other: "RigidTransform") -> float:
        """Rotation angle (radians) between the two orientations."""
        d = abs(float(np.dot(self.rotation, other.rotation)))
        return 2.0 * math.acos(min(1.0, d))

    def __repr__(self) -> str:
        t = ", ".join(f"{v:.4g}" for v in self.translation)
        q = ", ".join(f"{v:.4g}" for v in self.rotation)
        return f"RigidTransform(t=({t}), q=({q}))"
