#!/usr/bin/env python3
"""Training throughput on a pairs_folder of depth images: samples/s and the data-loading share.

    .venv/bin/python benchmarks/pairs_training.py                      # cached preprocessing (default)
    .venv/bin/python benchmarks/pairs_training.py --no-cache --steps 10  # preprocessing on access

Makes (once, under cache/bench-pairs/) a folder of --pairs RGB JPEGs + 16-bit depth PNGs at
--width x --height, then trains the tiny preset on it (a random frozen bridge: throughput, not
accuracy) with the run's own data pipeline and Trainer, timing the batch building (file decoding,
preprocessing, collation) apart from the whole loop. The one-off preparation of the cache is
reported separately. Prints the command, the machine and the load average.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLASSES = ("box", "sphere", "cone", "torus")


def make_folder(root: Path, pairs: int, width: int, height: int) -> Path:
    from PIL import Image

    root = root / f"{pairs}-{width}x{height}"
    if (root / "done").is_file():
        return root
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(pairs):
        c = CLASSES[i % len(CLASSES)]
        for m in ("image", "depth"):
            (root / m / c).mkdir(parents=True, exist_ok=True)
        rgb = (rng.random((height, width, 3)) * 60 + 50 * (i % 4)).astype(np.uint8)
        Image.fromarray(rgb).save(root / "image" / c / f"{i}.jpg", quality=90)
        depth = 1500 + 500 * np.sin(xx / (30 + 10 * (i % 4))) + rng.normal(0, 10, (height, width))
        Image.fromarray(depth.astype(np.uint16)).save(root / "depth" / c / f"{i}.png")
    (root / "done").write_text("")
    return root


class Timed:
    """A dataset whose item reads are timed (the loop's data-loading time, num_workers 0)."""

    def __init__(self, dataset):
        self.dataset, self.seconds = dataset, 0.0

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        t = time.perf_counter()
        try:
            return self.dataset[i]
        finally:
            self.seconds += time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=256)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--no-cache", action="store_true", help="preprocess each item on access (the old path)")
    ap.add_argument("--workers", type=int, default=2, help="processes preparing the cache")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's, one per core)")
    ap.add_argument("--out", default=str(ROOT / "cache" / "bench-pairs"))
    args = ap.parse_args()

    import tempfile

    import torch

    import codebind_core as cb
    from codebind_core.training.datasets import build_training_data
    from codebind_core.training.stream import RoundRobinStream
    from codebind_core.training.trainer import LoopSettings, Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    data = make_folder(out / "data", args.pairs, args.width, args.height)
    cache = tempfile.mkdtemp(prefix="cache-", dir=out)  # a cold cache: the preparation is timed
    model = cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["depth"], bridge={"random_init": True}))
    t0 = time.perf_counter()
    opts = {"root": str(data), "cache_dir": None if args.no_cache else cache, "workers": args.workers}
    part = build_training_data("pairs_folder", opts, model)[0]
    prep = time.perf_counter() - t0
    part.dataset = timed = Timed(part.dataset)
    stream = RoundRobinStream([part], args.batch_size, seed=0)
    settings = LoopSettings(steps=args.steps, progress=False, init_batches=0, checkpoint_every=10**9,
                            log_every=10**9, schedule="constant")
    trainer = Trainer(model, stream, settings, tempfile.mkdtemp(prefix="run-", dir=out), torch.device("cpu"))
    init_data = timed.seconds
    t1 = time.perf_counter()
    trainer.fit(resume=False)
    loop = time.perf_counter() - t1
    data_s = timed.seconds - init_data
    samples = args.steps * args.batch_size
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads); load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"data: {args.pairs} pairs of {args.width}x{args.height} RGB JPEG + 16-bit depth PNG; tiny preset, "
          f"batch {args.batch_size}, {args.steps} steps, {'no cache' if args.no_cache else 'cached'}")
    if not args.no_cache:
        print(f"one-off preparation: {prep:.1f} s ({args.pairs / prep:.1f} pairs/s, {args.workers} workers)")
    print(f"training: {samples / loop:.1f} samples/s; data loading {data_s:.2f} s of {loop:.2f} s "
          f"({100 * data_s / loop:.1f} %)")


if __name__ == "__main__":
    main()
