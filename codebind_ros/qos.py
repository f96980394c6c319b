"""QoS profiles used across the graph (one place, so publishers and subscribers agree)."""
from __future__ import annotations

from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)


def sensor_qos(depth: int = 5) -> QoSProfile:
    """Sensor streams: best effort, volatile, keep the last ``depth`` (rclpy's sensor-data profile).

    A best-effort subscriber also receives from reliable publishers, so sensor drivers with
    either reliability connect."""
    if depth < 1:
        raise ValueError(f"QoS depth must be >= 1, got {depth}")
    profile = QoSProfile(depth=depth)
    profile.history = qos_profile_sensor_data.history
    profile.reliability = qos_profile_sensor_data.reliability
    profile.durability = qos_profile_sensor_data.durability
    return profile


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
