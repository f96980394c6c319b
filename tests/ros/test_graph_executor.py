"""GraphExecutor (codebind-graph's and the scene evaluation's executor) stops cleanly: ``stop``
returns only after the callbacks its worker threads were running have finished, and none of them
ends in an exception (rclpy's own ``shutdown`` returns at once and destroys the guard condition a
worker then triggers: "exception was never retrieved ... cannot use Destroyable")."""
from __future__ import annotations

import threading
import time

from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

import pytest

from codebind_ros.messaging.graph_executor import (GraphExecutor, SingleGraphExecutor, shutdown_without_joining,
                                                   spun_executor)


class _SlowTimer:
    """A node whose timer callback takes ``seconds``; records when each call starts and ends."""

    def __init__(self, context, name: str, seconds: float):
        self.node = Node(name, context=context)
        self.started, self.finished = threading.Event(), threading.Event()
        self.seconds = seconds
        self.node.create_timer(0.05, self._tick)

    def _tick(self):
        self.started.set()
        time.sleep(self.seconds)
        self.finished.set()


def _started(ros_context, name: str, seconds: float, kind=GraphExecutor):
    """A ``kind`` executor spinning a _SlowTimer node, its first callback under way."""
    slow = _SlowTimer(ros_context, name, seconds)
    executor = kind(context=ros_context)
    executor.add_node(slow.node)
    executor.start()
    assert slow.started.wait(30.0)
    return slow, executor


@pytest.mark.parametrize("kind", [GraphExecutor, SingleGraphExecutor])
def test_stop_waits_for_the_callback_in_flight(ros_context, kind):
    slow, executor = _started(ros_context, f"graph_executor_slow_{kind.__name__.lower()}", 1.0, kind)
    try:
        t0 = time.monotonic()
        assert executor.stop(timeout_sec=20.0) is True
        assert slow.finished.is_set(), "stop returned while the callback was still running"
        assert time.monotonic() - t0 < 20.0
        errors = [t.exception() for t in executor._handed_over if t.done()]  # noqa: SLF001 - the Tasks it kept
        assert errors and all(e is None for e in errors), errors
    finally:
        slow.node.destroy_node()


def test_spun_executor_picks_the_kind(ros_context):
    executors = [spun_executor(True, ros_context), spun_executor(False, ros_context)]
    assert [type(e) for e in executors] == [GraphExecutor, SingleGraphExecutor]
    for executor in executors:
        assert executor.stop(timeout_sec=1.0)  # never started: stops at once


def test_stop_gives_up_after_its_timeout(ros_context):
    slow, executor = _started(ros_context, "graph_executor_stuck", 5.0)
    try:
        t0 = time.monotonic()
        assert executor.stop(timeout_sec=0.5) is False  # the callback needs 5 s: not all finished
        assert time.monotonic() - t0 < 4.0 and not slow.finished.is_set()
        assert slow.finished.wait(30.0)
    finally:
        slow.node.destroy_node()


def test_rclpy_shutdown_alone_does_not_wait(ros_context):
    """Why stop exists: the same callback under rclpy's own shutdown is still running after it."""
    slow = _SlowTimer(ros_context, "graph_executor_plain", 3.0)
    executor = MultiThreadedExecutor(context=ros_context)
    executor.add_node(slow.node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    try:
        spinner.start()
        assert slow.started.wait(30.0)
        shutdown_without_joining(executor, timeout_sec=20.0)  # may wait 20 s for callbacks in flight
        assert not slow.finished.is_set()
    finally:
        assert slow.finished.wait(30.0)
        spinner.join(10.0)
        slow.node.destroy_node()


def test_a_signal_between_the_loops_check_and_its_wait_ends_the_loop_quietly(ros_context, monkeypatch):
    """SIGTERM shuts the context down; when that lands just after the loop's ``context.ok()``
    the wait set fails on the dead context (rclpy 7.1: RCLError "context is not valid"), which
    once printed a traceback from codebind-graph's thread on its way to a clean exit."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_context.get_domain_id())
    node = Node("graph_executor_signal", context=context)
    executor = GraphExecutor(context=context)
    executor.add_node(node)
    rclpy.shutdown(context=context)
    checks = iter([True])  # the check just before the signal still saw the context up
    monkeypatch.setattr(context, "ok", lambda: next(checks, False))
    errors = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    executor.start("graph_executor_signal")
    executor._thread.join(10.0)
    assert not executor._thread.is_alive() and errors == []
    assert next(checks, "used") == "used"  # the loop did get past its check into the wait
    node.destroy_node()
