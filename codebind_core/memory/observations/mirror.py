"""In-memory mirror of one codebook set's observations: contiguous arrays the scan kernel reads.

Rows are kept in insertion (= id) order, so evicting the oldest observations only advances
``start``; the arrays are compacted when more than half of them is dead. Codes are row-major
(N, m): the scan sums one row's m look-ups in a register, which measured about twice as fast here
as a column-major (m, N) layout accumulating column by column (1M x 64 codes, 2-core CPU).
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from ..codebooks import CODE_DTYPE

_FIELDS: Dict[str, np.dtype] = {
    "ids": np.dtype(np.int64),
    "stamps": np.dtype(np.int64),
    "mod_ids": np.dtype(np.uint8),
    "inv_norm": np.dtype(np.float32),
    "cells": np.dtype(np.int32),
}


class ObservationMirror:
    """Growable arrays: codes (N, m) uint16 plus per-row id, stamp, modality id, 1/||x||, cell."""

    def __init__(self, m: int, capacity: int = 1024):
        self.m = int(m)
        cap = max(16, int(capacity))
        self.codes = np.zeros((cap, self.m), CODE_DTYPE)
        self.cols = {name: np.zeros(cap, dt) for name, dt in _FIELDS.items()}
        self.start = 0      # first live row
        self.end = 0        # one past the last row

    def __len__(self) -> int:
        return self.end - self.start

    def col(self, name: str) -> np.ndarray:
        return self.cols[name]

    def _reserve(self, extra: int) -> None:
        need = self.end + extra
        if need <= self.codes.shape[0]:
            return
        if self.start > 0:
            self._compact()
            if self.end + extra <= self.codes.shape[0]:
                return
        cap = max(need, 2 * self.codes.shape[0])
        codes = np.zeros((cap, self.m), CODE_DTYPE)
        codes[: self.end] = self.codes[: self.end]
        self.codes = codes
        for name, arr in self.cols.items():
            grown = np.zeros(cap, arr.dtype)
            grown[: self.end] = arr[: self.end]
            self.cols[name] = grown

    def _compact(self) -> None:
        s, e = self.start, self.end
        self.codes[: e - s] = self.codes[s:e]
        for arr in self.cols.values():
            arr[: e - s] = arr[s:e]
        self.start, self.end = 0, e - s

    def append(self, codes: np.ndarray, ids: np.ndarray, stamps: np.ndarray, mod_ids: np.ndarray,
               inv_norm: np.ndarray, cells: np.ndarray) -> None:
        """Append rows (ids must increase)."""
        n = codes.shape[0]
        if codes.ndim != 2 or codes.shape[1] != self.m:
            raise ValueError(f"expected codes of shape (n, {self.m}), got {codes.shape}")
        self._reserve(n)
        a, b = self.end, self.end + n
        self.codes[a:b] = codes
        for name, values in (("ids", ids), ("stamps", stamps), ("mod_ids", mod_ids),
                             ("inv_norm", inv_norm), ("cells", cells)):
            self.cols[name][a:b] = values
        self.end = b

    def evict_through(self, max_id: int) -> int:
        """Drop the leading rows whose id <= max_id; returns how many were dropped."""
        ids = self.cols["ids"]
        cut = self.start + int(np.searchsorted(ids[self.start: self.end], max_id, side="right"))
        dropped = cut - self.start
        self.start = cut
        if self.start > 4096 and self.start * 2 > self.end:
            self._compact()
        return dropped
