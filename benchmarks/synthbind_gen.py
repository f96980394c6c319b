"""SynthBind generation throughput (and, with --probe, how hard each modality is).

    .venv/bin/python benchmarks/synthbind_gen.py --num-samples 2000 --workers 2
    .venv/bin/python benchmarks/synthbind_gen.py --num-samples 20000 --workers 2   # the full default set
    .venv/bin/python benchmarks/synthbind_gen.py --num-samples 3000 --probe --cnn  # + category probes

Generates into a fresh temporary folder (never a cache hit) unless --cache-dir is given, and prints
samples/s, the wall time, CPU count and load average. --probe fits a logistic-regression probe on
simple raw features of each modality (train split -> test and test_unseen splits) for the
category and a few specific factors: a sanity check that each factor shows where it should.
--cnn trains a small CNN per image-like modality on the category (a few epochs on CPU): raw-pixel
linear probes cannot see shape, a CNN shows whether the category is learnable but not trivial.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from codebind_core.data.synth import SynthBindSet, SynthConfig, generate

FACTOR_PROBES = ("category", "colour", "material", "temperature_bin")


def features(data: SynthBindSet, modality: str, idx: range) -> np.ndarray:
    """Crude fixed features per modality (no learning beyond the linear probe)."""
    x = np.asarray(data.array(modality)[idx.start:idx.stop], dtype=np.float32)
    n = len(x)
    if modality in ("image", "tactile"):
        return _pool(x.transpose(0, 3, 1, 2), 8).reshape(n, -1) / 255.0
    if modality == "video":
        return _pool(x[:, 0].transpose(0, 3, 1, 2), 8).reshape(n, -1) / 255.0
    if modality == "depth":
        return _pool(x[:, None], 16).reshape(n, -1)
    if modality == "thermal":
        return (_pool(x[:, None], 8).reshape(n, -1) - 295.0) / 20.0
    if modality == "audio":
        spec = np.abs(np.fft.rfft(x, axis=1))
        bands = np.array_split(np.arange(spec.shape[1]), 64)
        return np.log1p(np.stack([spec[:, b].mean(1) for b in bands], 1))
    if modality == "pointcloud":
        xyz = x[:, :, :3]
        r = np.linalg.norm(xyz - xyz.mean(1, keepdims=True), axis=2)
        cov = np.einsum("nki,nkj->nij", xyz, xyz) / xyz.shape[1]
        eig = np.linalg.eigvalsh(cov)
        hist = np.stack([np.histogram(ri / (ri.max() + 1e-9), 16, (0, 1))[0] for ri in r]) / xyz.shape[1]
        return np.concatenate([hist, np.sqrt(eig) * 10, r.mean(1, keepdims=True) * 10], 1)
    if modality == "eeg":
        return x[:, :, ::4].reshape(n, -1) / 10.0
    raise ValueError(modality)


def _pool(x: np.ndarray, k: int) -> np.ndarray:
    """Average-pool the last two axes to k x k."""
    h, w = x.shape[-2:]
    x = x[..., : h - h % k, : w - w % k]
    return x.reshape(*x.shape[:-2], k, (h - h % k) // k, k, (w - w % k) // k).mean((-3, -1))


def targets(data: SynthBindSet, name: str, idx: range) -> np.ndarray:
    f = data.factors
    if name == "temperature_bin":
        return np.digitize(f["temperature"][idx.start:idx.stop], [295.0, 320.0])
    return f[name][idx.start:idx.stop]


def probe(data: SynthBindSet) -> None:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    train, test, unseen = (data.indices(s) for s in ("train", "test", "test_unseen"))
    print(f"\nlinear probe accuracy (train {len(train)} -> test {len(test)} / test_unseen {len(unseen)}); "
          f"chance: category {1 / len(data.categories):.2f}, colour {1 / len(data.config.colours):.2f}, "
          f"material {1 / len(data.config.materials):.2f}, temperature_bin ~0.33")
    print(f"{'modality':<11}" + "".join(f"{t:>22}" for t in FACTOR_PROBES))
    for modality in data.meta["modalities"]:
        xtr, xte, xun = (features(data, modality, r) for r in (train, test, unseen))
        scaler = StandardScaler().fit(xtr)
        xtr, xte, xun = (scaler.transform(x) for x in (xtr, xte, xun))
        cells = []
        for target in FACTOR_PROBES:
            clf = LogisticRegression(max_iter=300, C=0.5).fit(xtr, targets(data, target, train))
            acc = [float((clf.predict(x) == targets(data, target, r)).mean()) for x, r in ((xte, test), (xun, unseen))]
            cells.append(f"{acc[0]:.2f} / {acc[1]:.2f}")
        print(f"{modality:<11}" + "".join(f"{c:>22}" for c in cells), flush=True)


CNN_INPUTS = {
    "image": lambda x: x.transpose(0, 3, 1, 2) / 255.0,
    "video": lambda x: (x.reshape(len(x), -1, *x.shape[2:4], 3).transpose(0, 1, 4, 2, 3)
                        .reshape(len(x), -1, *x.shape[2:4]) / 255.0),
    "depth": lambda x: x[:, None],
    "thermal": lambda x: (x[:, None] - 295.0) / 20.0,
    "tactile": lambda x: x.transpose(0, 3, 1, 2) / 255.0,
}


def cnn_probe(data: SynthBindSet, epochs: int = 12, modalities: tuple = tuple(CNN_INPUTS)) -> None:
    """Category accuracy of a small CNN trained from scratch per image-like modality (inputs
    pooled to 32 x 32)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    train, test, unseen = (data.indices(s) for s in ("train", "test", "test_unseen"))
    y = torch.as_tensor(data.factors["category"], dtype=torch.long)
    print(f"\nsmall-CNN category accuracy after {epochs} epochs "
          f"(test / test_unseen; chance {1 / len(data.categories):.2f})")
    for modality in modalities:
        if modality not in data.meta["modalities"] or modality not in CNN_INPUTS:
            continue
        prep = CNN_INPUTS[modality]
        x = torch.as_tensor(prep(np.array(data.array(modality), dtype=np.float32)), dtype=torch.float32)
        x = nn.functional.adaptive_avg_pool2d(x, 32)  # keep the CPU cost small
        mean, std = x[train.start:train.stop].mean(), x[train.start:train.stop].std() + 1e-6
        x = (x - mean) / std
        net = nn.Sequential(
            nn.Conv2d(x.shape[1], 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, 1, 1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, 1, 1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, 1, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, len(data.categories)))
        opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
        t0 = time.perf_counter()
        for _ in range(epochs):
            net.train()
            for batch in torch.randperm(len(train)).split(64):
                idx = batch + train.start
                loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()
        with torch.no_grad():
            acc = [float((net(x[r.start:r.stop]).argmax(1) == y[r.start:r.stop]).float().mean())
                   for r in (test, unseen)]
        print(f"{modality:<11}{acc[0]:.2f} / {acc[1]:.2f}   ({time.perf_counter() - t0:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--cnn", action="store_true")
    parser.add_argument("--cnn-epochs", type=int, default=12)
    parser.add_argument("--cnn-modalities", nargs="+", default=list(CNN_INPUTS))
    parser.add_argument("--modalities", nargs="+", default=None, help="generate only these (default: all)")
    args = parser.parse_args()
    cfg = SynthConfig(seed=args.seed, num_samples=args.num_samples)
    if args.modalities:
        cfg = cfg.replace(modalities=tuple(args.modalities))
    root = args.cache_dir or Path(tempfile.mkdtemp(prefix="synthbind-bench-"))
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        data = generate(cfg, root, workers=args.workers, chunk_size=64)
        wall = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in data.root.iterdir()) / 2**20
        print(f"SynthBind: {cfg.num_samples} samples, {args.workers} workers, {os.cpu_count()} CPUs, "
              f"load average before/after {LOAD0} / {os.getloadavg()[0]:.1f}")
        print(f"  cache_hit={data.cache_hit}  wall {wall:.1f} s  ->  {cfg.num_samples / wall:.1f} samples/s  "
              f"(on disk {size:.0f} MiB; parent CPU {time.process_time() - c0:.1f} s)")
        if args.probe:
            probe(data)
        if args.cnn:
            cnn_probe(data, args.cnn_epochs, tuple(args.cnn_modalities))
    finally:
        if args.cache_dir is None:
            shutil.rmtree(root, ignore_errors=True)


LOAD0 = f"{os.getloadavg()[0]:.1f}"

if __name__ == "__main__":
    main()
