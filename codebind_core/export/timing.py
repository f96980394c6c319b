"""Small timing helpers shared by the benchmark scripts (latency percentiles, throughput)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Dict, List

import numpy as np


@dataclass
class Timing:
    """Wall-clock samples of one repeated call, in seconds."""

    samples: List[float]

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(np.asarray(self.samples), q) * 1e3)

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def best_s(self) -> float:
        return float(min(self.samples))

    @property
    def median_s(self) -> float:
        return float(np.median(np.asarray(self.samples)))


CLOCKS: Dict[str, Callable[[], float]] = {
    "wall": time.perf_counter,
    # CPU seconds of the whole process (all threads): on a machine shared with other jobs this
    # is close to what a quiet machine's wall clock would show for single-threaded work.
    "cpu": time.process_time,
}


def measure(fn: Callable[[], object], *, warmup: int = 2, min_iters: int = 5, max_iters: int = 1000,
            budget_s: float = 2.0, sync: Callable[[], None] = lambda: None, clock: str = "wall") -> Timing:
    """Call ``fn`` ``warmup`` times, then time it until ``budget_s`` of wall time is spent
    (between ``min_iters`` and ``max_iters`` calls). ``sync`` (e.g. ``torch.cuda.synchronize``)
    runs before every clock read so asynchronous devices are timed correctly. ``clock`` is a key
    of :data:`CLOCKS`."""
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {sorted(CLOCKS)}, got {clock!r}")
    tick = CLOCKS[clock]
    if min_iters < 1 or max_iters < min_iters or warmup < 0 or budget_s < 0:
        raise ValueError("need warmup >= 0, 1 <= min_iters <= max_iters and budget_s >= 0")
    for _ in range(warmup):
        fn()
    sync()
    samples: List[float] = []
    start = time.perf_counter()
    while len(samples) < max_iters and (len(samples) < min_iters or time.perf_counter() - start < budget_s):
        t0 = tick()
        fn()
        sync()
        samples.append(tick() - t0)
    return Timing(samples)
