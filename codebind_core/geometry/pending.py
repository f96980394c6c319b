"""Messages waiting for their sensor's transform: a bounded wait, then dropped and counted.

A sensor message stamped t can only be put into the fixed frame once the buffer holds the
transforms at t (on a robot /tf usually lags the sensors by a few ms). :class:`PendingTransforms`
keeps such messages for at most ``max_wait_ns`` (measured on the caller's clock) and at most
``max_items``; :meth:`poll` hands back those whose transform became available, and drops (and
counts, by reason) the ones that cannot be answered: too old for the buffer, waited too long, or
pushed out by newer ones. Nothing blocks.
"""
from __future__ import annotations

from collections import Counter, deque
from typing import Any, Deque, List, Tuple

from .tf_buffer import TransformBuffer, TransformError, TransformTooOld
from .transform import RigidTransform


class PendingTransforms:
    """FIFO of (item, source frame, stamp, arrival time) waiting for ``target <- source`` at stamp."""

    def __init__(self, target_frame: str, max_wait_ns: int = 200_000_000, max_items: int = 1000):
        if not target_frame:
            raise ValueError("target_frame must be a frame name")
        if int(max_wait_ns) < 0 or int(max_items) < 1:
            raise ValueError(f"max_wait_ns must be >= 0 and max_items >= 1, got {max_wait_ns}, {max_items}")
        self.target_frame = target_frame
        self.max_wait_ns = int(max_wait_ns)
        self.max_items = int(max_items)
        self._queue: Deque[Tuple[Any, str, int, int]] = deque()
        self.dropped: Counter = Counter()   # reason -> count: too_old, timeout, overflow

    def __len__(self) -> int:
        return len(self._queue)

    def push(self, item: Any, source_frame: str, stamp_ns: int, now_ns: int) -> None:
        """Queue an item; the oldest queued one is dropped (``overflow``) when full."""
        if len(self._queue) >= self.max_items:
            self._queue.popleft()
            self.dropped["overflow"] += 1
        self._queue.append((item, source_frame, int(stamp_ns), int(now_ns)))

    def poll(self, buffer: TransformBuffer, now_ns: int) -> List[Tuple[Any, RigidTransform]]:
        """(item, target <- source at the item's stamp) for every item whose transform is available,
        in arrival order; the rest keep waiting unless too old or waiting past ``max_wait_ns``."""
        ready, keep = [], deque()
        for entry in self._queue:
            item, frame, stamp, arrived = entry
            try:
                ready.append((item, buffer.lookup(self.target_frame, frame, stamp)))
            except TransformTooOld:
                self.dropped["too_old"] += 1
            except TransformError:
                if int(now_ns) - arrived > self.max_wait_ns:
                    self.dropped["timeout"] += 1
                else:
                    keep.append(entry)
        self._queue = keep
        return ready
