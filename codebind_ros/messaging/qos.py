"""QoS profiles used across the graph (one place, so publishers and subscribers agree).

Sensor streams are **reliable** by default. Measured with this repository's middleware
(rmw_fastrtps_cpp, two processes on one machine; docs/ros.md, "Sensor QoS"): a best-effort
subscription receives nothing, or almost nothing, of a message of about 0.5 MB or more (a 640 x 480
rgb8 frame is 0.9 MB), while a reliable publisher -> reliable subscription delivers every frame.
Camera drivers publish reliable by default (image_transport's default QoS), and a reliable
publisher also serves best-effort subscribers. A best-effort publisher does not match a reliable
subscription: the encoder node reports that in /diagnostics (``incompatible_qos``), and its
``qos_reliability: best_effort`` parameter connects to such a driver.
"""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

RELIABILITIES = {
    "reliable": ReliabilityPolicy.RELIABLE,
    "best_effort": ReliabilityPolicy.BEST_EFFORT,
    # resolved by the middleware when the subscription is created: reliable when every publisher
    # then on the topic is reliable (or there is none yet), best effort otherwise
    "best_available": ReliabilityPolicy.BEST_AVAILABLE,
}
HISTORIES = {"keep_last": HistoryPolicy.KEEP_LAST, "keep_all": HistoryPolicy.KEEP_ALL}
DEFAULT_SENSOR_RELIABILITY = "reliable"


def sensor_qos(depth: int = 5, reliability: str = DEFAULT_SENSOR_RELIABILITY,
               history: str = "keep_last") -> QoSProfile:
    """Sensor streams: volatile, ``reliability`` (``reliable``, ``best_effort`` or
    ``best_available``), ``history`` (``keep_last`` ``depth`` messages, or ``keep_all``).

    Publishers and subscriptions both use it; ValueError names a bad setting."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"QoS depth must be an integer >= 1, got {depth!r}")
    if reliability not in RELIABILITIES:
        raise ValueError(f"QoS reliability must be one of {sorted(RELIABILITIES)}, got {reliability!r}")
    if history not in HISTORIES:
        raise ValueError(f"QoS history must be one of {sorted(HISTORIES)}, got {history!r}")
    return QoSProfile(history=HISTORIES[history], depth=depth, reliability=RELIABILITIES[reliability],
                      durability=DurabilityPolicy.VOLATILE)


def results_qos(depth: int = 10) -> QoSProfile:
    """Derived results (embeddings, localisations, diagnostics): reliable, keep last ``depth``."""
    if depth < 1:
        raise ValueError(f"QoS depth must be >= 1, got {depth}")
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)


def latched_qos() -> QoSProfile:
    """Slow, state-like topics (CameraInfo of a player, a standing query): reliable, the last
    message kept for late subscribers."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)
