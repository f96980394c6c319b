"""What a checkpoint after every acknowledged commit would cost the memory's writes.

A committed row lives in the ``-wal`` file until a checkpoint copies it into the database file;
deleting the ``-wal`` of a memory that did not close loses those rows (the store warns when it
finds that: codebind_core/memory/store.py). Checkpointing after every commit would leave nothing
only in the ``-wal``. This measures one commit of ``--batch`` observations as the memory node does
it (ObservationMemory.add), alone and followed by a PASSIVE or TRUNCATE checkpoint, with
``synchronous`` FULL (the default) and NORMAL, in a temporary directory.

    .venv/bin/python benchmarks/memory_checkpoint.py --commits 300 --batch 4
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from codebind_core.memory import CodebookSet, MemoryConfig, Observation, ObservationMemory

M, K = 8, 256


def _run(db: Path, sync: str, checkpoint: str, commits: int, batch: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    books = CodebookSet({"depth": rng.standard_normal((K, 4)).astype(np.float32)}, {"depth": M})
    times = []
    with ObservationMemory(db, books, MemoryConfig(synchronous=sync)) as mem:
        for c in range(commits):
            rows = [Observation("depth", "depth", rng.integers(0, K, M).astype(np.uint16), c * batch + i, "map",
                                position=(1.0, 2.0, 0.5)) for i in range(batch)]
            t0 = time.perf_counter()
            mem.add(rows)
            if checkpoint:
                with mem.lock:
                    mem.store.conn.execute(f"PRAGMA wal_checkpoint({checkpoint})").fetchone()
            times.append(time.perf_counter() - t0)
    return np.asarray(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commits", type=int, default=300)
    ap.add_argument("--batch", type=int, default=4, help="observations per commit")
    ap.add_argument("--dir", default=None, help="directory of the test databases (default: a temporary one)")
    args = ap.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; {args.commits} commits of {args.batch} observations")
    print(f"# command: .venv/bin/python benchmarks/memory_checkpoint.py --commits {args.commits} --batch {args.batch}")
    print("| synchronous | after each commit | commit p50 (ms) | p95 (ms) | commits/s |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for sync in ("FULL", "NORMAL"):
            for checkpoint in ("", "PASSIVE", "TRUNCATE"):
                db = Path(tmp) / f"m_{sync}_{checkpoint or 'none'}.db"
                ms = _run(db, sync, checkpoint, args.commits, args.batch)
                print(f"| {sync} | {checkpoint.lower() + ' checkpoint' if checkpoint else 'nothing'} | "
                      f"{np.percentile(ms, 50):.2f} | {np.percentile(ms, 95):.2f} | {1e3 / ms.mean():.0f} |",
                      flush=True)


if __name__ == "__main__":
    main()
