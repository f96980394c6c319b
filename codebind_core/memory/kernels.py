"""Lookup-table scan with top-k selection over code rows (asymmetric distance computation).

score(row) = inv_norm[row] * sum_h LUT[h, codes[row, h]]: the cosine of the query with the decoded
quantized vector, up to the query's own (constant) norm. Rows failing the modality / time filter
are skipped. The numba kernel splits the rows into chunks scanned in parallel, each keeping a
size-k min-heap, so selection costs one comparison per row; :func:`scan_topk_numpy` is the same
computation in plain numpy (used when numba is unavailable, and as a cross-check in tests).
"""
from __future__ import annotations

import os
from typing import Tuple

import numpy as np

try:  # numba is a listed requirement; the numpy fallback keeps the memory usable without it
    import numba
    from numba import njit, prange
    HAVE_NUMBA = os.environ.get("CODEBIND_MEMORY_NO_NUMBA", "") != "1"
    if "NUMBA_THREADING_LAYER" not in os.environ:  # OpenMP first: skips a warning about old TBBs
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None
    prange = range
    HAVE_NUMBA = False


PARALLEL_MIN_LOOKUPS = 8_000_000


def _sift_down(hs, hi, k):
    """Restore the min-heap property of (hs, hi) after the root was replaced."""
    pos = 0
    while True:
        left = 2 * pos + 1
        if left >= k:
            break
        child = left
        if left + 1 < k and hs[left + 1] < hs[left]:
            child = left + 1
        if hs[child] >= hs[pos]:
            break
        hs[pos], hs[child] = hs[child], hs[pos]
        hi[pos], hi[child] = hi[child], hi[pos]
        pos = child


def _scan_topk(codes, lut, inv_norm, mod_ids, mod_allowed, stamps, t0, t1, seg_lo, seg_hi, k):
    nseg = seg_lo.size
    out_s = np.full((nseg, k), -np.inf, dtype=np.float32)
    out_i = np.full((nseg, k), -1, dtype=np.int64)
    m = codes.shape[1]
    for c in prange(nseg):
        hs = out_s[c]
        hidx = out_i[c]
        for r in range(seg_lo[c], seg_hi[c]):
            if not mod_allowed[mod_ids[r]]:
                continue
            st = stamps[r]
            if st < t0 or st > t1:
                continue
            acc = np.float32(0.0)
            for h in range(m):
                acc += lut[h, codes[r, h]]
            acc *= inv_norm[r]
            if acc > hs[0]:
                hs[0] = acc
                hidx[0] = r
                _sift_down(hs, hidx, k)
    return out_s, out_i


def _lookup_table(q, book):
    m, d = q.shape
    k = book.shape[0]
    out = np.empty((m, k), dtype=np.float32)
    for h in range(m):
        for j in range(k):
            acc = np.float32(0.0)
            for t in range(d):
                acc += q[h, t] * book[j, t]
            out[h, j] = acc
    return out


def _matvec(mat, vec):
    out = np.empty(mat.shape[0], dtype=np.float32)
    for i in range(mat.shape[0]):
        acc = np.float32(0.0)
        for j in range(mat.shape[1]):
            acc += mat[i, j] * vec[j]
        out[i] = acc
    return out


