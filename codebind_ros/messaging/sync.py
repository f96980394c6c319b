"""A small approximate-time synchroniser (message_filters is not assumed).

Each input keeps a bounded queue of recent messages. When a message arrives, the synchroniser
looks in every other queue for the message whose stamp is closest to it; if all are within
``slop`` seconds, the set is emitted (inputs in declaration order) and those messages and every
older one are removed, so each message takes part in at most one set and sets come out in
time order (a message older than the last emitted set is discarded on arrival). Queues are kept
sorted by stamp, so out-of-order arrival is fine. Stamps are read from ``msg.header.stamp``.
"""
from __future__ import annotations

import bisect
import threading
from typing import Callable, Dict, List, Optional, Sequence, Tuple

Callback = Callable[..., None]


def stamp_ns(msg) -> int:
    """``msg.header.stamp`` in integer nanoseconds."""
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class ApproximateTimeSync:
    """Group messages of ``names`` whose stamps lie within ``slop`` seconds of each other.

    Args:
        names: one name per input (e.g. ("image", "cloud", "info")).
        callback: called as ``callback(*messages)`` in ``names`` order, outside the lock.
        slop: largest allowed stamp difference to the newest message of a set, in seconds.
        queue_size: messages kept per input (older ones are discarded, counted in ``discarded``).
    """

    def __init__(self, names: Sequence[str], callback: Callback, slop: float = 0.05,
                 queue_size: int = 10):
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValueError(f"need at least two distinct input names, got {list(names)}")
        if slop < 0:
            raise ValueError(f"slop must be >= 0 seconds, got {slop}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.names = tuple(names)
        self.callback = callback
        self.slop_ns = int(round(slop * 1e9))
        self.queue_size = queue_size
        self._queues: Dict[str, List[Tuple[int, int, object]]] = {n: [] for n in self.names}
        self._lock = threading.Lock()
        self._count = 0  # arrival counter: ties between equal stamps keep arrival order
        self._floor = -1  # oldest stamp of the last emitted set
        self.emitted = 0
        self.discarded = 0

    def add(self, name: str, msg) -> bool:
        """Add a message of input ``name``; returns True if it completed a set (callback ran)."""
        if name not in self._queues:
            raise ValueError(f"unknown input {name!r}; inputs are {list(self.names)}")
        t = stamp_ns(msg)
        with self._lock:
            if t < self._floor:
                self.discarded += 1
                return False
            queue = self._queues[name]
            self._count += 1
            entry = (t, self._count, msg)
            bisect.insort(queue, entry, key=lambda e: (e[0], e[1]))
            if len(queue) > self.queue_size:
                queue.pop(0)  # the oldest stamp goes
                self.discarded += 1
                if entry not in queue:
                    return False
            chosen = self._match(name, entry)
            if chosen is None:
                return False
            for n, picked in chosen.items():
                self._consume(n, picked)
            self._floor = min(e[0] for e in chosen.values())
            self.emitted += 1
        self.callback(*(chosen[n][2] for n in self.names))
        return True

    def _match(self, pivot: str, entry) -> Optional[Dict[str, Tuple[int, int, object]]]:
        t = entry[0]
        chosen = {pivot: entry}
        for n in self.names:
            if n == pivot:
                continue
            queue = self._queues[n]
            if not queue:
                return None
            best = min(queue, key=lambda e: abs(e[0] - t))
            if abs(best[0] - t) > self.slop_ns:
                return None
            chosen[n] = best
        return chosen

    def _consume(self, name: str, picked) -> None:
        """Remove ``picked`` and every message stamped before it."""
        queue = self._queues[name]
        self._queues[name] = [e for e in queue if e[0] > picked[0] or (e[0] == picked[0] and e[1] > picked[1])]

    def pending(self) -> Dict[str, List[int]]:
        """Stamps (ns) waiting in each queue, oldest first (for tests and diagnostics)."""
        with self._lock:
            return {n: [e[0] for e in q] for n, q in self._queues.items()}
