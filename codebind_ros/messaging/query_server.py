"""A ROS service answered from threads of its own, with bounded waiting and explicit refusals.

rclpy's executor takes a service request only when it is about to run its callback; while the
callback works (a text query encodes the text with the model), further requests wait in the
middleware, which keeps the last ``depth`` of them (10 by default) and silently discards the
others: a client then waits forever. :class:`QueryServer` takes every request off the middleware
as soon as it arrives, into its own bounded queue:

- at most ``max_pending`` requests wait; one more is refused at once (``success`` false and a
  message saying so), never dropped;
- a request that waited longer than ``max_wait_s`` for its turn is refused then, not answered late;
- every other request is answered by ``handler`` in arrival order, one at a time (an exception in
  the handler becomes a refusal naming it, the server keeps going).

The executor never waits on the service (its callback group never lets it run): one thread takes
requests, another answers them, so requests are taken and refused while a slow answer is being
computed. Both are event-driven: the taking thread sleeps in a wait set of its own on the service
and a guard condition (``stop`` and the context's shutdown trigger it), woken by the middleware
when a request arrives; its only timed wake-up is the moment the oldest waiting request passes
``max_wait_s``. The answering thread sleeps on a condition the taking thread notifies.
"""
from __future__ import annotations

import collections
import math
import threading
import time
from typing import Callable, Deque, Dict, Optional, Tuple

from rclpy.callback_groups import CallbackGroup
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from builtin_interfaces.msg import Time

NSEC_PER_SEC = 1_000_000_000


