"""Point cloud -> embedding: preprocessing kernels side by side, and the end-to-end rate.

Contenders, interleaved round by round in one run (so a busy machine's load hits all alike):

    torch   the reference: numpy cleaning + torch farthest point sampling / kNN groups
    numba   the compiled kernels (codebind_core/modalities/pointcloud_kernels.py, the default)
    open3d  numba statistics + Open3D's farthest_point_down_sample and KD-tree kNN for the groups

For each cloud size: preprocess p50 / p99 (ms), and preprocess + encode at batch 1 with the model
(default: the shipped tiny demo model, torch backend) as p50 / p99 and the rate 1 / p50 (Hz).
"same" says whether the contender's tensor equals the reference's (open3d: max abs difference).

    .venv/bin/python benchmarks/bench_pointcloud.py
    .venv/bin/python benchmarks/bench_pointcloud.py --sizes 100000 300000 --rounds 20 --threads 2
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine import cpu_model  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import codebind_core as cb  # noqa: E402
from codebind_core.export import create_embedder  # noqa: E402
from codebind_core.modalities import model_options  # noqa: E402
from codebind_core.modalities import pointcloud as pc  # noqa: E402
from codebind_core.modalities import pointcloud_kernels as kernels  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def lidar_like(n: int, seed: int = 0) -> np.ndarray:
    """(n, 3) float32: a ground plane, walls and boxes seen by a range sensor, 1 % NaN returns."""
    rng = np.random.default_rng(seed)
    k = n // 3
    ground = np.c_[rng.uniform(-20, 20, (k, 2)), rng.normal(0, 0.02, k)]
    angle = rng.uniform(0, 2 * np.pi, k)
    walls = np.c_[15 * np.cos(angle), 15 * np.sin(angle), rng.uniform(0, 3, k)]
    boxes = rng.uniform(-1, 1, (n - 2 * k, 3)) * [0.5, 0.5, 1.0] + rng.integers(-8, 8, (n - 2 * k, 1)) * [1, 0.7, 0]
    cloud = np.concatenate([ground, walls, boxes]).astype(np.float32)
    cloud[rng.choice(n, n // 100, replace=False)] = np.nan
    return cloud


def preprocess_open3d(raw: np.ndarray, cfg: pc.PointCloudConfig) -> torch.Tensor:
    """The compiled path with Open3D's FPS and KD-tree groups (fps sampling of large clouds only)."""
    import open3d as o3d
    finite, count, centroid, radius, lo, hi = kernels.cloud_stats(raw)
    rows, run_fps = pc.sampled_rows(count, cfg)
    picked = np.flatnonzero(finite)[rows.numpy()]
    pts = kernels.normalised_rows(raw, picked, centroid, radius, 255.0 if hi > 1 else 1.0)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts[:, :3]))
    cloud.colors = o3d.utility.Vector3dVector(pts[:, 3:])
    if run_fps:
        cloud = cloud.farthest_point_down_sample(cfg.num_points)
    sampled = np.c_[np.asarray(cloud.points), np.asarray(cloud.colors)]
    centres = np.asarray(cloud.farthest_point_down_sample(cfg.num_groups).points)
    tree = o3d.geometry.KDTreeFlann(cloud)
    idx = np.stack([np.asarray(tree.search_knn_vector_3d(c, cfg.group_size)[1]) for c in centres])
    return torch.from_numpy(sampled[idx].astype(np.float32))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 300_000])
    ap.add_argument("--contenders", nargs="+", default=["torch", "numba", "open3d"])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=str(ROOT / "models" / "demo"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = cb.load(args.model, device="cpu")
    embed = create_embedder(model, "pointcloud", "torch")
    opts = {**model_options("pointcloud", model.config.inputs), **model.trained_options("pointcloud")}
    fns = {"torch": lambda a: pc.preprocess(a, kernels="torch", **opts),
           "numba": lambda a: pc.preprocess(a, **opts),
           "open3d": lambda a: preprocess_open3d(a, pc.PointCloudConfig(**opts))}
    print(f"# {cpu_model()}, {os.cpu_count()} CPUs, torch threads {args.threads}, "
          f"load average {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"# {' '.join([Path(sys.executable).name] + sys.argv)}")
    print("| points | kernels | preprocess p50 / p99 ms | + encode p50 / p99 ms | rate Hz | same as torch |")
    print("|---:|---|---:|---:|---:|---|")
    for n in args.sizes:
        raw = lidar_like(n)
        ref = fns["torch"](raw)
        same = {}
        for name in args.contenders:
            out = fns[name](raw)  # also compiles / warms up
            embed(out[None])
            diff = (out - ref).abs().max().item() if out.shape == ref.shape else float("inf")
            same[name] = "yes" if torch.equal(out, ref) else f"no (max diff {diff:.2g})"
        pre = {c: [] for c in args.contenders}
        total = {c: [] for c in args.contenders}
        for r in range(args.rounds):
            order = args.contenders if r % 2 == 0 else args.contenders[::-1]
            for name in order:
                t0 = time.perf_counter()
                x = fns[name](raw)
                t1 = time.perf_counter()
                embed(x[None])
                t2 = time.perf_counter()
                pre[name].append(t1 - t0)
                total[name].append(t2 - t0)
        for name in args.contenders:
            p, t = np.array(pre[name]) * 1e3, np.array(total[name]) * 1e3
            print(f"| {n:,} | {name} | {np.median(p):.1f} / {np.percentile(p, 99):.1f} | "
                  f"{np.median(t):.1f} / {np.percentile(t, 99):.1f} | {1e3 / np.median(t):.1f} | {same[name]} |")
    print(f"# load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
