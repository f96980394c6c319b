"""/tf and /tf_static into a :class:`codebind_core.geometry.TransformBuffer`, without tf2_ros.

On a ROS 2 installation the memory node's ``transform_source: tf`` uses tf2_ros. Where tf2_ros is
missing (the PyPI wheels) but ``tf2_msgs`` imports (a ROS 2 installation's, or the one
scripts/build_interfaces.sh builds into a venv), :class:`TfReader` does what the memory needs of
tf2: it subscribes to /tf and /tf_static with tf2_ros's listener QoS (reliable, depth 100;
/tf_static transient local, so late joiners get the static transforms) and keeps every
parent <- child link in a TransformBuffer: chained lookups at a stamp, interpolation between
dynamic transforms, static links, a bounded history, "not yet available" told apart from "too old".

A transform that cannot be used (empty or equal frame names, a non-finite translation, a
non-unit quaternion, a second parent for a frame, a loop) is skipped and reported through
``on_invalid``; the rest of its message is kept.
"""
from __future__ import annotations

from typing import Callable, Optional

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from codebind_core.geometry import RigidTransform, TransformBuffer
from codebind_ros.conversions.transforms import transform_from_msg

TF_TOPIC, TF_STATIC_TOPIC = "/tf", "/tf_static"


def listener_qos(static: bool) -> QoSProfile:
    """tf2_ros's listener QoS: reliable, keep last 100; transient local for /tf_static."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if static else DurabilityPolicy.VOLATILE)


class TfReader:
    """The transforms of /tf and /tf_static, for :meth:`lookup` like ``TransformBuffer.lookup``.

    Args:
        node: the rclpy node that subscribes.
        cache_s: seconds of dynamic history kept per link.
        on_invalid: called with a reason for each transform that cannot be used.
        callback_group: of the two subscriptions.
    """

    def __init__(self, node, cache_s: float = 30.0, on_invalid: Optional[Callable[[str], None]] = None,
                 callback_group=None, tf_topic: str = TF_TOPIC, static_topic: str = TF_STATIC_TOPIC):
        from tf2_msgs.msg import TFMessage

        self.buffer = TransformBuffer(cache_ns=int(cache_s * 1e9))
        self.on_invalid = on_invalid or (lambda reason: None)
        self.received = 0  # transforms kept
        for topic, static in ((tf_topic, False), (static_topic, True)):
            node.create_subscription(TFMessage, topic, lambda msg, static=static: self.on_message(msg, static),
                                     listener_qos(static), callback_group=callback_group)

    def on_message(self, msg, static: bool) -> None:
        from codebind_ros.conversions.results import stamp_to_ns

        for t in msg.transforms:
            parent, child = t.header.frame_id.lstrip("/"), t.child_frame_id.lstrip("/")
            try:
                stamp = 0 if static else stamp_to_ns(t.header.stamp)
                self.buffer.set_transform(parent, child, transform_from_msg(t.transform), stamp, static=static)
                self.received += 1
            except ValueError as exc:
                self.on_invalid(f"{'/tf_static' if static else '/tf'} {parent!r} <- {child!r}: {exc}")

    def lookup(self, target: str, source: str, stamp_ns: int) -> RigidTransform:
        return self.buffer.lookup(target, source, stamp_ns)
