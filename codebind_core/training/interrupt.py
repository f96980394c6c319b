"""Ctrl-C (SIGINT) and SIGTERM during training: finish the optimiser step under way, save the
resumable checkpoint, stop. The signal only sets a flag; the batch stream checks it when the
next optimiser step asks for its first micro-batch, so the saved state is a step boundary (the
same state a scheduled checkpoint would hold) and re-running the command resumes exactly."""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator, List

from .stream import Batch, RoundRobinStream


class TrainingInterrupted(Exception):
    """Raised by :class:`StopAtStepBoundary` once a stop was requested."""


class StopAtStepBoundary:
    """A :class:`RoundRobinStream` whose batches stop (raise :class:`TrainingInterrupted`) at the
    first optimiser-step boundary after :meth:`request_stop`."""

    def __init__(self, stream: RoundRobinStream, grad_accum: int):
        self.stream, self.grad_accum, self.stop_requested = stream, grad_accum, False
        self.signal_name = ""

    def request_stop(self, signum: int = signal.SIGINT, frame=None) -> None:
        self.stop_requested = True
        self.signal_name = signal.Signals(signum).name

    def batches(self, start: int = 0) -> Iterator[Batch]:
        for i, batch in enumerate(self.stream.batches(start)):
            if self.stop_requested and i % self.grad_accum == 0:
                raise TrainingInterrupted(self.signal_name)
            yield batch

    def init_batches(self, per_target: int) -> List[Batch]:
        return self.stream.init_batches(per_target)


@contextmanager
def stop_on_signals(stream: StopAtStepBoundary, enabled: bool = True):
    """SIGINT/SIGTERM call ``stream.request_stop`` while inside (main thread, one process only);
    a second signal raises KeyboardInterrupt at once."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if stream.stop_requested:
            raise KeyboardInterrupt
        stream.request_stop(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
