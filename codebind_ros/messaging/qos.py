"""QoS profiles used across the graph (one place, so publishers and subscribers agree).

Sensor subscriptions are **best effort**, keep last 5 (:func:`sensor_qos`). A best-effort reader
matches every publisher, reliable or best effort (SensorDataQoS, the default of many camera and
lidar drivers), and never pushes back on it: a reliable reader makes a reliable writer wait for
acknowledgements, and measured here a driver's own ``publish()`` then failed
(``cannot publish data``) with 640 x 480 frames at 30 Hz and 300k-point clouds. Large frames
under best effort need the shared-memory transport to hold them: the profile shipped in
``config/fastdds_large_frames.xml`` (docs/ros.md, "Sensor QoS"). Losses are counted from the
publishers' sequence numbers (:mod:`codebind_ros.messaging.stream_health`).

Every sensor subscription takes explicit values through rclpy's ``QoSOverridingOptions``
(:func:`sensor_overrides`), e.g. ``qos_overrides./camera/image_raw.subscription.reliability:
reliable``, keyed by the resolved topic name (after remapping and namespace); the QoS in force is
reported in /diagnostics (:func:`describe`).
"""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

RELIABILITIES = {
    "reliable": ReliabilityPolicy.RELIABLE,
    "best_effort": ReliabilityPolicy.BEST_EFFORT,
}
HISTORIES = {"keep_last": HistoryPolicy.KEEP_LAST, "keep_all": HistoryPolicy.KEEP_ALL}
SENSOR_DEPTH = 5


def sensor_qos(depth: int = SENSOR_DEPTH, reliability: str = "best_effort",
               history: str = "keep_last") -> QoSProfile:
    """Sensor streams: volatile, ``reliability`` (``best_effort``, the subscriptions' default, or
    ``reliable``), ``history`` (``keep_last`` ``depth`` messages, or ``keep_all``).

    ValueError names a bad setting."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"QoS depth must be an integer >= 1, got {depth!r}")
    if reliability not in RELIABILITIES:
        raise ValueError(f"QoS reliability must be one of {sorted(RELIABILITIES)}, got {reliability!r}")
    if history not in HISTORIES:
        raise ValueError(f"QoS history must be one of {sorted(HISTORIES)}, got {history!r}")
    return QoSProfile(history=HISTORIES[history], depth=depth, reliability=RELIABILITIES[reliability],
                      durability=DurabilityPolicy.VOLATILE)


def sensor_overrides(entity_id=None):
    """``QoSOverridingOptions`` of a sensor subscription: reliability, history and depth can be
    set per topic as parameters (``qos_overrides.<topic>.subscription.<policy>``)."""
    from rclpy.qos_overriding_options import QoSOverridingOptions

    return QoSOverridingOptions.with_default_policies(entity_id=entity_id)


def describe(qos: QoSProfile) -> str:
    """``best_effort/keep_last(5)``-style summary of ``qos`` for /diagnostics."""
    reliability = {v: k for k, v in RELIABILITIES.items()}.get(qos.reliability, str(qos.reliability))
    if qos.history == HistoryPolicy.KEEP_ALL:
        return f"{reliability}/keep_all"
    return f"{reliability}/keep_last({qos.depth})"


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
