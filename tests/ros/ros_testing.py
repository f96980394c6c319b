"""Helpers for the ROS tests: waiting, recording a topic, building an encoder node."""
from __future__ import annotations

import threading
import time
from typing import Callable, List


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, period: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` s pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period)
    return bool(predicate())


class Collector:
    """Records every message of one topic (with its arrival time)."""

    def __init__(self, node, msg_type, topic: str, qos=None):
        from codebind_ros.messaging.qos import results_qos

        self.messages: List = []
        self.arrivals: List[float] = []
        self._lock = threading.Lock()
        self.subscription = node.create_subscription(msg_type, topic, self._on, qos or results_qos(50))

    def _on(self, msg) -> None:
        with self._lock:
            self.messages.append(msg)
            self.arrivals.append(time.monotonic())

    def wait_for(self, count: int, timeout: float = 10.0) -> List:
        wait_until(lambda: len(self.messages) >= count, timeout)
        with self._lock:
            return list(self.messages)


def wait_for_subscribers(publisher, count: int = 1, timeout: float = 10.0) -> bool:
    """Discovery: wait until ``publisher`` sees ``count`` subscriptions."""
    return wait_until(lambda: publisher.get_subscription_count() >= count, timeout)


def make_encoder(model, modality: str, topic: str, context, **params):
    """An EncoderNode on ``<topic>/in`` -> ``<topic>/out`` with ``model`` and extra parameters."""
    from rclpy.parameter import Parameter

    from codebind_ros.nodes.encoder_node import EncoderNode

    overrides = [Parameter("modality", value=modality),
                 Parameter("input_topic", value=f"{topic}/in"),
                 Parameter("output_topic", value=f"{topic}/out"),
                 Parameter("warmup", value=False)]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    return EncoderNode(model=model, node_name=f"enc_{modality}", context=context,
                       parameter_overrides=overrides)
