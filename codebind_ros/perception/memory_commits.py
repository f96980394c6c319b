"""What the memory node writes (no rclpy): observations waiting for their commit, and the object
map files.

Observations wait in a bounded list (the oldest are dropped beyond ``max_pending``) and are
committed together, one transaction per :meth:`CommitQueue.flush`; a batch that holds a bad
observation is committed one by one, so that one bad row costs itself only.
"""
from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Deque, List, Tuple

from codebind_core.memory import ObjectMemory, Observation, ObservationMemory


@dataclass
class Committed:
    """What one flush did."""

    ids: List[int] = field(default_factory=list)         # committed row ids (acknowledged)
    received: List[float] = field(default_factory=list)  # when the committed ones were received
    dropped: List[str] = field(default_factory=list)     # why each refused observation was refused
    failed: str = ""                                     # the batch's error when nothing was committed


class CommitQueue:
    """Observations waiting for :meth:`flush`, with the time each was received."""

    def __init__(self, memory: ObservationMemory, max_pending: int):
        self.memory = memory
        self.max_pending = int(max_pending)
        self._pending: Deque[Tuple[Observation, float]] = collections.deque()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def put(self, observations: List[Observation], received: float) -> int:
        """Queue observations; returns how many old ones were dropped to stay within ``max_pending``."""
        with self._lock:
            self._pending.extend((obs, received) for obs in observations)
            excess = max(0, len(self._pending) - self.max_pending)
            for _ in range(excess):
                self._pending.popleft()
        return excess

    def flush(self) -> Committed:
        """Commit every waiting observation (ObservationMemory.add: acknowledged when it returns)."""
        with self._lock:
            batch = list(self._pending)
            self._pending.clear()
        out = Committed()
        if not batch:
            return out
        try:
            out.ids = self.memory.add([obs for obs, _ in batch])
        except ValueError as exc:  # a bad observation slipped through: store the rest one by one
            for obs, _ in batch:
                try:
                    out.ids += self.memory.add([obs])
                except ValueError as one:
                    out.dropped.append(str(one))
            if not out.ids:
                out.failed = str(exc)
        out.received = [received for _, received in batch[: len(out.ids)]]
        return out


def export_object_map(objects: ObjectMemory, json_path: str, ply_path: str,
                      warn: Callable[[str], None]) -> List[Path]:
    """Write the object map as JSON / PLY to the paths given ('' = not that one); a failed write is
    reported through ``warn``. Returns the files written."""
    written = []
    for path, write in ((json_path, objects.export_json), (ply_path, objects.export_ply)):
        if path:
            try:
                written.append(write(Path(path).expanduser()))
            except OSError as exc:
                warn(f"object map export to {path} failed: {exc}")
    return written
