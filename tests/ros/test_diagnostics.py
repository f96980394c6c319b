"""Node statistics, their DiagnosticStatus, and the throttled logger (injected clocks)."""
from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticStatus

from codebind_ros.nodes.diagnostics import (DROP_INVALID, DROP_OVERLOAD, NodeStats, ThrottledLog,
                                      status_values, to_status)


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_rate_latency_percentiles_and_window():
    clock = Clock()
    stats = NodeStats(window_s=2.0, clock=clock)
    for i in range(100):  # 50 Hz for 2 s, latencies 1..100 ms
        clock.t += 0.02
        stats.on_received()
        stats.on_processed((i + 1) / 1000.0)
    snap = stats.snapshot()
    assert snap.received == snap.processed == 100
    assert snap.rate_hz == pytest.approx(50.0, rel=0.03)
    assert snap.latency_p50_ms == pytest.approx(50.5, abs=0.6)
    assert snap.latency_p99_ms == pytest.approx(99.0, abs=1.1)
    assert snap.latency_max_ms == pytest.approx(100.0)
    clock.t += 10.0  # nothing recent: window empty, counters kept
    later = stats.snapshot()
    assert later.rate_hz == 0.0 and later.latency_p99_ms == 0.0 and later.processed == 100


def test_status_levels_and_values():
    stats = NodeStats(clock=Clock())
    stats.on_dropped(DROP_OVERLOAD, 5)
    first = stats.snapshot()
    status = to_status("codebind/enc", "depth", first)
    values = status_values(status)
    assert status.level == DiagnosticStatus.OK  # overload drops are by design
    assert values["dropped_overload"] == "5" and values["dropped_invalid"] == "0"
    assert values["dropped_total"] == "5" and values["errors"] == "0"
    stats.on_dropped(DROP_INVALID, detail="data has 3 bytes")
    second = stats.snapshot()
    status = to_status("codebind/enc", "depth", second, previous=first)
    assert status.level == DiagnosticStatus.WARN and "1 invalid" in status.message
    assert status_values(status)["last_error"] == "data has 3 bytes"
    # nothing new since the last report: back to OK
    assert to_status("codebind/enc", "depth", stats.snapshot(), previous=second).level == DiagnosticStatus.OK


def test_throttled_log_emits_once_per_period_and_counts_the_rest():
    clock, lines = Clock(), []
    log = ThrottledLog(lines.append, period_s=5.0, clock=clock)
    for i in range(12):  # one message per second for 12 s
        log(f"bad {i}")
        clock.t += 1.0
    assert lines == ["bad 0", "bad 5 (4 similar messages suppressed)",
                     "bad 10 (4 similar messages suppressed)"]
    assert log.logged == 3 and log.suppressed_total == 9


def test_throttled_logs_of_two_severities_share_one_rclpy_logger():
    """rclpy refuses a second severity from one call site; a node's warning and error
    ThrottledLogs log through one rclpy logger without tripping it."""
    import rclpy.logging

    logger = rclpy.logging.get_logger("codebind_test_throttled_severities")
    warn, error = ThrottledLog(logger.warning, period_s=0.0), ThrottledLog(logger.error, period_s=0.0)
    for _ in range(2):
        assert warn("a warning") and error("an error")
    assert warn.logged == error.logged == 2


def test_an_error_counts_every_message_it_cost():
    stats = NodeStats()
    stats.on_error("boom", count=4)
    assert stats.errors == 4 and stats.last_error == "boom"
