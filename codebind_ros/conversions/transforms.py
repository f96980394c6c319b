"""geometry_msgs Pose / Transform <-> :class:`codebind_core.geometry.RigidTransform`.

Reading checks the message: a non-finite value or a quaternion that is not of unit length is a
ValueError naming the message kind (a malformed /tf or odometry message is dropped, not used)."""
from __future__ import annotations

import numpy as np

from codebind_core.geometry import RigidTransform


def _checked(what: str, p, q) -> RigidTransform:
    """RigidTransform from message fields ``p`` (x, y, z) and ``q`` (x, y, z, w); ValueError naming
    ``what`` for a non-finite one or a non-unit quaternion."""
    t, r = np.array([p.x, p.y, p.z]), np.array([q.x, q.y, q.z, q.w])
    if not (np.isfinite(t).all() and np.isfinite(r).all()) or abs(np.linalg.norm(r) - 1.0) > 1e-3:
        raise ValueError(f"{what} must be finite with a unit quaternion, got t={t.tolist()} q={r.tolist()}")
    return RigidTransform(t, r, normalize=True)


def pose_to_transform(pose) -> RigidTransform:
    """geometry_msgs/Pose -> RigidTransform (ValueError for a non-finite pose or a non-unit quaternion)."""
    return _checked("pose", pose.position, pose.orientation)


def transform_from_msg(msg) -> RigidTransform:
    """geometry_msgs/Transform -> RigidTransform (ValueError as :func:`pose_to_transform`)."""
    return _checked("transform", msg.translation, msg.rotation)


def transform_to_msg(transform: RigidTransform, msg) -> None:
    """Write ``transform`` into a geometry_msgs/Transform (in place)."""
    msg.translation.x, msg.translation.y, msg.translation.z = (float(v) for v in transform.translation)
    msg.rotation.x, msg.rotation.y, msg.rotation.z, msg.rotation.w = (float(v) for v in transform.rotation)


def transform_to_pose(transform: RigidTransform, pose) -> None:
    """Write ``transform`` into a geometry_msgs/Pose (in place)."""
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in transform.translation)
    q = transform.rotation
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = (float(v) for v in q)
