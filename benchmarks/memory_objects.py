"""Object-query latency with a large observation memory, and how it grows with the object count.

One SQLite memory holds ``--observations`` raw observations (random codes, the observation
table and its in-memory mirror fully built) and a growing number of objects (``--objects``, e.g.
1k, 10k, 100k; inserted through :meth:`ObjectMemory.insert_objects`). At each object count it
times ``--queries`` text-like object queries (top-10, one entry per object: the code-table scan
over the objects' fused codes plus building the answer), one frame of association
(:meth:`ObjectMemory.observe` with ``--proposals`` proposals, committed to SQLite), and, once, a
few raw observation queries (exact scan) for comparison. D = ``--dim``, d* = ``--sub-dim``,
K = ``--codebook``.

    nice -n 5 .venv/bin/python benchmarks/memory_objects.py                  # 1M obs; 1k, 10k, 100k objects
    .venv/bin/python benchmarks/memory_objects.py --observations 100000 --objects 1000 10000
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codebind_core.memory import (CodebookSet, MemoryConfig, MemoryObject, ObjectConfig, ObjectMemory,  # noqa: E402
                                  ObjectProposal, Observation)
from codebind_core.memory import kernels  # noqa: E402

TARGET_MS = 5.0


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fill_observations(mem: ObjectMemory, n: int, m: int, k: int, rng, codebook_set: str = "camera") -> float:
    """``n`` observations of random codes (``m`` per row, < ``k``) of ``codebook_set``; returns the seconds
    taken."""
    t = time.perf_counter()
    for a in range(0, n, 50_000):
        codes = rng.integers(0, k, (min(50_000, n - a), m)).astype(np.uint16)
        mem.observations.add([Observation("camera", codebook_set, c, a + i, "map", position=(0.0, 0.0, 0.0))
                              for i, c in enumerate(codes)])
    return time.perf_counter() - t


def add_objects(mem: ObjectMemory, n: int, m: int, k: int, rng, start: int, codebook_set: str = "camera") -> None:
    """``n`` objects of random codes of ``codebook_set``, spread over 100 m x 100 m."""
    for a in range(0, n, 20_000):
        b = min(n, a + 20_000)
        codes = rng.integers(0, k, (b - a, m))
        pos = rng.uniform(-50, 50, (b - a, 3))
        mem.insert_objects([MemoryObject(0, codebook_set, c, tuple(map(float, p)), (0.1, 0.1, 0.1), start + a + i,
                                         start + a + i, 3, ("camera",), f"object {start + a + i}")
                            for i, (c, p) in enumerate(zip(codes, pos))])


def timed(fn, n: int):
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        lat.append((time.perf_counter() - t) * 1e3)
    return float(np.percentile(lat, 50)), float(np.percentile(lat, 95))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--observations", type=int, default=1_000_000)
    ap.add_argument("--objects", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--proposals", type=int, default=10)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--sub-dim", type=int, default=8)
    ap.add_argument("--codebook", type=int, default=1024)
    args = ap.parse_args()
    if sorted(args.objects) != args.objects:
        ap.error("--objects must be increasing")
    rng = np.random.default_rng(0)
    m = args.dim // args.sub_dim
    book = rng.standard_normal((args.codebook, args.sub_dim)).astype(np.float32)
    cbs = CodebookSet({"camera": book / np.linalg.norm(book, axis=1, keepdims=True)})
    kernels.warm_up()
    load = os.getloadavg()[0]
    print(f"# {cpu_name()}, {os.cpu_count()} CPUs, numba {kernels.HAVE_NUMBA}, load avg {load:.1f}")
    print(f"# command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    with tempfile.TemporaryDirectory() as tmp:
        mem = ObjectMemory.open(Path(tmp) / "m.db", cbs, MemoryConfig(max_observations=max(1, args.observations)),
                                ObjectConfig(max_objects=max(args.objects) + args.frames * args.proposals + 1))
        secs = fill_observations(mem, args.observations, m, args.codebook, rng)
        print(f"# {len(mem.observations):,} observations stored in {secs:.1f} s")
        qs = rng.standard_normal((64, args.dim)).astype(np.float32)
        j = iter(range(10 ** 9))
        raw = timed(lambda: mem.observations.search({"camera": qs[next(j) % 64]}, top_k=10), 10)
        print(f"# raw observation query (exact scan of {len(mem.observations):,}): p50 {raw[0]:.2f} ms, "
              f"p95 {raw[1]:.2f} ms (10 queries)")
        print("| observations | objects | object query p50 ms | p95 ms | observe (frame of "
              f"{args.proposals}) p50 ms | p95 ms |")
        print("|---|---|---|---|---|---|")
        have, stamp = 0, 10 ** 12
        for n in args.objects:
            add_objects(mem, n - have, m, args.codebook, rng, have)
            have = n
            q = timed(lambda: mem.query({"camera": qs[next(j) % 64]}, top_k=10), args.queries)

            def frame():
                nonlocal stamp
                stamp += 10 ** 8
                mem.observe([ObjectProposal("camera", stamp, tuple(map(float, rng.uniform(-50, 50, 3))),
                                            codes=rng.integers(0, args.codebook, m)) for _ in range(args.proposals)])
            counted = len(mem)
            f = timed(frame, args.frames)
            print(f"| {len(mem.observations):,} | {counted:,} | {q[0]:.2f} | {q[1]:.2f} | {f[0]:.1f} | {f[1]:.1f} |")
            have = len(mem)
        mem.close()


if __name__ == "__main__":
    main()
