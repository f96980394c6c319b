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
requests (polling every ``poll_s`` while none come), another answers them, so requests are taken
and refused while a slow answer is being computed.
"""
from __future__ import annotations

import collections
import threading
import time
from typing import Callable, Deque, Dict, Tuple

from rclpy.callback_groups import CallbackGroup
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
                 max_pending: int = 100, max_wait_s: float = 10.0, poll_s: float = 0.005,
                 refuse: Callable = None, on_error: Callable[[str], None] = None):
        if max_pending < 1 or max_wait_s <= 0 or poll_s <= 0:
            raise ValueError("max_pending must be >= 1, max_wait_s and poll_s > 0")
        self.srv_type = srv_type
        self.handler = handler
        self.max_pending = int(max_pending)
        self.max_wait_s = float(max_wait_s)
        self.poll_s = float(poll_s)
        self._refuse = refuse or _refuse
        self._on_error = on_error or (lambda text: node.get_logger().error(text))
        self._queue: Deque[Tuple[object, object, float]] = collections.deque()
        self._ready = threading.Condition()
        self.counts: Dict[str, int] = {"answered": 0, "refused_busy": 0, "refused_late": 0, "failed": 0}
        self.service = node.create_service(srv_type, name, _never_called, qos_profile=service_qos(qos_depth),
                                           callback_group=_NeverExecuted())
        self._stop = threading.Event()
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
        self._stop.set()
        with self._ready:
            self._ready.notify_all()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout)

    # ---- the serving threads ------------------------------------------------------------------
    def _guarded(self, loop) -> None:
        while not self._stop.is_set():
            try:
                loop()
            except Exception as exc:  # the service or its context went away under us
                if self._stop.is_set():
                    return
                self._on_error(f"query service: {type(exc).__name__}: {exc}")
                self._stop.wait(0.1)

    def _take_loop(self) -> None:
        """Take requests off the middleware as they come; refuse beyond max_pending and what
        waited longer than max_wait_s."""
        while not self._stop.is_set():
            took = self._take_all()
            self._refuse_late()
            if not took:
                self._stop.wait(self.poll_s)

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

    def _refuse_late(self) -> None:
        now = time.monotonic()
        late = []
        with self._ready:
            while self._queue and now - self._queue[0][2] > self.max_wait_s:
                late.append(self._queue.popleft())
            self.counts["refused_late"] += len(late)
        for _, header, received in late:
            self._send(self._refuse(self.srv_type.Response(),
                                    f"busy: the query waited {now - received:.1f} s for its turn "
                                    f"(query_timeout {self.max_wait_s:g} s); retry later"), header)

    def _answer_loop(self) -> None:
        while not self._stop.is_set():
            with self._ready:
                while not self._queue and not self._stop.is_set():
                    self._ready.wait(0.5)
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
