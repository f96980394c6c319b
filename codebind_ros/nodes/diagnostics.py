"""Per-node health figures (rate, latency, drops, errors) on /diagnostics, and throttled logging.

``NodeStats`` is plain thread-safe Python (no rclpy) so every node can count from any thread;
``DiagnosticsReporter`` turns it into a ``diagnostic_msgs/DiagnosticArray`` on a timer.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Callable, Deque, Dict, List, Optional

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

DIAGNOSTICS_TOPIC = "/diagnostics"

# Drop reasons every node reports (always present in the status, 0 when none happened).
DROP_OVERLOAD = "overload"   # evicted from a full queue: the model was slower than the sensor
DROP_INVALID = "invalid"     # malformed input: wrong size/encoding, NaN, empty, too large ...
DROP_TRANSPORT = "transport"  # sent but never delivered (middleware loss events, sequence gaps)
DROP_REASONS = (DROP_OVERLOAD, DROP_INVALID, DROP_TRANSPORT)
DROP_SHUTDOWN = "shutdown"   # received or held by the middleware when the node stopped


@dataclass(frozen=True)
class StatsSnapshot:
    """Figures at one instant; ``rate_hz`` and the latencies cover the recent window."""

    received: int
    processed: int
    dropped: Dict[str, int]
    errors: int
    rate_hz: float
    latency_p50_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    last_error: str

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class NodeStats:
    """Counters and a sliding window of completions for one node (thread-safe).

    Args:
        window_s: rate and latency percentiles cover completions in the last ``window_s`` s.
        max_samples: bound on the latency samples kept (memory stays bounded at any rate).
        clock: monotonic time source in seconds (injectable for tests).
    """

    def __init__(self, window_s: float = 5.0, max_samples: int = 4096,
                 clock: Callable[[], float] = time.monotonic):
        if window_s <= 0 or max_samples < 1:
            raise ValueError("window_s must be > 0 and max_samples >= 1")
        self.window_s, self._clock = window_s, clock
        self._lock = threading.Lock()
        self._done: Deque[tuple] = collections.deque(maxlen=max_samples)  # (time, latency_s)
        self.received = 0
        self.processed = 0
        self.errors = 0
        self.dropped: Dict[str, int] = {r: 0 for r in DROP_REASONS}
        self.last_error = ""

    def on_received(self, n: int = 1) -> None:
        with self._lock:
            self.received += n

    def on_processed(self, latency_s: float) -> None:
        """One input fully handled (published) ``latency_s`` after it was received."""
        with self._lock:
            self.processed += 1
            self._done.append((self._clock(), float(latency_s)))

    def on_dropped(self, reason: str, n: int = 1, detail: str = "") -> None:
        with self._lock:
            self.dropped[reason] = self.dropped.get(reason, 0) + n
            if detail:
                self.last_error = detail

    def on_error(self, detail: str, count: int = 1) -> None:
        """An unexpected failure (not the input's fault); the ``count`` inputs are dropped."""
        with self._lock:
            self.errors += count
            self.last_error = detail

    def snapshot(self) -> StatsSnapshot:
        now = self._clock()
        with self._lock:
            recent = [lat for t, lat in self._done if now - t <= self.window_s]
            first = next((t for t, _ in self._done if now - t <= self.window_s), None)
            counts = (self.received, self.processed, dict(self.dropped), self.errors, self.last_error)
        span = min(self.window_s, max(now - first, 1e-9)) if first is not None else self.window_s
        rate = len(recent) / span if len(recent) > 1 else 0.0
        if recent:
            ms = np.asarray(recent) * 1e3
            p50, p99, worst = (float(np.percentile(ms, 50)), float(np.percentile(ms, 99)),
                               float(ms.max()))
        else:
            p50 = p99 = worst = 0.0
        received, processed, dropped, errors, last_error = counts
        return StatsSnapshot(received, processed, dropped, errors, rate, p50, p99, worst, last_error)


def to_status(name: str, hardware_id: str, snap: StatsSnapshot,
              extra: Optional[Dict[str, str]] = None, previous: Optional[StatsSnapshot] = None,
              warnings: Optional[List[str]] = None) -> DiagnosticStatus:
    """A DiagnosticStatus for ``snap``: WARN when inputs were dropped as invalid or lost in
    transport, or errors happened since ``previous``, or ``warnings`` (standing problems such as
    an incompatible publisher or a stalled stream) are given; OK otherwise (overload drops are by
    design, reported only)."""
    status = DiagnosticStatus(name=name, hardware_id=hardware_id)

    def new(reason: str) -> int:
        return snap.dropped.get(reason, 0) - (previous.dropped.get(reason, 0) if previous else 0)

    new_invalid, new_lost = new(DROP_INVALID), new(DROP_TRANSPORT)
    new_errors = snap.errors - (previous.errors if previous else 0)
    problems = list(warnings or [])
    if new_errors > 0 or new_invalid > 0:
        problems.insert(0, f"{new_invalid} invalid inputs dropped, {new_errors} errors")
    if new_lost > 0:
        problems.append(f"{new_lost} messages lost in transport")
    if problems:
        status.level = DiagnosticStatus.WARN
        status.message = "; ".join(problems)
    else:
        status.level = DiagnosticStatus.OK
        status.message = "ok"
    values = {
        "received": snap.received, "processed": snap.processed, "errors": snap.errors,
        "dropped_total": snap.dropped_total,
        **{f"dropped_{reason}": count for reason, count in sorted(snap.dropped.items())},
        "rate_hz": f"{snap.rate_hz:.2f}", "latency_p50_ms": f"{snap.latency_p50_ms:.2f}",
        "latency_p99_ms": f"{snap.latency_p99_ms:.2f}", "latency_max_ms": f"{snap.latency_max_ms:.2f}",
        "last_error": snap.last_error, **(extra or {}),
    }
    status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
    return status


def status_values(status: DiagnosticStatus) -> Dict[str, str]:
    """The key/value pairs of a DiagnosticStatus as a dict."""
    return {kv.key: kv.value for kv in status.values}


class DiagnosticsReporter:
    """Publishes one node's :class:`NodeStats` on /diagnostics every ``period_s`` seconds.

    ``extra`` is called at each report for node-specific values (queue depth, model id ...);
    ``warnings`` for the node's standing problems (each one makes the status WARN)."""

    def __init__(self, node, stats: NodeStats, hardware_id: str, period_s: float = 1.0,
                 extra: Optional[Callable[[], Dict[str, str]]] = None,
                 warnings: Optional[Callable[[], List[str]]] = None):
        from codebind_ros.messaging.qos import results_qos

        if period_s <= 0:
            raise ValueError(f"diagnostics period must be > 0, got {period_s}")
        self.node, self.stats, self.hardware_id, self.extra = node, stats, hardware_id, extra
        self.warnings = warnings
        self.name = f"codebind/{node.get_name()}"
        self._previous: Optional[StatsSnapshot] = None
        self._pub = node.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, results_qos())
        self._timer = node.create_timer(period_s, self.publish)

    def publish(self) -> DiagnosticArray:
        snap = self.stats.snapshot()
        msg = DiagnosticArray()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        extra = self.extra() if self.extra is not None else None
        warnings = self.warnings() if self.warnings is not None else None
        msg.status = [to_status(self.name, self.hardware_id, snap, extra, self._previous, warnings)]
        self._previous = snap
        self._pub.publish(msg)
        return msg


