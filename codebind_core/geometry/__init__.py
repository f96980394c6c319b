"""World-frame geometry without ROS: rigid transforms, a stamped transform buffer, pinhole cameras and
their views.

>>> from codebind_core.geometry import RigidTransform, TransformBuffer, CameraView
>>> buf = TransformBuffer(cache_ns=10 * 10**9)
>>> buf.set_transform("map", "odom", RigidTransform.identity(), 0, static=True)
>>> buf.set_transform("odom", "base_link", pose, stamp_ns)           # e.g. from nav_msgs/Odometry
>>> T = buf.lookup("map", "camera_optical", stamp_ns)                  # map <- camera_optical
>>> centre_in_map = T.apply(centre_in_camera)
"""
from .camera_view import CameraView
from .pending import PendingTransforms
from .pinhole import Pinhole
from .tf_buffer import (FrameNotConnected, TransformBuffer, TransformError, TransformNotYetAvailable,
                        TransformTooOld)
from .transform import RigidTransform, quaternion_slerp

__all__ = ["CameraView", "FrameNotConnected", "PendingTransforms", "Pinhole", "RigidTransform", "TransformBuffer",
           "TransformError", "TransformNotYetAvailable", "TransformTooOld", "quaternion_slerp"]
