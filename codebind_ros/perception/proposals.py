"""Class-agnostic object proposals: point-cloud clusters projected into the camera, image windows.

Cloud proposals: remove the dominant plane (open3d RANSAC ``segment_plane``: the floor or table),
cluster the remaining points with DBSCAN, and describe each cluster by a 3-D centre and size in
the camera frame plus the 2-D box of its projection through the CameraInfo intrinsics. Window
proposals: sliding windows at a few scales, with a 3-D point from the depth image when there is
one. Everything is in the camera optical frame (x right, y down, z forward).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from codebind_core.geometry import Pinhole

Box = Tuple[float, float, float, float]


@dataclass
class ProposalConfig:
    """Proposal settings (metres and pixels).

    Attributes:
        voxel_size: the cloud is voxel-downsampled to this grid first (0: no downsampling).
        plane_distance: RANSAC inlier distance of the dominant plane.
        plane_iterations: RANSAC iterations.
        min_plane_fraction: the plane is removed only if it holds at least this share of points.
        cluster_eps, cluster_min_points: DBSCAN neighbourhood radius and core-point count.
        min_cluster_points: smaller clusters are noise.
        max_cluster_extent: clusters larger than this (walls, furniture) are skipped.
        max_clusters: keep at most this many (largest first).
        box_margin: the projected box grows by this fraction of its size on each side.
        window_scales: window side as a fraction of the image's shorter side ([] = no windows).
        window_stride: window step as a fraction of the window side.
        max_points: larger clouds are rejected (bounded work).
        max_range: points farther than this from the camera (m) are ignored.
        seed: RANSAC seed (deterministic proposals).
    """

    voxel_size: float = 0.01
    plane_distance: float = 0.01
    plane_iterations: int = 200
    min_plane_fraction: float = 0.2
    cluster_eps: float = 0.03
    cluster_min_points: int = 10
    min_cluster_points: int = 30
    max_cluster_extent: float = 1.5
    max_clusters: int = 20
    box_margin: float = 0.1
    window_scales: Tuple[float, ...] = (0.5, 0.3)
    window_stride: float = 0.5
    max_points: int = 2_000_000
    max_range: float = 100.0
    seed: int = 0

    def __post_init__(self) -> None:
        self.window_scales = tuple(float(s) for s in self.window_scales)
        checks = [
            (self.voxel_size >= 0, "voxel_size must be >= 0"),
            (self.plane_distance > 0, "plane_distance must be > 0"),
            (self.plane_iterations >= 1, "plane_iterations must be >= 1"),
            (0 <= self.min_plane_fraction <= 1, "min_plane_fraction must be in [0, 1]"),
            (self.cluster_eps > 0, "cluster_eps must be > 0"),
            (self.cluster_min_points >= 1 and self.min_cluster_points >= 1, "cluster point counts must be >= 1"),
            (self.max_cluster_extent > 0, "max_cluster_extent must be > 0"),
            (self.max_clusters >= 1, "max_clusters must be >= 1"),
            (self.box_margin >= 0, "box_margin must be >= 0"),
            (all(0 < s <= 1 for s in self.window_scales), "window_scales must be in (0, 1]"),
            (0 < self.window_stride <= 1, "window_stride must be in (0, 1]"),
            (self.max_points >= 1, "max_points must be >= 1"),
            (self.max_range > 0, "max_range must be > 0"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"ProposalConfig: {msg}")


@dataclass
class Proposal:
    """One candidate object.

    Attributes:
        box: (x0, y0, x1, y1) pixel box in the camera image (clipped to it).
        position: (3,) centre in the camera frame (m), or None without 3-D support.
        size: (3,) extent along x, y, z of the camera frame (m), or None.
        source: "cloud" or "window".
        num_points: cloud points supporting it (0 for windows).
        pixels: (N, 2) int (u, v) pixels the cluster's points project to (None for windows).
    """

    box: Box
    position: Optional[np.ndarray]
    size: Optional[np.ndarray]
    source: str
    num_points: int = 0
    pixels: Optional[np.ndarray] = None


def depth_to_points(depth: np.ndarray, camera: Pinhole, stride: int = 1) -> np.ndarray:
    """(H, W) depth in metres -> (N, 3) points of the valid pixels (finite, > 0), optical frame."""
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f"depth must be (H, W), got shape {depth.shape}")
    if depth.shape != (camera.height, camera.width):
        raise ValueError(f"depth is {depth.shape[1]}x{depth.shape[0]} but CameraInfo is "
                         f"{camera.width}x{camera.height}")
    v, u = np.mgrid[0: depth.shape[0]: stride, 0: depth.shape[1]: stride]
    z = depth[::stride, ::stride]
    valid = np.isfinite(z) & (z > 0)
    return camera.back_project(u[valid], v[valid], z[valid]).astype(np.float32)


def estimate_centre(points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Centre and size of an object seen from the camera at the origin.

    A camera sees only the near side of an object, so the mean of its points lies in front of the
    centre. Along the viewing ray through the points we place the centre one lateral radius
    behind the nearest surface (exact for a sphere, close for compact objects); across the ray,
    the middle of the lateral extent. The size is the axis-aligned extent of the points, deepened
    to the lateral diameter when the far side is unseen."""
    p = np.asarray(points, dtype=np.float64)
    ray = p.mean(axis=0)
    ray /= max(np.linalg.norm(ray), 1e-9)
    along = p @ ray
    # an orthonormal basis (a, b) of the plane across the ray
    a = np.cross(ray, [0.0, 1.0, 0.0] if abs(ray[1]) < 0.9 else [1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(ray, a)
    pa, pb = p @ a, p @ b
    lo_a, hi_a = np.percentile(pa, [1, 99])
    lo_b, hi_b = np.percentile(pb, [1, 99])
    radius = 0.5 * max(hi_a - lo_a, hi_b - lo_b)
    near = np.percentile(along, 1)
    centre = 0.5 * (lo_a + hi_a) * a + 0.5 * (lo_b + hi_b) * b + (near + radius) * ray
    size = p.max(axis=0) - p.min(axis=0)
    size[2] = max(size[2], 2 * radius)
    return centre.astype(np.float32), size.astype(np.float32)


def _clip_box(u: np.ndarray, v: np.ndarray, camera: Pinhole, margin: float) -> Optional[Box]:
    ok = np.isfinite(u) & np.isfinite(v)
    if not ok.any():
        return None
    x0, x1, y0, y1 = u[ok].min(), u[ok].max(), v[ok].min(), v[ok].max()
    mx, my = margin * (x1 - x0 + 1), margin * (y1 - y0 + 1)
    x0, x1 = max(0.0, x0 - mx), min(camera.width - 1.0, x1 + mx)
    y0, y1 = max(0.0, y0 - my), min(camera.height - 1.0, y1 + my)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return float(x0), float(y0), float(x1), float(y1)


def remove_dominant_plane(points: np.ndarray, cfg: ProposalConfig) -> np.ndarray:
    """Points off the dominant plane (all points when no plane holds min_plane_fraction)."""
    import open3d as o3d

    if points.shape[0] < 3:
        return points
    o3d.utility.random.seed(cfg.seed)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points.astype(np.float64)))
    _, inliers = cloud.segment_plane(cfg.plane_distance, 3, cfg.plane_iterations)
    if len(inliers) < cfg.min_plane_fraction * points.shape[0]:
        return points
    keep = np.ones(points.shape[0], bool)
    keep[np.asarray(inliers, dtype=np.int64)] = False
    return points[keep]


