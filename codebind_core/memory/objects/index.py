"""In-memory arrays of one codebook set's objects: what the spatial gate and the code scan read.

Unlike observations, objects change in place (fused codes, position, status), so rows are kept
dense with a slot per object id and a removal moves the last row into the hole.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from ..codebooks import CODE_DTYPE
from ..kernels import scan_topk
from .types import GONE, MemoryObject

STATUS_IDS = {"present": 0, GONE: 1}
_EVER = (-(2 ** 63), 2 ** 63 - 1)


class ObjectIndex:
    """codes (n, m) uint16, 1/||x||, id, status id, last-seen stamp, centre and radius per object,
    and the fused unit embedding (float16, D = m * d*) that views are averaged into before the
    result is quantized to the stored codes (rebuilt from the codes when the memory is opened)."""

    _ARRAYS = ("codes", "inv_norm", "ids", "status", "last_seen", "centres", "radii", "fused")

    def __init__(self, m: int, dim: int, capacity: int = 256):
        self.m = int(m)
        self.dim = int(dim)
        cap = max(16, int(capacity))
        self.codes = np.zeros((cap, self.m), CODE_DTYPE)
        self.inv_norm = np.zeros(cap, np.float32)
        self.ids = np.zeros(cap, np.int64)
        self.status = np.zeros(cap, np.uint8)
        self.last_seen = np.zeros(cap, np.int64)
        self.centres = np.zeros((cap, 3), np.float64)
        self.radii = np.zeros(cap, np.float64)
        self.fused = np.zeros((cap, self.dim), np.float16)
        self.n = 0
        self.slot: Dict[int, int] = {}

    def __len__(self) -> int:
        return self.n

    def _grow(self) -> None:
        cap = 2 * self.codes.shape[0]
        for name in self._ARRAYS:
            old = getattr(self, name)
            new = np.zeros((cap,) + old.shape[1:], old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def upsert(self, obj: MemoryObject, inv_norm: float, fused: np.ndarray) -> None:
        codes = np.asarray(obj.codes, CODE_DTYPE).reshape(-1)
        if codes.size != self.m:
            raise ValueError(f"object {obj.id} has {codes.size} codes; its codebook set stores {self.m}")
        row = self.slot.get(obj.id)
        if row is None:
            if self.n == self.codes.shape[0]:
                self._grow()
            row = self.slot[obj.id] = self.n
            self.n += 1
        self.codes[row] = codes
        self.inv_norm[row] = inv_norm
        self.ids[row] = obj.id
        self.status[row] = STATUS_IDS[obj.status]
        self.last_seen[row] = obj.last_seen_ns
        self.centres[row] = obj.position
        self.radii[row] = obj.radius
        self.fused[row] = fused

    def remove(self, obj_id: int) -> None:
        row = self.slot.pop(int(obj_id), None)
        if row is None:
            return
        last = self.n - 1
        if row != last:
            for name in self._ARRAYS:
                arr = getattr(self, name)
                arr[row] = arr[last]
            self.slot[int(self.ids[row])] = row
        self.n = last

    def within(self, point, radius: float) -> np.ndarray:
        """Rows whose centre is within ``radius`` (m) of ``point``."""
        d2 = ((self.centres[: self.n] - np.asarray(point, np.float64)) ** 2).sum(1)
        return np.flatnonzero(d2 <= radius * radius)

    def cosines(self, rows: np.ndarray, lut: np.ndarray) -> np.ndarray:
        """Cosine of a unit query (its lookup table) with the decoded codes of ``rows``."""
        c = self.codes[rows].astype(np.int64)
        return lut[np.arange(self.m), c].sum(1) * self.inv_norm[rows]

    def top(self, lut: np.ndarray, k: int, include_gone: bool = True,
            window: Tuple[int, int] = _EVER) -> Tuple[np.ndarray, np.ndarray]:
        """(cosines, ids) of the ``k`` best objects for a query's lookup table, by the exact
        code-table scan (not divided by the query's norm); gone ones only with ``include_gone``,
        last seen within ``window`` (inclusive ns)."""
        allowed = np.zeros(256, bool)
        allowed[STATUS_IDS["present"]], allowed[STATUS_IDS[GONE]] = True, include_gone
        scores, rows = scan_topk(self.codes, lut, self.inv_norm, self.status, allowed, self.last_seen, window[0],
                                 window[1], k, np.zeros(1, np.int64), np.full(1, self.n, np.int64))
        return scores, self.ids[rows]
