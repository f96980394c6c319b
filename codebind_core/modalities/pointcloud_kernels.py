"""Compiled (numba) point-cloud kernels: cloud statistics, farthest point sampling, kNN groups.

They compute what the torch reference (:mod:`.pointcloud_ops`) and the numpy cleaning in
:mod:`.pointcloud` compute, in the same float64 arithmetic and order, so the sampled set is the
same (tests compare them on fixed seeds):

- :func:`cloud_stats` makes one pass over the raw cloud for the finite rows, the centroid and the
  radius, instead of copying the whole cloud to float64 and normalising every point; only the
  rows that sampling keeps are normalised afterwards (:func:`normalised_rows`).
- :func:`farthest_point_sample` keeps each point's squared distance to the picked set; the
  arg-max is an integer max over the distances' bit patterns (order-preserving for non-negative
  doubles), which vectorises, then a scan for its first index (torch's arg-max tie rule).
- :func:`group` keeps, per centre, the ``group_size`` nearest points in an insertion-sorted
  buffer (ties: lower index first); the centre itself sorts first. Neighbours at exactly equal
  distances (integer coordinates) may come in another order than torch.topk's, or, at the last
  slot, be another of the tied points; every slot's distance is the same.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

try:  # numba is a listed requirement; without it the torch reference path is used
    from numba import njit
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    HAVE_NUMBA = False


def _cloud_stats(arr):
    """(N, C) float32/float64 -> (finite row mask, count, centroid (3,), radius, rgb lo, rgb hi)."""
    n, c = arr.shape
    finite = np.empty(n, np.bool_)
    count = 0
    sx = 0.0
    sy = 0.0
    sz = 0.0
    for i in range(n):
        ok = True
        for j in range(c):
            v = arr[i, j]
            if not np.isfinite(v):
                ok = False
        finite[i] = ok
        if ok:
            count += 1
            sx += np.float64(arr[i, 0])
            sy += np.float64(arr[i, 1])
            sz += np.float64(arr[i, 2])
    centroid = np.zeros(3)
    if count > 0:
        centroid[0] = sx / count
        centroid[1] = sy / count
        centroid[2] = sz / count
    radius = 0.0
    lo = np.inf
    hi = -np.inf
    for i in range(n):
        if finite[i]:
            dx = np.float64(arr[i, 0]) - centroid[0]
            dy = np.float64(arr[i, 1]) - centroid[1]
            dz = np.float64(arr[i, 2]) - centroid[2]
            r = np.sqrt(dx * dx + dy * dy + dz * dz)
            radius = r if r > radius else radius
            for j in range(3, c):
                v = np.float64(arr[i, j])
                lo = v if v < lo else lo
                hi = v if v > hi else hi
    return finite, count, centroid, radius, lo, hi


def _farthest_point_sample(xyz, k, start):
    """(N, 3) float64 -> (k,) int64 indices (see :func:`.pointcloud_ops.farthest_point_sample`)."""
    n = xyz.shape[0]
    x = xyz[:, 0].copy()
    y = xyz[:, 1].copy()
    z = xyz[:, 2].copy()
    nearest = np.full(n, np.inf)
    bits = nearest.view(np.int64)
    picked = np.empty(k, np.int64)
    cur = start
    for i in range(k):
        picked[i] = cur
        cx, cy, cz = x[cur], y[cur], z[cur]
        for j in range(n):
            dx = x[j] - cx
            dy = y[j] - cy
            dz = z[j] - cz
            d = dx * dx + dy * dy + dz * dz
            m = nearest[j]
            nearest[j] = d if d < m else m
        best = np.int64(-1)
        for j in range(n):
            b = bits[j]
            best = b if b > best else best
        for j in range(n):
            if bits[j] == best:
                cur = j
                break
    return picked


def _group_indices(xyz, centres, group_size):
    """(N, 3) float64, (G,) int64 centres -> (G, group_size) int64 nearest indices, nearest first."""
    n = xyz.shape[0]
    g = centres.shape[0]
    out = np.empty((g, group_size), np.int64)
    dist = np.empty(group_size)
    for c in range(g):
        ci = centres[c]
        cx, cy, cz = xyz[ci, 0], xyz[ci, 1], xyz[ci, 2]
        out[c, 0] = ci
        dist[0] = -1.0  # the centre sorts first
        filled = 1
        for j in range(n):
            if j == ci:
                continue
            dx = xyz[j, 0] - cx
            dy = xyz[j, 1] - cy
            dz = xyz[j, 2] - cz
            d = np.sqrt(dx * dx + dy * dy + dz * dz)
            if filled == group_size and d >= dist[group_size - 1]:
                continue
            pos = filled if filled < group_size else group_size - 1
            while pos > 1 and dist[pos - 1] > d:
                if pos < group_size:
                    dist[pos] = dist[pos - 1]
                    out[c, pos] = out[c, pos - 1]
                pos -= 1
            dist[pos] = d
            out[c, pos] = j
            if filled < group_size:
                filled += 1
    return out


if HAVE_NUMBA:
    _cloud_stats_jit = njit(cache=True)(_cloud_stats)
    _fps_jit = njit(cache=True)(_farthest_point_sample)
    _group_jit = njit(cache=True)(_group_indices)


def cloud_stats(arr: np.ndarray) -> Tuple[np.ndarray, int, np.ndarray, float, float, float]:
    """Finite-row mask, finite count, centroid, radius (farthest finite point from the centroid)
    and the min / max of the colour columns over finite rows (inf / -inf without colours)."""
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    finite, count, centroid, radius, lo, hi = _cloud_stats_jit(np.ascontiguousarray(arr))
    return finite, int(count), centroid, float(radius), float(lo), float(hi)


def normalised_rows(arr: np.ndarray, rows: np.ndarray, centroid: np.ndarray, radius: float,
                    rgb_scale: float) -> np.ndarray:
    """The given rows of the raw cloud as (len(rows), 6) float64: xyz centred and divided by the
    radius, rgb divided by ``rgb_scale`` (zeros without colours)."""
    sel = arr[rows].astype(np.float64)
    out = np.zeros((len(rows), 6))
    out[:, :3] = sel[:, :3] - centroid
    if radius > 0:
        out[:, :3] /= radius
    if arr.shape[1] == 6:
        out[:, 3:] = sel[:, 3:] / rgb_scale if rgb_scale != 1.0 else sel[:, 3:]
    return out


def farthest_point_sample(xyz: np.ndarray, k: int, start: int = 0) -> np.ndarray:
    """(N, 3) float64 points -> (k,) int64 indices of farthest point sampling from ``start``."""
    n = xyz.shape[0]
    if xyz.ndim != 2 or xyz.shape[1] != 3 or not 0 <= start < n or k < 1:
        raise ValueError(f"farthest_point_sample: expected (N, 3) points, k >= 1, 0 <= start < N, "
                         f"got shape {xyz.shape}, k={k}, start={start}")
    return _fps_jit(np.ascontiguousarray(xyz, np.float64), int(k), int(start))


def group(points: np.ndarray, centres: np.ndarray, group_size: int) -> np.ndarray:
    """(N, C) points (xyz first), (G,) centre indices -> (G, group_size, C) groups, each the
    centre's nearest points sorted by distance, the centre first."""
    if group_size > points.shape[0]:
        raise ValueError(f"group: group_size={group_size} exceeds the {points.shape[0]} points")
    xyz = np.ascontiguousarray(points[:, :3], np.float64)
    idx = _group_jit(xyz, np.ascontiguousarray(centres, np.int64), int(group_size))
    return points[idx]


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernels on a tiny cloud, so that a service's first
    message does not pay the compilation (seconds on a busy 2-core machine)."""
    if not HAVE_NUMBA:
        return
    pts = np.random.default_rng(0).normal(size=(16, 6))
    for arr in (pts, pts.astype(np.float32)):
        cloud_stats(arr)
    group(pts, farthest_point_sample(pts[:, :3], 4), 2)
