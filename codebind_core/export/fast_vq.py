"""Fast compositional-VQ encoding on CPU (paper §3.3: nearest unit codevector per sub-vector).

The nearest codevector of a sub-vector z under cosine similarity is ``argmax_k <z, e_k>`` when the
codevectors are unit-normalised (App. A.2), so encoding n sub-vectors is one (n, d*) x (d*, K)
matrix product followed by a row-wise argmax. With d* = 8 the product is cheap and the argmax costs
as much; three things make it fast on CPU:

* per sub-vector, the K scores come from a numba kernel (:func:`_codes_block`, compiled for the
  host CPU: AVX-512 where it has it) into an L1-resident buffer, and one vectorised integer max
  over the scores' bit patterns (packed with their index) gives the first best code: no (n, K)
  score matrix and no separate arg-max pass. A float arg-max does not vectorise in numba; NumPy's
  does, but over a score block in L2 it cost as much as the scores (2026-12-07, AMD EPYC);
* without numba, each block's scores come from ``torch.mm(..., out=)`` into a reused buffer that
  stays in the L2 cache (~1 MiB), and the arg-max runs on a NumPy view of it (NumPy's SIMD argmax
  is about 10x faster than ``torch.argmax`` over the last dim on CPU in torch 2.13). MKL's sgemm
  takes a slow path for this skinny (rows x 8 x K) product on AMD CPUs (4 GFLOP/s on an AMD EPYC
  with AVX-512), which is why numba is the default;
* blocks are spread over worker threads that each run torch single-threaded. MKL parallelises
  even these small products when torch has several intra-op threads, and a parallel call waits for
  all its threads: on a 2-core machine shared with other jobs a 64 x 8 x 1024 product took 8 ms
  with 2 threads against 13 us with one. ``torch.set_num_threads`` sets OpenMP/MKL per calling
  thread, so each worker sets 1 for itself once; the caller's setting is left as it was.

Ties resolve to the lowest index (NumPy and torch agree), so an all-zero sub-vector maps to code 0,
exactly like :meth:`codebind_core.quantize.CompositionalVQ.encode`. Non-CPU or non-float32 inputs
take the plain ``(sub @ codebook.T).argmax(-1)`` path.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional

import numpy as np
import torch
from torch import Tensor

from ..finite import all_finite

try:  # numba is a listed requirement; torch.mm is the fallback
    from numba import njit
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    HAVE_NUMBA = False

# Bytes of one block's (rows, K) float32 score buffer: small enough for a core's L2 cache.
BLOCK_BYTES = 1 << 20
KERNELS = ("numba", "torch")

_pools_lock = threading.Lock()
_pools: Dict[int, ThreadPoolExecutor] = {}


def _init_worker(ready: threading.Barrier) -> None:
    torch.get_num_threads()  # this thread's lazy OpenMP/MKL initialisation first,
    torch.set_num_threads(1)  # then one intra-op thread for this worker only
    ready.wait()


def _pool(workers: int) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads that each run torch single-threaded (created once)."""
    with _pools_lock:
        if workers not in _pools:
            caller = torch.get_num_threads()
            ready = threading.Barrier(workers + 1)
            pool = ThreadPoolExecutor(workers, thread_name_prefix="codebind-vq",
                                      initializer=_init_worker, initargs=(ready,))
            for _ in range(workers):  # each submit starts one thread, which waits in the barrier
                pool.submit(int)
            ready.wait()
            # set_num_threads also sets the count threads started later begin with: restore it.
            torch.set_num_threads(caller)
            _pools[workers] = pool
        return _pools[workers]


def default_threads() -> int:
    """Worker threads of :func:`nearest_codes`: torch's intra-op thread count, at most the CPUs."""
    return max(1, min(torch.get_num_threads(), os.cpu_count() or 1))


