"""The bounded latest-first queue and the worker thread."""
from __future__ import annotations

import threading
import time

import pytest

from codebind_ros.messaging.worker import LatestQueue, Worker


def test_full_queue_evicts_the_oldest_and_counts():
    drops = []
    queue = LatestQueue(3, on_drop=drops.append)
    evicted = [queue.put(i) for i in range(7)]
    assert evicted == [None, None, None, 0, 1, 2, 3]
    assert len(queue) == 3 and queue.dropped == 4 and sum(drops) == 4
    assert queue.take(2) == [5, 6]  # the newest two; 4 is dropped too
    assert queue.dropped == 5 and sum(drops) == 5 and len(queue) == 0


def test_take_waits_and_returns_empty_on_timeout_or_close():
    queue = LatestQueue(2)
    start = time.monotonic()
    assert queue.take(1, timeout=0.05) == []
    assert time.monotonic() - start >= 0.04
    threading.Timer(0.05, queue.close).start()
    assert queue.take(1, timeout=5.0) == []
    assert queue.put("late") == "late" and len(queue) == 0  # closed: nothing is added


def test_worker_survives_handler_errors_and_stops():
    queue, seen, errors = LatestQueue(10), [], []

    def handler(items):
        if items == ["boom"]:
            raise RuntimeError("bad item")
        seen.extend(items)

    worker = Worker(queue, handler, batch_size=1, on_error=errors.append).start()
    for item in ["a", "boom", "b"]:
        queue.put(item)
        time.sleep(0.05)
    deadline = time.monotonic() + 5
    while seen != ["a", "b"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == ["a", "b"] and len(errors) == 1 and "bad item" in str(errors[0])
    worker.stop()
    assert not worker.alive


def test_failing_error_handler_keeps_the_worker_alive():
    queue, seen = LatestQueue(10), []

    def handler(items):
        if items == ["boom"]:
            raise RuntimeError("bad item")
        seen.extend(items)

    def on_error(exc):
        raise KeyError("the error handler fails too")

    worker = Worker(queue, handler, on_error=on_error).start()
    for item in ["boom", "a"]:
        queue.put(item)
        time.sleep(0.05)
    deadline = time.monotonic() + 5
    while seen != ["a"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == ["a"] and worker.alive
    worker.stop()


def test_handler_failing_during_stop_ends_quietly():
    """A node destroys its publishers after stop(): a batch still running then fails, unreported."""
    queue, errors, started = LatestQueue(2), [], threading.Event()

    def handler(items):
        started.set()
        time.sleep(0.2)
        raise RuntimeError("publisher destroyed")

    worker = Worker(queue, handler, on_error=errors.append).start()
    queue.put("frame")
    assert started.wait(5)
    worker.stop(timeout=0.01)  # returns before the batch ends, like a slow frame at shutdown
    deadline = time.monotonic() + 5
    while worker.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not worker.alive and errors == []


def test_invalid_sizes_raise():
    with pytest.raises(ValueError, match="queue length"):
        LatestQueue(0)
    with pytest.raises(ValueError, match="batch_size"):
        Worker(LatestQueue(1), print, batch_size=0)


def test_a_failed_batch_reports_its_size():
    queue, seen = LatestQueue(10), []
    worker = Worker(queue, lambda items: 1 / 0, batch_size=4, name="t-batch")

    def on_error(exc):
        seen.append((type(exc).__name__, worker.batch_in_flight))
    worker.on_error = on_error
    for i in range(4):
        queue.put(i)
    worker.start()
    deadline = time.monotonic() + 5.0
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    queue.close()
    assert seen[:1] == [("ZeroDivisionError", 4)]