if HAVE_NUMBA:
    _matvec_jit = njit(fastmath=True, cache=True)(_matvec)
    _sift_down = njit(cache=True, inline="always")(_sift_down)
    _scan_topk_parallel = njit(parallel=True, fastmath=True, cache=True)(_scan_topk)
    _scan_topk_serial = njit(fastmath=True, cache=True)(_scan_topk)
    _lookup_table_jit = njit(fastmath=True, cache=True)(_lookup_table)


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel on tiny inputs, so that a service's first
    query does not pay the compilation (seconds on a busy 2-core machine)."""
    if not HAVE_NUMBA:
        return
    m, k, n = 2, 4, 3
    codes = np.zeros((n, m), np.uint16)
    lut = lookup_table(np.ones((m, 2), np.float32), np.ones((k, 2), np.float32))
    matvec(np.ones((n, 2), np.float32), np.ones(2, np.float32))
    args = (codes, lut, np.ones(n, np.float32), np.zeros(n, np.uint8), np.ones(256, bool),
            np.zeros(n, np.int64), np.int64(0), np.int64(1))
    seg = (np.zeros(1, np.int64), np.full(1, n, np.int64))
    for kernel in (_scan_topk_serial, _scan_topk_parallel):
        kernel(*args, *seg, 2)


def matvec(mat: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """mat (n, d) @ vec (d,) in float32 on the calling thread (see :func:`lookup_table`)."""
    mat = np.ascontiguousarray(mat, np.float32)
    vec = np.ascontiguousarray(vec, np.float32).reshape(-1)
    if mat.shape[1] != vec.size:
        raise ValueError(f"matrix has {mat.shape[1]} columns, vector has {vec.size} entries")
    if HAVE_NUMBA:
        return _matvec_jit(mat, vec)
    return np.einsum("nd,d->n", mat, vec, optimize=False).astype(np.float32)


def lookup_table(q: np.ndarray, book: np.ndarray) -> np.ndarray:
    """(m, K) table of <q_h, e_k> for q (m, d*) and book (K, d*), both float32.

    A tiny product computed without BLAS: a threaded BLAS call between parallel scans costs far
    more in thread hand-over than the arithmetic on a small, busy CPU."""
    if HAVE_NUMBA:
        return _lookup_table_jit(np.ascontiguousarray(q, np.float32), np.ascontiguousarray(book, np.float32))
    return np.einsum("hd,kd->hk", q, book, optimize=False).astype(np.float32)


def _merge(scores: np.ndarray, idx: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    scores, idx = scores.ravel(), idx.ravel()
    keep = idx >= 0
    scores, idx = scores[keep], idx[keep]
    order = np.argsort(-scores, kind="stable")[:k]
    return scores[order], idx[order]


def scan_topk(codes: np.ndarray, lut: np.ndarray, inv_norm: np.ndarray, mod_ids: np.ndarray,
              mod_allowed: np.ndarray, stamps: np.ndarray, t0: int, t1: int, k: int,
              seg_lo: np.ndarray, seg_hi: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Best ``k`` rows (scores desc, row indices) among the row ranges [seg_lo[i], seg_hi[i]).

    Args:
        codes: (N, m) uint16 code rows. lut: (m, K) float32. inv_norm: (N,) float32.
        mod_ids: (N,) uint8 modality ids; mod_allowed: (256,) bool filter over them.
        stamps: (N,) int64 ns; rows with stamps outside [t0, t1] are skipped.
    """
    seg_lo = np.asarray(seg_lo, np.int64)
    seg_hi = np.asarray(seg_hi, np.int64)
    n_items = int((seg_hi - seg_lo).sum()) if seg_lo.size else 0
    if n_items <= 0 or k < 1:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    if not HAVE_NUMBA:
        return scan_topk_numpy(codes, lut, inv_norm, mod_ids, mod_allowed, stamps, t0, t1, k, seg_lo, seg_hi)
    # Below PARALLEL_MIN_LOOKUPS table look-ups one thread finishes sooner than a parallel region
    # starts on a busy CPU (every worker must be scheduled before the region can end).
    threads = numba.get_num_threads()
    if n_items * codes.shape[1] < PARALLEL_MIN_LOOKUPS or threads == 1:
        kernel = _scan_topk_serial
    else:
        kernel = _scan_topk_parallel
        seg_lo, seg_hi = split_segments(seg_lo, seg_hi, 4 * threads)
    s, i = kernel(codes, lut, inv_norm, mod_ids, mod_allowed, stamps, np.int64(t0), np.int64(t1),
                  seg_lo, seg_hi, k)
    return _merge(s, i, k)


def split_segments(seg_lo: np.ndarray, seg_hi: np.ndarray, parts: int) -> Tuple[np.ndarray, np.ndarray]:
    """Cut the ranges into about ``parts`` pieces of similar length (for parallel chunks)."""
    total = int((seg_hi - seg_lo).sum())
    step = max(1, -(-total // parts))
    lo, hi = [], []
    for a, b in zip(seg_lo.tolist(), seg_hi.tolist()):
        for s in range(a, b, step):
            lo.append(s)
            hi.append(min(b, s + step))
    return np.asarray(lo, np.int64), np.asarray(hi, np.int64)


def scan_topk_numpy(codes, lut, inv_norm, mod_ids, mod_allowed, stamps, t0, t1, k, seg_lo, seg_hi):
    """Vectorised numpy version of :func:`scan_topk` (same results, ties aside)."""
    parts = [np.arange(a, b, dtype=np.int64) for a, b in zip(seg_lo, seg_hi)]
    sel = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    keep = mod_allowed[mod_ids[sel]] & (stamps[sel] >= t0) & (stamps[sel] <= t1)
    sel = sel[keep]
    if sel.size == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    c = codes[sel]
    acc = np.zeros(sel.size, np.float32)
    for h in range(c.shape[1]):
        acc += lut[h, c[:, h]]
    acc *= inv_norm[sel]
    kk = min(k, sel.size)
    top = np.argpartition(-acc, kk - 1)[:kk]
    order = top[np.argsort(-acc[top], kind="stable")]
    return acc[order], sel[order]
