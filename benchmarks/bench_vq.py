"""Compositional VQ encode throughput against faiss ProductQuantizer (same m, K, d*).

Every method encodes the same unit-normalised vectors against the same unit codebook (K, d*),
shared by all m = D / d* positions as in CodeBind (§3.3); faiss gets that codebook copied into
each of its m sub-quantizers. Prints vectors/s per method, our ratio to faiss measured in the same
run, and whether the codes are identical (mismatches are checked in float64: a mismatch whose two
candidate scores differ by less than float32 rounding is a tie, not an error).

    .venv/bin/python benchmarks/bench_vq.py                       # D=1024, m=128, K=1024
    .venv/bin/python benchmarks/bench_vq.py --dim 512 --codebook-size 256 --vectors 8192
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable, Dict

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine import cpu_model  # noqa: E402

from codebind_core.export import fast_vq  # noqa: E402
from codebind_core.export.timing import CLOCKS  # noqa: E402
from codebind_core.quantize import CompositionalVQ  # noqa: E402

# float32 dot products of unit vectors are exact to ~1e-7; gaps below this are ties.
TIE_GAP = 1e-6


def naive_encode(z: torch.Tensor, book: torch.Tensor) -> torch.Tensor:
    """The obvious code: all squared distances with einsum, then argmin (one shot, no blocking)."""
    sub = F.normalize(z.unflatten(-1, (-1, book.shape[1])), dim=-1)
    dist = 2.0 - 2.0 * torch.einsum("nmd,kd->nmk", sub, book)
    return dist.argmin(dim=-1)


def faiss_pq(book: np.ndarray, dim: int):
    """A faiss ProductQuantizer whose m sub-quantizers all hold ``book``."""
    import faiss

    k, d_sub = book.shape
    nbits = int(math.log2(k))
    if 2 ** nbits != k:
        raise ValueError(f"faiss needs a power-of-two codebook size, got {k}")
    pq = faiss.ProductQuantizer(dim, dim // d_sub, nbits)
    faiss.copy_array_to_vector(np.tile(book, (dim // d_sub, 1)).ravel(), pq.centroids)
    return pq


def unpack_codes(packed: np.ndarray, m: int, nbits: int) -> np.ndarray:
    """faiss packs m codes of ``nbits`` bits little-endian into bytes -> (n, m) int64."""
    bits = np.unpackbits(packed, axis=1, bitorder="little")[:, : m * nbits].reshape(len(packed), m, nbits)
    return (bits.astype(np.int64) << np.arange(nbits)).sum(-1)


def real_mismatches(z: np.ndarray, book: np.ndarray, a: np.ndarray, b: np.ndarray) -> int:
    """Mismatching codes whose float64 scores differ by more than :data:`TIE_GAP`."""
    n, m = a.shape
    sub = z.reshape(n, m, -1).astype(np.float64)
    rows, cols = np.nonzero(a != b)
    if rows.size == 0:
        return 0
    s = sub[rows, cols]
    gap = np.abs(np.einsum("id,id->i", s, book[a[rows, cols]]) - np.einsum("id,id->i", s, book[b[rows, cols]]))
    return int((gap > TIE_GAP).sum())


def simd_flags() -> list:
    """The CPU's vector-extension flags (avx*, fma, f16c) from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return [f for f in line.split(":", 1)[1].split() if f.startswith(("avx", "fma", "f16c"))]
    except OSError:
        pass
    return []


def best_rate(fn: Callable[[], object], n: int, repeats: int, clock: str) -> float:
    """Items per second of the fastest of ``repeats`` calls (after one warm-up call)."""
    tick = CLOCKS[clock]
    fn()
    best = math.inf
    for _ in range(repeats):
        t0 = tick()
        fn()
        best = min(best, tick() - t0)
    return n / best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=1024, help="D")
    ap.add_argument("--sub-dim", type=int, default=8, help="d* (m = D / d*)")
    ap.add_argument("--codebook-size", type=int, default=1024, help="K")
    ap.add_argument("--vectors", type=int, default=16384)
    ap.add_argument("--naive-vectors", type=int, default=1024, help="fewer for the slow naive code")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                    help="wall time, or process CPU time (steadier on a shared machine; use with --threads 1)")
    args = ap.parse_args(argv)
    if args.dim % args.sub_dim:
        ap.error("--dim must be a multiple of --sub-dim")
    torch.set_num_threads(args.threads)
    import faiss

    faiss.omp_set_num_threads(args.threads)
    m = args.dim // args.sub_dim
    gen = torch.Generator().manual_seed(0)
    z = F.normalize(torch.randn(args.vectors, args.dim, generator=gen), dim=-1)
    vq = CompositionalVQ(args.dim, args.codebook_size, args.sub_dim).eval()
    book = vq.codebook
    book_np, z_np = book.numpy(), z.numpy()
    pq = faiss_pq(book_np, args.dim)
    nbits = int(math.log2(args.codebook_size))

    print(f"# {cpu_model()}, {args.threads} threads, torch {torch.__version__}, "
          f"faiss {faiss.__version__}, {time.strftime('%Y-%m-%d')}")
    print(f"# D={args.dim} m={m} K={args.codebook_size} d*={args.sub_dim}, {args.vectors} unit vectors, "
          f"{args.clock} clock, best of {args.repeats}, 1-min load average {os.getloadavg()[0]:.1f}")
    print(f"# SIMD flags: {' '.join(simd_flags()) or 'unknown'}")
    print("# command: .venv/bin/python benchmarks/bench_vq.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    small = z[: args.naive_vectors]
    methods: Dict[str, Callable[[], object]] = {
        "faiss ProductQuantizer.compute_codes": lambda: pq.compute_codes(z_np),
        "codebind fast_vq.encode": lambda: fast_vq.encode(z, book, args.threads),
        "fast_vq.encode, torch.mm scores": lambda: fast_vq.encode(z, book, args.threads, kernel="torch"),
        "CompositionalVQ.encode (quantize.py)": lambda: vq.encode(z),
    }
    rates = {name: best_rate(fn, args.vectors, args.repeats, args.clock) for name, fn in methods.items()}
    rates["naive einsum + argmin"] = best_rate(lambda: naive_encode(small, book), len(small), args.repeats,
                                               args.clock)

    ref = unpack_codes(pq.compute_codes(z_np), m, nbits)
    ours = fast_vq.encode(z, book, args.threads).numpy()
    theirs = vq.encode(z).numpy()
    faiss_rate = rates["faiss ProductQuantizer.compute_codes"]
    print(f"{'method':40s} {'vectors/s':>12s} {'vs faiss':>9s}")
    for name, rate in rates.items():
        print(f"{name:40s} {rate:12,.0f} {rate / faiss_rate:8.2f}x")
    total = ref.size
    for name, codes in (("fast_vq", ours), ("quantize.py", theirs)):
        diff = int((codes != ref).sum())
        print(f"codes {name} vs faiss: {total - diff}/{total} identical, {diff} differ "
              f"({real_mismatches(z_np, book_np, codes, ref)} by more than a float32 tie)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