def cloud_proposals(points: np.ndarray, camera: Pinhole, cfg: ProposalConfig = ProposalConfig()) -> List[Proposal]:
    """Proposals from an (N, >=3) cloud in the camera optical frame (plane removed, DBSCAN)."""
    import open3d as o3d

    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ValueError(f"points must be (N, 3+), got shape {pts.shape}")
    if pts.shape[0] > cfg.max_points:
        raise ValueError(f"cloud has {pts.shape[0]} points; the limit is {cfg.max_points}")
    pts = pts[:, :3]
    with np.errstate(invalid="ignore", over="ignore"):
        pts = pts[np.isfinite(pts).all(axis=1) & (np.abs(pts) <= cfg.max_range).all(axis=1)]
    if pts.shape[0] < cfg.min_cluster_points:
        return []
    try:
        if cfg.voxel_size > 0:
            cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts.astype(np.float64)))
            pts = np.asarray(cloud.voxel_down_sample(cfg.voxel_size).points, dtype=np.float32)
        rest = remove_dominant_plane(pts, cfg)
        if rest.shape[0] < cfg.min_cluster_points:
            return []
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(rest.astype(np.float64)))
        labels = np.asarray(cloud.cluster_dbscan(cfg.cluster_eps, cfg.cluster_min_points), dtype=np.int64)
    except RuntimeError as exc:  # open3d reports degenerate geometry this way
        raise ValueError(f"point cloud rejected by open3d: {exc}") from None
    found = []
    for label in range(labels.max(initial=-1) + 1):
        members = rest[labels == label]
        if members.shape[0] < cfg.min_cluster_points:
            continue
        extent = members.max(axis=0) - members.min(axis=0)
        if extent.max() > cfg.max_cluster_extent or members[:, 2].max() <= 0:
            continue
        uv = camera.project(members)
        box = _clip_box(uv[:, 0], uv[:, 1], camera, cfg.box_margin)
        if box is None:
            continue
        centre, size = estimate_centre(members)
        ok = np.isfinite(uv).all(axis=1)
        pixels = np.rint(uv[ok]).astype(np.int32)
        found.append(Proposal(box, centre, size, "cloud", int(members.shape[0]), pixels[camera.in_image(pixels)]))
    found.sort(key=lambda p: -p.num_points)
    return found[: cfg.max_clusters]


def window_proposals(width: int, height: int, cfg: ProposalConfig = ProposalConfig(),
                     depth: Optional[np.ndarray] = None, camera: Optional[Pinhole] = None) -> List[Proposal]:
    """Sliding windows at ``cfg.window_scales``; with ``depth`` and ``camera``, each window gets
    the 3-D point of the median valid depth of its central half."""
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    out = []
    for scale in cfg.window_scales:
        side = max(2, int(round(scale * min(width, height))))
        step = max(1, int(round(cfg.window_stride * side)))
        for y0 in _starts(height, side, step):
            for x0 in _starts(width, side, step):
                box = (float(x0), float(y0), float(x0 + side - 1), float(y0 + side - 1))
                position = None
                if depth is not None and camera is not None:
                    position = _window_point(depth, camera, box)
                out.append(Proposal(box, position, None, "window"))
    return out


def _starts(length: int, side: int, step: int) -> List[int]:
    if side >= length:
        return [0]
    starts = list(range(0, length - side + 1, step))
    if starts[-1] != length - side:
        starts.append(length - side)
    return starts


def _window_point(depth: np.ndarray, camera: Pinhole, box: Box) -> Optional[np.ndarray]:
    x0, y0, x1, y1 = box
    qx, qy = (x1 - x0) / 4, (y1 - y0) / 4
    patch = depth[int(y0 + qy): int(y1 - qy) + 1, int(x0 + qx): int(x1 - qx) + 1]
    z = patch[np.isfinite(patch) & (patch > 0)]
    if z.size == 0:
        return None
    return camera.back_project([(x0 + x1) / 2], [(y0 + y1) / 2], [float(np.median(z))])[0].astype(np.float32)
