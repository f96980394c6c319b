"""Bounded work: a latest-first queue and a worker thread that never falls behind without bound.

When the model is slower than the sensor, ``LatestQueue.put`` drops the oldest pending item
(counted) so the queue holds at most ``maxlen`` items and the worker always works on recent data.
"""
from __future__ import annotations

import collections
import threading
import traceback
from typing import Callable, Deque, Generic, List, Optional, TypeVar

T = TypeVar("T")


class LatestQueue(Generic[T]):
    """A thread-safe FIFO of at most ``maxlen`` items; putting into a full queue evicts the oldest."""

    def __init__(self, maxlen: int, on_drop: Optional[Callable[[int], None]] = None):
        if maxlen < 1:
            raise ValueError(f"queue length must be >= 1, got {maxlen}")
        self.maxlen = maxlen
        self.on_drop = on_drop  # called with the number of items dropped, each time some are
        self._items: Deque[T] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0  # items evicted before a worker took them

    def put(self, item: T) -> Optional[T]:
        """Add ``item``; returns the evicted oldest item when the queue was full, else None.
        After :meth:`close` nothing is added and ``item`` itself is returned."""
        with self._cond:
            if self._closed:
                return item
            evicted = None
            if len(self._items) >= self.maxlen:
                evicted = self._items.popleft()
                self._count_drops(1)
            self._items.append(item)
            self._cond.notify()
            return evicted

    def take(self, max_items: int, timeout: Optional[float] = None) -> List[T]:
        """Wait up to ``timeout`` s for items; return up to ``max_items`` of the NEWEST, oldest
        first. Older items beyond ``max_items`` are dropped (counted). [] on timeout or close."""
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if not self._items:
                return []
            excess = len(self._items) - max_items
            for _ in range(excess):
                self._items.popleft()
            if excess > 0:
                self._count_drops(excess)
            taken = list(self._items)
            self._items.clear()
            return taken

    def _count_drops(self, n: int) -> None:
        self.dropped += n
        if self.on_drop is not None:
            self.on_drop(n)

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def close(self) -> None:
        """Wake every waiter; later ``take`` calls return what is left, then []."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class Worker(Generic[T]):
    """A daemon thread that takes batches from a :class:`LatestQueue` and hands them to
    ``handler``. An exception from ``handler`` goes to ``on_error`` and the loop goes on."""

    def __init__(self, queue: LatestQueue[T], handler: Callable[[List[T]], None],
                 batch_size: int = 1, on_error: Optional[Callable[[BaseException], None]] = None,
                 name: str = "codebind-worker"):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.queue, self.handler, self.batch_size = queue, handler, batch_size
        self.on_error = on_error
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.busy = threading.Event()  # set while the handler runs (for tests/diagnostics)
        self.batch_in_flight = 0       # items of the batch the handler runs (or last ran)

    def start(self) -> "Worker[T]":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self.queue.closed:
            items = self.queue.take(self.batch_size, timeout=0.1)
            if not items:
                continue
            self.busy.set()
            self.batch_in_flight = len(items)  # what a failure of this batch costs (on_error reads it)
            try:
                self.handler(items)
            except Exception as exc:  # the worker must survive anything its input causes
                if self.queue.closed:
                    break  # stopping: the owner's publishers may already be destroyed
                self._report(exc)
            finally:
                self.busy.clear()

    def _report(self, exc: BaseException) -> None:
        if self.on_error is None:
            traceback.print_exception(exc)
            return
        try:
            self.on_error(exc)
        except Exception:  # a failing error handler must not end the worker either
            traceback.print_exc()

    def stop(self, timeout: float = 5.0) -> None:
        """Close the queue and wait for the current batch to finish."""
        self.queue.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
