"""Where a sensor was at a stamp: ``fixed_frame <- sensor frame``, from tf2 or from odometry.

Three sources (parameter ``transform_source`` of the memory node):

- ``tf``: a ``tf2_ros.Buffer`` fed by a ``tf2_ros.TransformListener`` over /tf and /tf_static, as on
  any ROS 2 robot. Without ``tf2_ros`` (no PyPI wheels of it) but with ``tf2_msgs`` (built into
  a venv by scripts/build_interfaces.sh): :class:`codebind_ros.messaging.tf_reader.TfReader`,
  the same topics into a :class:`codebind_core.geometry.TransformBuffer`.
- ``odometry``: the body's pose from the ``nav_msgs/Odometry`` topic ``odom`` (remappable; header.frame_id = the fixed
  frame, child_frame_id = the body) plus a static extrinsic ``body <- sensor``, kept in a
  :class:`codebind_core.geometry.TransformBuffer` (interpolated between odometry messages).
- ``none``: the sensor does not move; its frame is taken as the fixed frame (identity).

``auto`` is ``tf`` when ``tf2_ros`` is importable and ``odometry`` otherwise (a robot without
tf2_ros that publishes /tf sets ``tf``). :meth:`SensorPoses.lookup`
has the signature of :meth:`TransformBuffer.lookup` and raises the core's ``TransformError``s, so
a :class:`codebind_core.geometry.PendingTransforms` can wait on either source.
"""
from __future__ import annotations

import importlib.util
from typing import Callable, Optional

import numpy as np
import yaml

from codebind_core.geometry import (FrameNotConnected, RigidTransform, TransformBuffer, TransformNotYetAvailable,
                                    TransformTooOld)
from codebind_ros.conversions.transforms import pose_to_transform
from codebind_ros.messaging.topics import ODOMETRY

SOURCES = ("auto", "tf", "odometry", "none")
# body (x forward, y left, z up) <- camera optical frame (z forward, x right, y down), at the body's origin
DEFAULT_EXTRINSIC = (0.0, 0.0, 0.0, -0.5, 0.5, -0.5, 0.5)


def tf2_available() -> bool:
    return importlib.util.find_spec("tf2_ros") is not None


def tf_messages_available() -> bool:
    return importlib.util.find_spec("tf2_msgs") is not None


def resolve_source(source: str) -> str:
    if source not in SOURCES:
        raise ValueError(f"transform source must be one of {SOURCES}, got {source!r}")
    if source == "auto":
        return "tf" if tf2_available() else "odometry"
    if source == "tf" and not (tf2_available() or tf_messages_available()):
        raise ValueError("transform_source 'tf' needs tf2_ros or tf2_msgs (a ROS 2 installation, or "
                         "scripts/build_interfaces.sh); use 'odometry' here")
    return source


def parse_extrinsic(text) -> RigidTransform:
    """``[x, y, z, qx, qy, qz, qw]`` (YAML text or a sequence) -> RigidTransform (quaternion normalised)."""
    value = yaml.safe_load(text) if isinstance(text, str) else text
    arr = np.asarray(value, np.float64) if isinstance(value, (list, tuple)) else np.zeros(0)
    if arr.shape != (7,) or not np.isfinite(arr).all() or np.linalg.norm(arr[3:]) < 1e-9:
        raise ValueError(f"an extrinsic is [x, y, z, qx, qy, qz, qw] with a non-zero quaternion, got {text!r}")
    return RigidTransform(arr[:3], arr[3:], normalize=True)