class ThrottledLog:
    """Log at most one message per ``period_s`` and say how many were suppressed meanwhile.

    ``emit`` is the logging call (e.g. ``node.get_logger().warning``); ``clock`` is injectable."""

    def __init__(self, emit: Callable[[str], object], period_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        if period_s < 0:
            raise ValueError(f"throttle period must be >= 0, got {period_s}")
        self.emit, self.period_s, self._clock = emit, period_s, clock
        self._last: Optional[float] = None
        self._suppressed = 0
        self._lock = threading.Lock()
        self.logged = 0            # messages emitted so far
        self.suppressed_total = 0  # messages swallowed by the throttle so far

    def __call__(self, message: str) -> bool:
        """Log ``message`` unless one was logged less than ``period_s`` ago; True if logged."""
        now = self._clock()
        with self._lock:
            if self._last is not None and now - self._last < self.period_s:
                self._suppressed += 1
                self.suppressed_total += 1
                return False
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
            self.logged += 1
        if suppressed:
            message = f"{message} ({suppressed} similar messages suppressed)"
        _emit(self.emit, message)
        return True


def _emit(emit: Callable[[str], object], message: str) -> None:
    """Call ``emit`` from a line of its own per severity: rclpy refuses a second severity from
    one call site ("Logger severity cannot be changed between calls"), and every ThrottledLog
    would otherwise log from the same line."""
    severity = getattr(emit, "__name__", "")
    if severity == "error":
        emit(message)
    elif severity in ("warning", "warn"):
        emit(message)
    elif severity == "fatal":
        emit(message)
    elif severity == "info":
        emit(message)
    else:
        emit(message)
