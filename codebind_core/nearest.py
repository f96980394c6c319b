"""Spherical k-means pieces shared by the post-hoc codebook and the memory's coarse (IVF) index:
unit rows, the nearest unit centre of each row by cosine in row chunks (bounded memory), and the
Lloyd iterations. numpy only."""
from __future__ import annotations

from typing import Tuple

import numpy as np

CHUNK = 16384


def unit_rows(x: np.ndarray) -> np.ndarray:
    """``x`` with each row (last axis) scaled to unit length (zero rows stay zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def nearest_centres(x: np.ndarray, c: np.ndarray, index_dtype=np.int64,
                    chunk: int = CHUNK) -> Tuple[np.ndarray, np.ndarray]:
    """(index of the most similar row of ``c``, that similarity as float32) for each row of ``x``."""
    index = np.empty(x.shape[0], index_dtype)
    best = np.empty(x.shape[0], np.float32)
    for a in range(0, x.shape[0], chunk):
        sims = x[a:a + chunk] @ c.T
        index[a:a + chunk] = np.argmax(sims, axis=1)
        best[a:a + chunk] = sims[np.arange(sims.shape[0]), index[a:a + chunk]]
    return index, best


def lloyd(x: np.ndarray, centres: np.ndarray, iters: int) -> np.ndarray:
    """``iters`` spherical k-means (Lloyd) iterations over the unit rows ``x`` from ``centres``:
    each centre becomes the normalised sum of its rows; an empty one is re-seeded with a row
    worst served by its centre (ties in row order). Returns the (k, d) unit centres."""
    k = centres.shape[0]
    c = centres.copy()
    for _ in range(iters):
        cells, best = nearest_centres(x, c)
        sums = np.zeros_like(c)
        np.add.at(sums, cells, x)
        empty = np.flatnonzero(np.bincount(cells, minlength=k) == 0)
        if empty.size:
            worst = np.argsort(best, kind="stable")[: empty.size]
            sums[empty[: worst.size]] = x[worst]
        c = unit_rows(sums)
    return c