def block_rows(codebook_size: int) -> int:
    """Rows per block: one (rows, K) float32 score block of about :data:`BLOCK_BYTES`."""
    return max(16, BLOCK_BYTES // (4 * codebook_size))


def _check(sub: Tensor, codebook: Tensor) -> None:
    if not isinstance(sub, Tensor) or not isinstance(codebook, Tensor):
        raise ValueError("sub-vectors and codebook must be torch tensors")
    if sub.ndim != 2 or codebook.ndim != 2:
        raise ValueError(f"expected (n, d*) sub-vectors and a (K, d*) codebook, got "
                         f"{tuple(sub.shape)} and {tuple(codebook.shape)}")
    if sub.shape[1] != codebook.shape[1]:
        raise ValueError(f"sub-vector dim {sub.shape[1]} != codevector dim {codebook.shape[1]}")
    if codebook.shape[0] == 0:
        raise ValueError("the codebook is empty")
    if not sub.is_floating_point() or not codebook.is_floating_point():
        raise ValueError("sub-vectors and codebook must be floating point")


def _codes_block(sub, book_t, scores, keys, out):
    """out[i] = argmax_k <sub[i], book_t[:, k]>, first index on ties, for a block of rows.

    Per row the K scores go to ``scores`` (L1-resident; d* = 8 unrolled, else by rows of
    ``book_t``), then one integer max finds value and index together: each float32 score's bits
    (``keys`` is the same memory as int32) become a signed integer of the same order (-0 = +0),
    shifted up 32 bits above ``K - 1 - k``, so the largest packed value is the highest score at
    its lowest k. numba vectorises this int64 max, not a float max or an index-carrying argmax."""
    n, d = sub.shape
    k_size = book_t.shape[1]
    for i in range(n):
        if d == 8:
            z0, z1, z2, z3 = sub[i, 0], sub[i, 1], sub[i, 2], sub[i, 3]
            z4, z5, z6, z7 = sub[i, 4], sub[i, 5], sub[i, 6], sub[i, 7]
            for k in range(k_size):
                scores[k] = ((z0 * book_t[0, k] + z1 * book_t[1, k]) + (z2 * book_t[2, k] + z3 * book_t[3, k])) + \
                    ((z4 * book_t[4, k] + z5 * book_t[5, k]) + (z6 * book_t[6, k] + z7 * book_t[7, k]))
        else:
            z0 = sub[i, 0]
            for k in range(k_size):
                scores[k] = z0 * book_t[0, k]
            for j in range(1, d):
                zj = sub[i, j]
                for k in range(k_size):
                    scores[k] += zj * book_t[j, k]
        best = np.int64(-(1 << 63))
        for k in range(k_size):
            v = keys[k]
            sign = v >> 31
            key = np.int64(((v & np.int32(0x7FFFFFFF)) ^ sign) - sign)
            packed = (key << 32) | np.int64(k_size - 1 - k)
            best = packed if packed > best else best
        out[i] = k_size - 1 - (best & np.int64(0xFFFFFFFF))


if HAVE_NUMBA:
    _codes_block_jit = njit(fastmath=True, nogil=True, cache=True)(_codes_block)


def _encode_blocks(sub: Tensor, book_t: Tensor, out: np.ndarray, starts: List[int], rows: int,
                   kernel: str) -> None:
    """Codes of the blocks of ``rows`` sub-vectors beginning at ``starts``, into ``out``."""
    n = sub.shape[0]
    if kernel == "numba":
        sub_np, book_np = sub.numpy(), book_t.numpy()
        scores = np.empty(book_t.shape[1], dtype=np.float32)
        keys = scores.view(np.int32)
        for start in starts:
            stop = min(n, start + rows)
            _codes_block_jit(sub_np[start:stop], book_np, scores, keys, out[start:stop])
        return
    scores = torch.empty(min(rows, n), book_t.shape[1], dtype=torch.float32)
    view = scores.numpy()
    for start in starts:
        stop = min(n, start + rows)
        torch.mm(sub[start:stop], book_t, out=scores[: stop - start])
        np.argmax(view[: stop - start], axis=1, out=out[start:stop])


def default_kernel() -> str:
    """``numba`` where numba is installed, else ``torch``."""
    return "numba" if HAVE_NUMBA else "torch"


def nearest_codes(sub: Tensor, codebook: Tensor, rows: Optional[int] = None,
                  threads: Optional[int] = None, kernel: Optional[str] = None) -> Tensor:
    """Index of the max-inner-product codevector for every row of ``sub``.

    Args:
        sub: (n, d*) sub-vectors (need not be normalised: argmax <z, e_k> is the cosine argmax).
        codebook: (K, d*) unit codevectors.
        rows: rows per block (default :func:`block_rows`).
        threads: worker threads (default :func:`default_threads`).
        kernel: score kernel, ``numba`` or ``torch`` (default :func:`default_kernel`).
    Returns:
        (n,) int64 codes on ``sub``'s device.
    """
    _check(sub, codebook)
    if rows is not None and rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    kernel = kernel or default_kernel()
    if kernel not in KERNELS or (kernel == "numba" and not HAVE_NUMBA):
        raise ValueError(f"kernel must be one of {[k for k in KERNELS if k != 'numba' or HAVE_NUMBA]}, "
                         f"got {kernel!r}")
    if sub.device.type != "cpu" or sub.dtype != torch.float32 or codebook.dtype != torch.float32:
        return (sub @ codebook.to(sub).T).argmax(dim=-1)
    n = sub.shape[0]
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return torch.from_numpy(out)
    sub = sub.detach().contiguous()
    book_t = codebook.detach().T.contiguous()
    rows = rows or block_rows(codebook.shape[0])
    starts = list(range(0, n, rows))
    threads = min(threads or default_threads(), len(starts))
    # Contiguous runs of blocks per worker; every worker owns its score buffer.
    runs = [list(r) for r in np.array_split(np.asarray(starts), threads)]
    pool = _pool(threads)
    for job in [pool.submit(_encode_blocks, sub, book_t, out, run, rows, kernel) for run in runs]:
        job.result()
    return torch.from_numpy(out)


def encode(z: Tensor, codebook: Tensor, threads: Optional[int] = None, kernel: Optional[str] = None) -> Tensor:
    """Compositional VQ codes of ``z`` (..., D) against a (K, d*) codebook -> (..., D / d*) int64.

    Same result as :meth:`codebind_core.quantize.CompositionalVQ.encode` when the codebook is
    ``vq.unit_codebook`` (max inner product = max cosine there), computed with :func:`nearest_codes`."""
    if not isinstance(z, Tensor) or not isinstance(codebook, Tensor) or codebook.ndim != 2:
        raise ValueError("expected a tensor z (..., D) and a (K, d*) codebook tensor")
    d = codebook.shape[1]
    if z.ndim < 1 or d == 0 or z.shape[-1] % d:
        raise ValueError(f"last dim of z {tuple(z.shape)} is not a multiple of d* = {d}")
    if not z.is_floating_point():
        raise ValueError(f"expected a floating-point z, got {z.dtype}")
    if not all_finite(z):
        raise ValueError("z contains NaN or inf")
    sub = z.reshape(-1, d)
    return nearest_codes(sub, codebook, threads=threads, kernel=kernel).view(*z.shape[:-1], z.shape[-1] // d)
