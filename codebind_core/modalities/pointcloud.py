"""pointcloud: (N, 3) xyz or (N, 6) xyz + rgb -> (G, k, 6) float32 point groups (Point-BERT style,
the tokenisation of ViT-Lens' point encoder).

Steps:
1. points with any non-finite coordinate or colour are dropped; fewer than ``min_points`` left
   raises ValueError. rgb in [0, 1] is kept, rgb in [0, 255] is divided by 255; no rgb -> zeros.
2. normalised: centred at the centroid, scaled so the farthest point is at distance 1.
3. ``num_points`` points sampled: farthest point sampling (``sampling="fps"``, deterministic,
   starting at the first point; clouds above ``fps_candidates`` points are first thinned by a
   seeded random subset) or a seeded random subset (``"random"``). Clouds with fewer points are
   topped up by seeded sampling with replacement.
4. ``num_groups`` centres by farthest point sampling; each group is the centre's ``group_size``
   nearest sampled points sorted by distance, so index 0 is the centre itself. Coordinates stay
   absolute in the normalised frame (an encoder subtracts the centre if it wants local ones).

``kernels="numba"`` (default) runs steps 1-4 in compiled code (:mod:`.pointcloud_kernels`): one
pass over the raw cloud for its statistics, only the kept rows normalised; ``"torch"`` is the
reference (numpy cleaning, torch sampling). Both give the same tensor (tested on fixed seeds).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Sequence, Tuple

import numpy as np
import torch

from . import _checks
from . import pointcloud_kernels as kernels
from .pointcloud_ops import farthest_point_sample, group

NAME = "pointcloud"
MAX_POINTS = 1 << 24
SAMPLINGS = ("fps", "random")
KERNELS = ("numba", "torch")


@dataclass(frozen=True)
class PointCloudConfig(_checks.ModalityOptions):
    """Point-cloud options.

    Attributes:
        num_points: points kept after sampling (1024).
        num_groups: G group centres (64).
        group_size: k points per group (32).
        sampling: ``fps`` or ``random``.
        seed: seed of every random choice (random sampling, thinning, topping up).
        min_points: fewest finite points accepted.
        fps_candidates: clouds above this size are randomly thinned to it before FPS (bounds time).
        kernels: ``numba`` (compiled, default) or ``torch`` (the reference); same result.
    """

    NAME: ClassVar[str] = NAME
    num_points: int = 1024
    num_groups: int = 64
    group_size: int = 32
    sampling: str = "fps"
    seed: int = 0
    min_points: int = 16
    fps_candidates: int = 8192
    kernels: str = "numba"

    def validate(self) -> None:
        super().validate()
        self.check_range("num_points", 1, 1 << 16, integer=True)
        self.check_range("num_groups", 1, self.num_points, integer=True)
        self.check_range("group_size", 1, self.num_points, integer=True)
        self.check_choice("sampling", SAMPLINGS)
        self.check_range("seed", 0, 2**63 - 1, integer=True)
        self.check_range("min_points", 1, MAX_POINTS, integer=True)
        self.check_range("fps_candidates", self.num_points, MAX_POINTS, integer=True)
        self.check_choice("kernels", KERNELS)
        if self.kernels == "numba" and not kernels.HAVE_NUMBA:
            raise ValueError(f"{NAME}: kernels='numba' needs the numba package (pip install numba); "
                             "kernels='torch' runs without it")

    def output_shape(self) -> Tuple[int, ...]:
        return (self.num_groups, self.group_size, 6)


DEFAULTS = PointCloudConfig()
MODEL_OPTIONS = {"num_groups": "num_groups", "group_size": "group_size"}


def _checked_array(raw: Any) -> np.ndarray:
    """``raw`` as an (N, 3) or (N, 6) array of 1 to MAX_POINTS rows; ValueError otherwise."""
    arr = _checks.to_array(NAME, raw)
    _checks.require_ndim(NAME, arr, (2,), "2-D (N, 3) or (N, 6)")
    if arr.shape[1] not in (3, 6):
        raise ValueError(f"{NAME}: expected 3 (xyz) or 6 (xyz + rgb) columns, got shape {tuple(arr.shape)}")
    _checks.require_nonempty(NAME, arr)
    _checks.require_at_most(NAME, arr.shape[0], MAX_POINTS, "points")
    return arr


def clean_points(raw: Any, min_points: int) -> np.ndarray:
    """Validated (N, 6) float64 xyz + rgb in [0, 1] with non-finite points dropped."""
    arr = _checked_array(raw)
    pts = arr.astype(np.float64)
    finite = np.isfinite(pts).all(axis=1)
    pts = pts[finite]
    if pts.shape[0] < min_points:
        raise ValueError(f"{NAME}: only {pts.shape[0]} finite points (of {arr.shape[0]}), "
                         f"need at least min_points={min_points}")
    if pts.shape[1] == 3:
        return np.concatenate([pts, np.zeros_like(pts)], axis=1)
    rgb = pts[:, 3:]
    lo, hi = float(rgb.min()), float(rgb.max())
    if lo < 0 or hi > 255:
        raise ValueError(f"{NAME}: rgb must lie in [0, 1] or [0, 255], got [{lo:g}, {hi:g}]")
    if hi > 1:
        pts[:, 3:] = rgb / 255.0
    return pts


def normalise(pts: np.ndarray) -> np.ndarray:
    """Centre xyz at the centroid and scale into the unit sphere (in place, returns ``pts``)."""
    pts[:, :3] -= pts[:, :3].mean(axis=0)
    radius = float(np.sqrt((pts[:, :3] ** 2).sum(axis=1)).max())
    if radius > 0:
        pts[:, :3] /= radius
    return pts


def sample(pts: torch.Tensor, cfg: PointCloudConfig) -> torch.Tensor:
    """(N, 6) -> (num_points, 6) by the configured sampling."""
    gen = torch.Generator().manual_seed(cfg.seed)
    n = pts.shape[0]
    if n <= cfg.num_points:
        extra = torch.randint(n, (cfg.num_points - n,), generator=gen)
        return torch.cat([pts, pts[extra]])
    if cfg.sampling == "random":
        return pts[torch.randperm(n, generator=gen)[:cfg.num_points]]
    if n > cfg.fps_candidates:
        pts = pts[torch.randperm(n, generator=gen)[:cfg.fps_candidates].sort().values]
    return pts[farthest_point_sample(pts[None, :, :3], cfg.num_points)[0]]


def sampled_rows(n: int, cfg: PointCloudConfig) -> Tuple[torch.Tensor, bool]:
    """Rows of an n-point cleaned cloud that :func:`sample` draws (same generator calls), and
    whether farthest point sampling still runs over them."""
    gen = torch.Generator().manual_seed(cfg.seed)
    if n <= cfg.num_points:
        return torch.cat([torch.arange(n), torch.randint(n, (cfg.num_points - n,), generator=gen)]), False
    if cfg.sampling == "random":
        return torch.randperm(n, generator=gen)[:cfg.num_points], False
    if n > cfg.fps_candidates:
        return torch.randperm(n, generator=gen)[:cfg.fps_candidates].sort().values, True
    return torch.arange(n), True


def preprocess_compiled(raw: Any, cfg: PointCloudConfig) -> torch.Tensor:
    """:func:`preprocess` with the numba kernels: statistics in one pass over the raw cloud, only
    the sampled rows normalised (same arithmetic as :func:`clean_points` + :func:`normalise`)."""
    arr = _checked_array(raw)
    finite, count, centroid, radius, lo, hi = kernels.cloud_stats(arr)
    if count < cfg.min_points:
        raise ValueError(f"{NAME}: only {count} finite points (of {arr.shape[0]}), "
                         f"need at least min_points={cfg.min_points}")
    if arr.shape[1] == 6 and (lo < 0 or hi > 255):
        raise ValueError(f"{NAME}: rgb must lie in [0, 1] or [0, 255], got [{lo:g}, {hi:g}]")
    rows, run_fps = sampled_rows(count, cfg)
    finite_rows = np.flatnonzero(finite) if count < arr.shape[0] else None
    picked = rows.numpy() if finite_rows is None else finite_rows[rows.numpy()]
    pts = kernels.normalised_rows(arr, picked, centroid, radius, 255.0 if hi > 1 else 1.0)
    if run_fps:
        pts = pts[kernels.farthest_point_sample(pts[:, :3], cfg.num_points)]
    centres = kernels.farthest_point_sample(pts[:, :3], cfg.num_groups)
    return torch.from_numpy(kernels.group(pts, centres, cfg.group_size).astype(np.float32))


def preprocess(raw: Any, **options: Any) -> torch.Tensor:
    """One (N, 3) or (N, 6) cloud -> (num_groups, group_size, 6) float32."""
    cfg = _checks.parse_options(NAME, PointCloudConfig, options)
    if cfg.kernels == "numba":
        return preprocess_compiled(raw, cfg)
    pts = torch.from_numpy(normalise(clean_points(raw, cfg.min_points)))
    pts = sample(pts, cfg)
    centres = farthest_point_sample(pts[None, :, :3], cfg.num_groups)
    return group(pts[None], centres, cfg.group_size)[0].to(torch.float32).contiguous()


def preprocess_batch(raws: Sequence[Any], **options: Any) -> torch.Tensor:
    """A list of clouds (any sizes) -> (B, num_groups, group_size, 6)."""
    return _checks.stack_batch(NAME, preprocess, raws, options)


def example(rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """A (2048, 6) float32 cloud: a mug-like cylinder with a handle, rgb in [0, 1], a few NaN rows
    (as depth-camera clouds have)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    n_body, n_handle = 1800, 248
    theta, z = rng.uniform(0, 2 * np.pi, n_body), rng.uniform(0.0, 0.1, n_body)
    body = np.stack([0.04 * np.cos(theta), 0.04 * np.sin(theta), z], axis=1)
    phi = rng.uniform(-np.pi / 2, np.pi / 2, n_handle)
    handle = np.stack([0.04 + 0.025 * np.cos(phi), np.zeros(n_handle), 0.05 + 0.03 * np.sin(phi)], axis=1)
    xyz = np.concatenate([body, handle]) + rng.normal(0, 0.0005, size=(n_body + n_handle, 3))
    colour = rng.uniform(0.2, 0.9, size=3)
    rgb = np.clip(colour + rng.normal(0, 0.03, size=xyz.shape), 0, 1)
    cloud = np.concatenate([xyz, rgb], axis=1).astype(np.float32)
    cloud[rng.choice(len(cloud), 8, replace=False), :3] = np.nan
    return cloud
