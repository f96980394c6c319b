"""Preprocessing throughput on sensor-sized inputs: ``.venv/bin/python benchmarks/bench_preprocess.py``.

Prints the median wall time per sample for each modality at typical robot-sensor sizes, plus
the Kaldi fbank throughput, on the current torch thread count.
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import torch

from machine import cpu_model

from codebind_core.modalities import get
from codebind_core.modalities.fbank import fbank


def _cases(rng: np.random.Generator) -> List[Tuple[str, str, Any, Dict[str, Any]]]:
    """(modality, description, raw input, options) at realistic sizes."""
    return [
        ("image", "640x480 uint8 RGB", rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), {}),
        ("image", "1920x1080 uint8 RGB", rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8), {}),
        ("tactile", "320x240 uint8 RGB", rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), {}),
        ("video", "30 x 640x480 -> 8 frames", rng.integers(0, 256, (30, 480, 640, 3), dtype=np.uint8), {}),
        ("depth", "640x480 float32 m", rng.uniform(0.3, 8.0, (480, 640)).astype(np.float32), {}),
        ("depth", "640x480 uint16 mm", rng.integers(0, 8000, (480, 640)).astype(np.uint16), {}),
        ("thermal", "640x512 uint16", rng.integers(20000, 40000, (512, 640)).astype(np.uint16), {}),
        ("audio", "10 s 16 kHz mono", rng.uniform(-0.5, 0.5, 160000).astype(np.float32), {}),
        ("audio", "10 s 48 kHz stereo + resample", rng.uniform(-0.5, 0.5, (2, 480000)).astype(np.float32),
         {"sample_rate": 48000, "resample": True}),
        ("pointcloud", "100k xyzrgb points (FPS)", rng.normal(size=(100_000, 6)).clip(0, 1), {}),
        ("pointcloud", "100k xyzrgb points (random)", rng.normal(size=(100_000, 6)).clip(0, 1),
         {"sampling": "random"}),
        ("eeg", "128 ch x 1000 samples", rng.normal(size=(128, 1000)).astype(np.float32), {}),
    ]


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up (allocator, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"# {cpu_model()}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}, 1-min load average {os.getloadavg()[0]:.1f}")
    print(f"# command: {shlex.join(['.venv/bin/python', 'benchmarks/bench_preprocess.py', *sys.argv[1:]])}")
    print(f"{'modality':<11} {'input':<32} {'ms/sample':>10}  output")
    for name, desc, raw, opts in _cases(rng):
        mod = get(name)
        ms = _median_ms(lambda: mod.preprocess(raw, **opts), args.repeats)
        shape = tuple(mod.preprocess(raw, **opts).shape)
        print(f"{name:<11} {desc:<32} {ms:>10.1f}  {shape}")
    clips = torch.from_numpy(rng.uniform(-0.5, 0.5, (32, 32000)).astype(np.float32))
    ms = _median_ms(lambda: fbank(clips), args.repeats)
    print(f"fbank: 32 clips x 2 s in {ms:.1f} ms = {32 * 2.0 / (ms / 1000.0):.0f} s of audio per second")


if __name__ == "__main__":
    main()
