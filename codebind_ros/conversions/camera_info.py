"""sensor_msgs/CameraInfo <-> the pinhole model (:class:`codebind_core.geometry.Pinhole`, re-exported)."""
from __future__ import annotations

from typing import Optional

import numpy as np
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from codebind_core.geometry.pinhole import Pinhole

__all__ = ["Pinhole", "from_camera_info", "to_camera_info"]


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
    msg.k = camera.K.reshape(-1).tolist()
    msg.r = np.eye(3).reshape(-1).tolist()
    msg.p = camera.P.reshape(-1).tolist()
    return msg
