"""Object categories: mesh builders (open3d primitives) and the per-category physics constants.

Every category is one :class:`CategorySpec` in :data:`CATEGORIES`; adding a category means adding
one entry. Meshes are normalised to a unit bounding sphere centred at the origin, so the
``scale`` factor of a sample is its bounding radius in metres.

Impact-sound modes (used by :mod:`.audio`): ``mode_ratios`` are the frequencies of the first
modes relative to the fundamental, stylised from textbook free-body vibration: free-free
Euler-Bernoulli bar (1, 2.757, 5.404, 8.933) for long shapes, in-plane ring bending
n(n^2-1)/sqrt(n^2+1) for rings, free square plate (1, 1.46, 1.80, 2.59) for boxes, and a
near-harmonic cluster for compact solids whose degenerate modes split with fewer faces. They are
not an FEM of the exact mesh. ``mode_constant`` sets the fundamental: f1 = mode_constant *
material stiffness / bounding radius [Hz] (bigger objects ring lower).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Dict, Tuple

import numpy as np
import open3d as o3d

_TM = o3d.geometry.TriangleMesh


@dataclass(frozen=True)
class CategorySpec:
    """One object category.

    Attributes:
        name: identifier (also the default caption noun).
        build: returns the open3d legacy mesh (any size and placement; it is normalised).
        synonyms: caption nouns; the first is the canonical class name used for prompts.
        mode_ratios: impact-sound modal frequencies relative to the fundamental.
        mode_constant: f1 [Hz * m] for a material of stiffness 1 and a bounding radius of 1 m.
    """

    name: str
    build: Callable[[], "o3d.geometry.TriangleMesh"]
    synonyms: Tuple[str, ...]
    mode_ratios: Tuple[float, ...]
    mode_constant: float


CATEGORIES: Dict[str, CategorySpec] = {c.name: c for c in [
    CategorySpec("box", lambda: _TM.create_box(1.0, 0.8, 0.6), ("box", "block", "crate"),
                 (1.0, 1.46, 1.80, 2.59, 3.34), 220.0),
    CategorySpec("sphere", lambda: _TM.create_sphere(1.0, 20), ("sphere", "ball", "orb"),
                 (1.0, 1.53, 2.03, 2.51, 2.98), 260.0),
    CategorySpec("cylinder", lambda: _TM.create_cylinder(0.5, 2.0, 24), ("cylinder", "can", "rod"),
                 (1.0, 2.757, 5.404, 8.933), 150.0),
    CategorySpec("cone", lambda: _TM.create_cone(1.0, 2.0, 24), ("cone", "pointed cone", "spike"),
                 (1.0, 2.15, 3.55, 5.2), 180.0),
    CategorySpec("torus", lambda: _TM.create_torus(1.0, 0.4, 40, 16), ("torus", "ring", "donut"),
                 (1.0, 2.828, 5.423, 8.771), 90.0),
    CategorySpec("arrow", lambda: _TM.create_arrow(0.35, 0.7, 2.0, 1.0, 20),
                 ("arrow", "pointer", "arrow marker"), (1.0, 2.46, 5.95, 9.9), 70.0),
    CategorySpec("icosahedron", lambda: _TM.create_icosahedron(1.0),
                 ("icosahedron", "twenty-sided die", "d20"), (1.0, 1.08, 1.61, 1.70, 2.24), 240.0),
    CategorySpec("octahedron", lambda: _TM.create_octahedron(1.0),
                 ("octahedron", "eight-sided die", "diamond"), (1.0, 1.22, 1.89, 2.15, 2.74), 230.0),
    CategorySpec("tetrahedron", lambda: _TM.create_tetrahedron(1.0),
                 ("tetrahedron", "pyramid", "four-sided die"), (1.0, 1.37, 2.21, 2.66, 3.40), 210.0),
    CategorySpec("mobius", lambda: _TM.create_mobius(80, 12, 1, 1.0, 1.0, 0.6, 1.0),
                 ("mobius strip", "twisted loop", "twisted band"), (1.0, 2.17, 3.96, 6.13, 8.6), 80.0),
    # extra categories (not in the default set): near neighbours of the defaults, for harder variants
    CategorySpec("hex_prism", lambda: _TM.create_cylinder(0.8, 1.2, 6),
                 ("hexagonal prism", "hex nut", "hexagonal block"), (1.0, 1.62, 2.45, 3.1), 200.0),
    CategorySpec("ellipsoid", lambda: _TM.create_ellipsoid(1.0, 0.65, 0.4, 20), ("ellipsoid", "egg", "pebble"),
                 (1.0, 1.31, 2.12, 2.7, 3.5), 240.0),
]}

# non-category meshes (occluders, floors); "cube" has half-side CUBE_HALF_SIDE once normalised
PROPS: Dict[str, Callable[[], "o3d.geometry.TriangleMesh"]] = {
    "cube": lambda: _TM.create_box(1.0, 1.0, 1.0),
}
CUBE_HALF_SIDE = 1.0 / np.sqrt(3.0)

DEFAULT_CATEGORIES: Tuple[str, ...] = ("box", "sphere", "cylinder", "cone", "torus", "arrow",
                                       "icosahedron", "octahedron", "tetrahedron", "mobius")


@dataclass
class UnitMesh:
    """A category mesh normalised to a unit bounding sphere, with what sampling and ray casting need.

    Attributes:
        name: category name.
        vertices: (V, 3) float32.
        triangles: (F, 3) int64 vertex indices.
        face_normals: (F, 3) float64 unit normals (winding order; meshes may be one-sided).
        face_cdf: (F,) cumulative area fractions, for area-weighted surface sampling.
    """

    name: str
    vertices: np.ndarray
    triangles: np.ndarray
    face_normals: np.ndarray
    face_cdf: np.ndarray
    _scene: object = field(default=None, repr=False)

    @property
    def scene(self) -> "o3d.t.geometry.RaycastingScene":
        """An open3d RaycastingScene holding only this mesh in its canonical frame (built once)."""
        if self._scene is None:
            scene = o3d.t.geometry.RaycastingScene()
            scene.add_triangles(o3d.core.Tensor(self.vertices),
                                o3d.core.Tensor(self.triangles.astype(np.uint32)))
            self._scene = scene
        return self._scene

    def sample_surface(self, n: int, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        """``n`` points drawn uniformly over the surface area, and their face normals."""
        faces = np.minimum(np.searchsorted(self.face_cdf, rng.random(n)), len(self.face_cdf) - 1)
        r1, r2 = rng.random(n), rng.random(n)
        s1 = np.sqrt(r1)
        tri = self.vertices[self.triangles[faces]].astype(np.float64)
        pts = ((1 - s1)[:, None] * tri[:, 0] + (s1 * (1 - r2))[:, None] * tri[:, 1]
               + (s1 * r2)[:, None] * tri[:, 2])
        return pts, self.face_normals[faces]


def stretched_axes(mesh: UnitMesh, aspect: np.ndarray, radius: float = 1.0) -> np.ndarray:
    """Per-axis scale that stretches the canonical mesh by ``aspect`` (3,) and keeps its bounding
    radius equal to ``radius`` (intra-class shape variation at a fixed size)."""
    aspect = np.asarray(aspect, dtype=np.float64)
    if aspect.shape != (3,) or np.any(~np.isfinite(aspect)) or np.any(aspect <= 0):
        raise ValueError(f"aspect must be 3 positive numbers, got {aspect!r}")
    return radius * aspect / float(np.linalg.norm(mesh.vertices * aspect, axis=1).max())


def category_spec(name: str) -> CategorySpec:
    """The registered :class:`CategorySpec` called ``name`` (ValueError if unknown)."""
    if name not in CATEGORIES:
        raise ValueError(f"unknown category {name!r}; known: {sorted(CATEGORIES)}")
    return CATEGORIES[name]


@functools.lru_cache(maxsize=None)
def unit_mesh(name: str) -> UnitMesh:
    """The normalised mesh of category (or prop) ``name``, built once per process."""
    legacy = PROPS[name]() if name in PROPS else category_spec(name).build()
    v = np.asarray(legacy.vertices, dtype=np.float64)
    tri = np.asarray(legacy.triangles, dtype=np.int64)
    centre = 0.5 * (v.min(axis=0) + v.max(axis=0))
    v = v - centre
    v /= np.linalg.norm(v, axis=1).max()
    p0, p1, p2 = v[tri[:, 0]], v[tri[:, 1]], v[tri[:, 2]]
    cross = np.cross(p1 - p0, p2 - p0)
    double_area = np.linalg.norm(cross, axis=1)
    keep = double_area > 1e-12
    tri, cross, double_area = tri[keep], cross[keep], double_area[keep]
    cdf = np.cumsum(double_area)
    return UnitMesh(name=name, vertices=v.astype(np.float32), triangles=tri,
                    face_normals=cross / double_area[:, None], face_cdf=cdf / cdf[-1])