class SensorPoses:
    """``fixed_frame <- sensor`` at a stamp, from the configured source (see module docstring).

    Args:
        node: the rclpy node that subscribes.
        fixed_frame: the frame everything is stored in.
        source: one of :data:`SOURCES`.
        odometry_topic, extrinsic, sensor_frame: the odometry source's topic, ``body <- sensor``
            transform and the sensor's frame name (the frame_id of the sensor messages).
        cache_s: how much pose history is kept.
        on_invalid: called with a reason for every odometry message that cannot be used.
    """

    def __init__(self, node, fixed_frame: str, source: str = "auto", odometry_topic: str = ODOMETRY,
                 extrinsic=DEFAULT_EXTRINSIC, sensor_frame: str = "camera_optical_frame",
                 cache_s: float = 30.0, on_invalid: Optional[Callable[[str], None]] = None, callback_group=None):
        self.fixed_frame = fixed_frame.lstrip("/")
        self.kind = resolve_source(source)
        self.sensor_frame = sensor_frame.lstrip("/")
        self.on_invalid = on_invalid or (lambda reason: None)
        self.received = 0
        self.buffer: Optional[TransformBuffer] = None
        self.tf_reader = None
        if self.kind == "tf" and not tf2_available():  # /tf without tf2_ros
            from codebind_ros.messaging.tf_reader import TfReader

            self.tf_reader = TfReader(node, cache_s, self.on_invalid, callback_group)
        elif self.kind == "tf":
            import tf2_ros
            from rclpy.duration import Duration

            self._tf2 = tf2_ros
            self._tf_buffer = tf2_ros.Buffer(cache_time=Duration(seconds=cache_s), node=node)
            self._listener = tf2_ros.TransformListener(self._tf_buffer, node, spin_thread=False)
        elif self.kind == "odometry":
            from nav_msgs.msg import Odometry

            from codebind_ros.messaging.qos import results_qos

            self.extrinsic = parse_extrinsic(extrinsic)
            self.buffer = TransformBuffer(cache_ns=int(cache_s * 1e9))
            self._body: Optional[str] = None
            node.create_subscription(Odometry, odometry_topic, self.on_odometry, results_qos(100),
                                     callback_group=callback_group)
        self.implementation = ("tf_reader" if self.tf_reader is not None
                               else "tf2_ros" if self.kind == "tf" else self.kind)

    def on_odometry(self, msg) -> None:
        """Record the body pose of one nav_msgs/Odometry message (bad ones are reported, not raised)."""
        from codebind_ros.conversions.results import stamp_to_ns

        frame, body = msg.header.frame_id.lstrip("/"), msg.child_frame_id.lstrip("/")
        try:
            if frame != self.fixed_frame:
                raise ValueError(f"odometry in frame {frame!r}, the memory's fixed frame is {self.fixed_frame!r}")
            if not body or body in (frame, self.sensor_frame):
                raise ValueError(f"odometry child_frame_id {body!r} must name the moving body")
            if self._body is None:
                self.buffer.set_transform(body, self.sensor_frame, self.extrinsic, 0, static=True)
                self._body = body
            elif body != self._body:
                raise ValueError(f"odometry of {body!r}; this memory follows {self._body!r}")
            self.buffer.set_transform(frame, body, pose_to_transform(msg.pose.pose), stamp_to_ns(msg.header.stamp))
            self.received += 1
        except ValueError as exc:
            self.on_invalid(f"odometry: {exc}")

    def lookup(self, target: str, source: str, stamp_ns: int) -> RigidTransform:
        """``target <- source`` at ``stamp_ns``; raises TransformNotYetAvailable, TransformTooOld or
        FrameNotConnected (codebind_core.geometry)."""
        target, source = target.lstrip("/"), source.lstrip("/")
        if self.kind == "none" or target == source:
            return RigidTransform.identity()
        if self.kind == "odometry":
            return self.buffer.lookup(target, source, stamp_ns)
        if self.tf_reader is not None:
            return self.tf_reader.lookup(target, source, stamp_ns)
        from rclpy.time import Time

        tf2 = self._tf2
        try:
            t = self._tf_buffer.lookup_transform(target, source, Time(nanoseconds=int(stamp_ns))).transform
        except tf2.ExtrapolationException as exc:  # before or after the history: wait, bounded
            raise TransformNotYetAvailable(str(exc), target, source, 0) from None
        except (tf2.LookupException, tf2.ConnectivityException) as exc:
            raise FrameNotConnected(str(exc)) from None
        except tf2.TransformException as exc:
            raise TransformTooOld(str(exc), target, source, 0) from None
        r, q = t.translation, t.rotation
        return RigidTransform((r.x, r.y, r.z), (q.x, q.y, q.z, q.w), normalize=True)
