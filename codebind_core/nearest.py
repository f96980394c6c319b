"""Nearest unit centre of each row by cosine, in row chunks (bounded memory): the assignment step
shared by the post-hoc codebook's k-means and the memory's coarse (IVF) index. numpy only."""
from __future__ import annotations

from typing import Tuple

import numpy as np

CHUNK = 16384


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
