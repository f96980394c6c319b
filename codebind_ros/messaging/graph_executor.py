"""Executors spun in a thread of their own that stop cleanly: ``GraphExecutor`` (multi-threaded)
and ``SingleGraphExecutor``; :func:`spun_executor` picks one per node as its executable does.

rclpy's ``Executor.shutdown`` does not wait for the callbacks its worker threads are running
(its wait tests the flag it has just set, rclpy 7.1 to 9.x) and destroys the executor's guard
condition at once; a worker that has just taken a message then triggers that guard condition
and the callback's Task ends in ``InvalidHandle: cannot use Destroyable because destruction
was requested``, printed at exit as "The following exception was never retrieved". Here
:meth:`GraphExecutor.stop` ends the spinning loop first (nothing new is handed to the workers),
waits for every callback already handed over, and only then shuts the executor down.
"""
from __future__ import annotations

import inspect
import threading
import time
from typing import List, Optional

from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor


class _SpunInThread:
    """An rclpy executor with :meth:`start` (spin in a daemon thread) and :meth:`stop` (mixin)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._handed_over: List = []  # the callbacks' Tasks given to the worker threads, not yet done
        self._handed_lock = threading.Lock()
        self._running = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def wait_for_ready_callbacks(self, *args, **kwargs):
        handler, entity, node = super().wait_for_ready_callbacks(*args, **kwargs)
        with self._handed_lock:
            self._handed_over = [t for t in self._handed_over if not t.done()]
            self._handed_over.append(handler)
        return handler, entity, node

    def start(self, name: str = "codebind-graph") -> "_SpunInThread":
        """Spin in a daemon thread until :meth:`stop` or the context's shutdown."""
        self._running.set()
        self._thread = threading.Thread(target=self._spin, daemon=True, name=name)
        self._thread.start()
        return self

    def _spin(self) -> None:
        while self._running.is_set() and self.context.ok():
            try:
                self.spin_once(timeout_sec=0.1)
            except Exception:
                # The context went down between the check and the wait (SIGINT/SIGTERM): rclpy
                # 7.1 raises RCLError "context is not valid" there, 9.x a shutdown exception.
                if self._running.is_set() and self.context.ok():
                    raise
                return

    def stop(self, timeout_sec: float = 10.0) -> bool:
        """Stop spinning, let the callbacks in flight finish (up to ``timeout_sec``), shut down.
        Returns whether every callback finished in time."""
        deadline = time.monotonic() + timeout_sec
        self._running.clear()
        if self._thread is not None:
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        finished = self._wait_handed_over(deadline)
        shutdown_without_joining(self) if not finished else self.shutdown(timeout_sec=0.0)
        return finished

    def _wait_handed_over(self, deadline: float) -> bool:
        while True:
            with self._handed_lock:
                pending = [t for t in self._handed_over if not t.done()]
            if not pending:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)


class GraphExecutor(_SpunInThread, MultiThreadedExecutor):
    """MultiThreadedExecutor with :meth:`start` (spin in a daemon thread) and :meth:`stop`."""


class SingleGraphExecutor(_SpunInThread, SingleThreadedExecutor):
    """SingleThreadedExecutor with :meth:`start` (spin in a daemon thread) and :meth:`stop`: the
    callback in flight runs in the spinning thread, so :meth:`stop` waits for it there."""


def spun_executor(multi_threaded: bool, context=None) -> _SpunInThread:
    """A :class:`GraphExecutor` or a :class:`SingleGraphExecutor` in ``context``."""
    return (GraphExecutor if multi_threaded else SingleGraphExecutor)(context=context)


def stop_all(executors, timeout_sec: float) -> None:
    """Stop ``executors`` one after the other, within ``timeout_sec`` for all of them (each one's
    callbacks in flight finish first)."""
    deadline = time.monotonic() + timeout_sec
    for executor in executors:
        executor.stop(timeout_sec=max(0.0, deadline - time.monotonic()))


def shutdown_without_joining(executor, timeout_sec: float = 0.0) -> None:
    """``executor.shutdown(timeout_sec)`` without joining its worker threads (rclpy 9 joins them
    unless told not to; rclpy 7.1's shutdown never does)."""
    if "wait_for_threads" in inspect.signature(executor.shutdown).parameters:
        executor.shutdown(timeout_sec=timeout_sec, wait_for_threads=False)
    else:
        executor.shutdown(timeout_sec=timeout_sec)
