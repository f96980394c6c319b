"""Small rigid-body helpers: rotations as unit quaternions (w, x, y, z) and 3 x 3 matrices."""
from __future__ import annotations

import numpy as np


def random_quaternion(rng: np.random.Generator) -> np.ndarray:
    """A rotation drawn uniformly from SO(3) (Shoemake's method), as (w, x, y, z) with w >= 0."""
    u1, u2, u3 = rng.random(3)
    a, b = np.sqrt(1.0 - u1), np.sqrt(u1)
    q = np.array([b * np.cos(2 * np.pi * u3), a * np.sin(2 * np.pi * u2),
                  a * np.cos(2 * np.pi * u2), b * np.sin(2 * np.pi * u3)])
    return q if q[0] >= 0 else -q


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """3 x 3 rotation matrix -> (w, x, y, z) with w >= 0 (Shepperd's method, stable for any angle)."""
    m = np.asarray(m, dtype=np.float64)
    tr = np.trace(m)
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = np.array([0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s])
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = np.empty(4)
        q[0] = (m[k, j] - m[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (m[j, i] + m[i, j]) / s
        q[1 + k] = (m[k, i] + m[i, k]) / s
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


# World (x forward, y left, z up) -> camera optical frame (x right, y down, z forward), level camera.
WORLD_TO_OPTICAL = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def upright_quaternion(yaw: float, elevation: float) -> np.ndarray:
    """Orientation, in the camera optical frame, of an object standing in its canonical z-up pose,
    turned by ``yaw`` about its vertical axis and seen from ``elevation`` radians above the horizon."""
    return matrix_to_quaternion(axis_rotation("x", elevation) @ WORLD_TO_OPTICAL @ axis_rotation("z", yaw))


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(w, x, y, z) -> 3 x 3 rotation matrix (the quaternion is normalised first)."""
    q = np.asarray(q, dtype=np.float64)
    n = np.linalg.norm(q)
    if q.shape != (4,) or not np.isfinite(n) or n < 1e-12:
        raise ValueError(f"a rotation quaternion must be 4 finite numbers, not all zero; got {q!r}")
    w, x, y, z = q / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def axis_rotation(axis: str, angle: float) -> np.ndarray:
    """Rotation by ``angle`` radians about the x, y or z axis."""
    c, s = np.cos(angle), np.sin(angle)
    mats = {
        "x": [[1, 0, 0], [0, c, -s], [0, s, c]],
        "y": [[c, 0, s], [0, 1, 0], [-s, 0, c]],
        "z": [[c, -s, 0], [s, c, 0], [0, 0, 1]],
    }
    if axis not in mats:
        raise ValueError(f"axis must be 'x', 'y' or 'z', got {axis!r}")
    return np.array(mats[axis], dtype=np.float64)


def tangent_frame(normal: np.ndarray, angle: float) -> np.ndarray:
    """Two unit tangents (rows) orthogonal to ``normal``, rotated by ``angle`` about it."""
    n = normal / np.linalg.norm(normal)
    helper = np.array([1.0, 0.0, 0.0]) if abs(n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    t1 = np.cross(n, helper)
    t1 /= np.linalg.norm(t1)
    t2 = np.cross(n, t1)
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * t1 + s * t2, -s * t1 + c * t2])