def service_qos(depth: int) -> QoSProfile:
    """Service requests and responses: reliable, volatile, keep the last ``depth``."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"service QoS depth must be an integer >= 1, got {depth!r}")
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def checked_stamp_ns(stamp: Time, name: str) -> int:
    """A ``builtin_interfaces/Time`` as ns; ValueError for a negative time or nanosec >= 1e9."""
    if stamp.sec < 0:
        raise ValueError(f"{name}.sec must be >= 0, got {stamp.sec}")
    if not 0 <= stamp.nanosec < NSEC_PER_SEC:
        raise ValueError(f"{name}.nanosec must be in [0, 1e9), got {stamp.nanosec}")
    return int(stamp.sec) * NSEC_PER_SEC + int(stamp.nanosec)


class _NeverExecuted(CallbackGroup):
    """A callback group the executor never runs (nor waits on): the server takes for itself."""

    def can_execute(self, entity) -> bool:
        return False

    def beginning_execution(self, entity) -> bool:
        return False

    def ending_execution(self, entity) -> None:
        pass


class QueryServer:
    """Serve ``srv_type`` at ``name`` on ``node`` from threads of its own (see the module doc).

    ``handler(request, response) -> response`` must fill the response; ``refuse(response, why)``
    fills a refusal (``success = False``, ``message = why`` by default)."""

    def __init__(self, node, srv_type, name: str, handler: Callable, *, qos_depth: int = 1000,
                 max_pending: int = 100, max_wait_s: float = 10.0,
                 refuse: Callable = None, on_error: Callable[[str], None] = None):
        if max_pending < 1 or max_wait_s <= 0:
            raise ValueError("max_pending must be >= 1 and max_wait_s > 0")
        self.srv_type = srv_type
        self.handler = handler
        self.max_pending = int(max_pending)
        self.max_wait_s = float(max_wait_s)
        self._refuse = refuse or _refuse
        self._on_error = on_error or (lambda text: node.get_logger().error(text))
        self._queue: Deque[Tuple[object, object, float]] = collections.deque()
        self._ready = threading.Condition()
        self.counts: Dict[str, int] = {"answered": 0, "refused_busy": 0, "refused_late": 0, "failed": 0}
        self.wakeups = 0  # returns of the taking thread's wait: none while no request comes
        self.service = node.create_service(srv_type, name, _never_called, qos_profile=service_qos(qos_depth),
                                           callback_group=_NeverExecuted())
        self._context = node.context
        with self._context.handle:
            self._wake = _rclpy.GuardCondition(self._context.handle)
        self._stop = threading.Event()
        self._stopped = False
        self._context.on_shutdown(self._halt)
        self._threads = [threading.Thread(target=self._guarded, args=(self._take_loop,),
                                          name=f"codebind-take-{name}", daemon=True),
                         threading.Thread(target=self._guarded, args=(self._answer_loop,),
                                          name=f"codebind-answer-{name}", daemon=True)]
        for t in self._threads:
            t.start()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (requests still queued get no answer: the node is going away)."""
        self._halt()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout)
        with self._ready:
            if self._stopped or any(t.is_alive() for t in self._threads):
                return
            self._stopped = True
        self._wake.destroy_when_not_in_use()

    def _halt(self) -> None:
        """Wake both threads to stop (also the context's shutdown callback)."""
        self._stop.set()
        with self._ready:
            self._ready.notify_all()
            if self._stopped:
                return
            try:
                with self._wake:
                    self._wake.trigger_guard_condition()
            except Exception:  # already destroyed: nothing waits on it
                pass

    # ---- the serving threads ------------------------------------------------------------------
    def _guarded(self, loop) -> None:
        while not self._stop.is_set():
            try:
                loop()
            except Exception as exc:  # the service or its context went away under us
                if self._stop.is_set() or not self._context.ok():
                    return
                self._on_error(f"query service: {type(exc).__name__}: {exc}")
                self._stop.wait(0.1)

    def _take_loop(self) -> None:
        """Take requests off the middleware as they come; refuse beyond max_pending and what
        waited longer than max_wait_s. Sleeps until a request arrives, the oldest waiting one is
        due to be refused, or stop."""
        with self._context.handle:
            wait_set = _rclpy.WaitSet(0, 1, 0, 0, 1, 0, self._context.handle)
        try:
            while not self._stop.is_set():
                self._take_all()
                due_s = self._refuse_late()
                if self._stop.is_set():
                    return
                with self.service.handle, self._wake, self._context.handle:
                    wait_set.clear_entities()
                    wait_set.add_service(self.service.handle)
                    wait_set.add_guard_condition(self._wake)
                    wait_set.wait(-1 if due_s is None else math.ceil(due_s * 1e9))
                self.wakeups += 1
        finally:
            wait_set.destroy_when_not_in_use()

    def _take_all(self) -> int:
        took = 0
        while not self._stop.is_set():
            with self.service.handle:
                taken = self.service.handle.service_take_request(self.srv_type.Request)
            if not taken or taken[1] is None:
                return took
            request, header = taken
            took += 1
            with self._ready:
                waiting = len(self._queue)
                if waiting < self.max_pending:
                    self._queue.append((request, header, time.monotonic()))
                    self._ready.notify()
                    continue
                self.counts["refused_busy"] += 1
            self._send(self._refuse(self.srv_type.Response(),
                                    f"busy: {waiting} queries are waiting (max_pending_queries "
                                    f"{self.max_pending}); retry later"), header)
        return took

    def _refuse_late(self) -> Optional[float]:
        """Refuse what waited longer than max_wait_s; seconds until the next one is due (None:
        nothing waits)."""
        now = time.monotonic()
        late = []
        with self._ready:
            while self._queue and now - self._queue[0][2] > self.max_wait_s:
                late.append(self._queue.popleft())
            self.counts["refused_late"] += len(late)
            due_s = (self._queue[0][2] + self.max_wait_s - now + 1e-3) if self._queue else None
        for _, header, received in late:
            self._send(self._refuse(self.srv_type.Response(),
                                    f"busy: the query waited {now - received:.1f} s for its turn "
                                    f"(query_timeout {self.max_wait_s:g} s); retry later"), header)
        return due_s

    def _answer_loop(self) -> None:
        while not self._stop.is_set():
            with self._ready:
                while not self._queue and not self._stop.is_set():
                    self._ready.wait()
                if self._stop.is_set():
                    return
                request, header, _ = self._queue.popleft()
            try:
                response = self.handler(request, self.srv_type.Response())
                key = "answered"
            except Exception as exc:  # a bug, not the client's input: refuse, say what, keep serving
                key = "failed"
                self._on_error(f"query failed: {type(exc).__name__}: {exc}")
                response = self._refuse(self.srv_type.Response(), f"internal error: {type(exc).__name__}: {exc}")
            with self._ready:
                self.counts[key] += 1
            self._send(response, header)

    def _send(self, response, header) -> None:
        self.service.send_response(response, header)


def _never_called(request, response):  # pragma: no cover - the executor never runs this group
    raise RuntimeError("QueryServer's service is served by its own thread")


def _refuse(response, why: str):
    response.success = False
    response.message = why
    return response
