"""A sensor subscription: any driver's QoS, oversized messages refused unread, nothing left uncounted.

- QoS: best effort, keep last 5 (:func:`codebind_ros.messaging.qos.sensor_qos`), overridable per
  topic by the ROS parameters of ``QoSOverridingOptions``.
- Size first: the subscription takes the serialized bytes (rclpy ``raw=True``); a message larger
  than ``max_bytes`` is refused before it is deserialized (a 200 MB image never becomes a
  Python object), the rest is deserialized here.
- At the end, :meth:`SensorSubscription.drain` takes what the middleware still holds for the
  subscription, so the node can count it instead of losing it silently.
"""
from __future__ import annotations

from typing import Callable, Optional

from rclpy.serialization import deserialize_message

from codebind_ros.messaging.qos import SENSOR_DEPTH, sensor_overrides, sensor_qos
from codebind_ros.messaging.stream_health import StreamMonitor


class SensorSubscription:
    """Subscribe ``node`` to ``topic`` (``msg_type``); ``callback(msg, info)`` gets each message
    of at most ``max_bytes`` serialized bytes, ``on_refused(reason)`` each one refused (too large,
    or bytes that do not deserialize). ``monitor``: a :class:`StreamMonitor` fed with every
    message's sequence number and the subscription's events."""

    def __init__(self, node, msg_type, topic: str, callback: Callable, max_bytes: int,
                 on_refused: Callable[[str], None], monitor: Optional[StreamMonitor] = None,
                 depth: int = SENSOR_DEPTH, callback_group=None, entity_id: Optional[str] = None):
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        self.msg_type, self.max_bytes = msg_type, max_bytes
        self.callback, self.on_refused, self.monitor = callback, on_refused, monitor
        self.refused_oversize = 0
        self.subscription = node.create_subscription(
            msg_type, topic, self._on_bytes, sensor_qos(depth), callback_group=callback_group,
            event_callbacks=monitor.event_callbacks() if monitor is not None else None,
            qos_overriding_options=sensor_overrides(entity_id), raw=True)
        if monitor is not None:
            monitor.bind(node, self.subscription)

    @property
    def topic_name(self) -> str:
        return self.subscription.topic_name

    @property
    def qos_profile(self):
        return self.subscription.qos_profile

    def _on_bytes(self, data: bytes, info) -> None:
        """``info``: rclpy's MessageInfo (a required argument: rclpy passes it only then)."""
        if self.monitor is not None:
            self.monitor.on_message(info)
        if len(data) > self.max_bytes:
            self.refused_oversize += 1
            self.on_refused(f"message of {len(data)} serialized bytes exceeds max_message_bytes "
                            f"{self.max_bytes}; refused before deserialising")
            return
        try:
            msg = deserialize_message(data, self.msg_type)
        except Exception as exc:  # bytes that are not a valid message of this type
            self.on_refused(f"undeserializable {self.msg_type.__name__} of {len(data)} bytes: "
                            f"{type(exc).__name__}: {exc}")
            return
        del data
        self.callback(msg, info)

    def drain(self, limit: int = 10_000) -> int:
        """Take (and hand to the callback) every message the middleware still holds for this
        subscription; call when the executor no longer spins the node. Returns how many."""
        taken = 0
        handle = self.subscription.handle
        while taken < limit:
            try:
                with handle:
                    got = handle.take_message(self.msg_type, True)
            except Exception:  # destroyed, or the context is down
                break
            if got is None:
                break
            taken += 1
            self._on_bytes(*got)
        return taken
