"""Multi-object tabletop scenes for the ROS sensor player: objects on a floor, seen by a posed
RGB-D + thermal camera, plus each object's impact sound and tactile patch.

World frame (REP 103): x forward, y left, z up; the floor is the plane z = 0. Each object stands
in its category's canonical orientation (cylinders and arrows upright, rings lying flat) turned by
``yaw`` about z and lifted so its lowest point touches the floor. The camera follows the optical
convention of :class:`PinholeCamera` (use :meth:`PinholeCamera.look_at_pose`).

A :class:`TabletopScene` is built once and rendered from any number of camera poses;
:func:`render_scene` is the one-call shortcut. Everything is deterministic in ``seed``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .appearance import BACKGROUNDS, COLOURS, linear_to_srgb_u8, palette_linear
from .audio import impact_sound
from .camera import PinholeCamera
from .factors import stream_rng
from .geometry import axis_rotation
from .materials import material_spec
from .patterns import PATTERNS
from .raycast import Hits, ObjectPose, cast_objects
from .shading import Lighting, Paint, background_image, camera_noise, shade
from .shapes import category_spec, unit_mesh
from .tactile import gelsight_image
from .thermal import HeatSource, apparent_radiance, sensor, to_kelvin

FLOOR_HALF_SIZE = 10.0  # m
FLOOR_ALBEDO = np.array([0.30, 0.27, 0.22])
FLOOR_EMISSIVITY = 0.95
UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class ObjectSpec:
    """One object of a scene (names as in the SynthBind registries)."""

    category: str
    position: Tuple[float, float]
    yaw: float = 0.0
    scale: float = 0.12
    colour: str = "red"
    pattern: str = "plain"
    material: str = "plastic"
    temperature: float = 295.0
    name: str = ""

    def __post_init__(self) -> None:
        category_spec(self.category)
        material_spec(self.material)
        if self.colour not in COLOURS:
            raise ValueError(f"unknown colour {self.colour!r}; known: {sorted(COLOURS)}")
        if self.pattern not in PATTERNS:
            raise ValueError(f"unknown pattern {self.pattern!r}; known: {sorted(PATTERNS)}")
        pos = np.asarray(self.position, dtype=np.float64)
        if pos.shape != (2,) or not np.all(np.isfinite(pos)):
            raise ValueError(f"position must be a finite (x, y) pair, got {self.position!r}")
        if not (np.isfinite(self.scale) and 0.005 <= self.scale <= 5.0):
            raise ValueError(f"scale (bounding radius, m) must be in [0.005, 5], got {self.scale}")
        if not (np.isfinite(self.temperature) and 150.0 <= self.temperature <= 1000.0):
            raise ValueError(f"temperature must be in [150, 1000] K, got {self.temperature}")
        if not np.isfinite(self.yaw):
            raise ValueError("yaw must be finite")


@dataclass
class SceneObject:
    """What one frame shows of one object.

    Attributes:
        index, name, category: identity (``name`` defaults to "<category>_<index>").
        centre_world, centre_camera: (3,) bounding-sphere centre [m] in the world / optical frame.
        pixel: (2,) projection (u, v) of the centre, or None behind the camera.
        box_2d: (u_min, v_min, u_max, v_max) of the visible pixels, in pixel coordinates with
            pixel edges at +-0.5, or None when no pixel is visible.
        visible_pixels: number of pixels showing it (instance_mask == index).
    """

    index: int
    name: str
    category: str
    centre_world: np.ndarray
    centre_camera: np.ndarray
    pixel: Optional[np.ndarray]
    box_2d: Optional[Tuple[float, float, float, float]]
    visible_pixels: int


@dataclass
class SceneFrame:
    """One rendered frame.

    Attributes:
        rgb: (H, W, 3) uint8. depth: (H, W) float32 z-depth [m], 0 = no return.
        thermal: (H, W) float32 kelvin. points: (N, 6) float32 x, y, z [m] in the optical frame and
        r, g, b in [0, 1], one per valid depth pixel (row-major). instance_mask: (H, W) int32 object
        index, -1 for floor and background. objects: per-object :class:`SceneObject`.
        camera: the camera; camera_info: its ``sensor_msgs/CameraInfo`` fields.
    """

    rgb: np.ndarray
    depth: np.ndarray
    thermal: np.ndarray
    points: np.ndarray
    instance_mask: np.ndarray
    objects: List[SceneObject]
    camera: PinholeCamera
    camera_info: Dict[str, object] = field(default_factory=dict)


class TabletopScene:
    """Objects on a floor under one directional light (see module docstring)."""

    def __init__(self, objects: Sequence[ObjectSpec], seed: int = 0, ambient_temperature: float = 295.0,
                 light_direction: Sequence[float] = (0.4, 0.3, 1.0), background: str = "sky",
                 max_range: float = 10.0) -> None:
        if not objects:
            raise ValueError("a scene needs at least one ObjectSpec")
        if not all(isinstance(o, ObjectSpec) for o in objects):
            raise ValueError("objects must be ObjectSpec instances")
        light = np.asarray(light_direction, dtype=np.float64)
        if light.shape != (3,) or not np.all(np.isfinite(light)) or np.linalg.norm(light) < 1e-9:
            raise ValueError("light_direction must be a finite non-zero 3-vector (towards the light)")
        if background not in BACKGROUNDS:
            raise ValueError(f"unknown background {background!r}; known: {sorted(BACKGROUNDS)}")
        if not 150.0 <= ambient_temperature <= 400.0:
            raise ValueError(f"ambient_temperature must be in [150, 400] K, got {ambient_temperature}")
        self.specs = list(objects)
        self.seed, self.ambient, self.max_range = int(seed), float(ambient_temperature), float(max_range)
        self.light = Lighting(light / np.linalg.norm(light), intensity=0.9, ambient=0.3)
        self.background = palette_linear(BACKGROUNDS, background)
        self.poses = [self._rest_pose(s) for s in self.specs]

    @staticmethod
    def _rest_pose(spec: ObjectSpec) -> ObjectPose:
        mesh = unit_mesh(spec.category)
        rotation = axis_rotation("z", spec.yaw)
        lowest = float((spec.scale * mesh.vertices.astype(np.float64) @ rotation.T)[:, 2].min())
        return ObjectPose(rotation, np.array([spec.position[0], spec.position[1], -lowest]), spec.scale)

    def names(self) -> List[str]:
        return [s.name or f"{s.category}_{i}" for i, s in enumerate(self.specs)]

    def _cast(self, origin: np.ndarray, directions: np.ndarray, floor: bool = True) -> Hits:
        """Nearest hit among the objects and (optionally) the floor, which gets index len(specs).
        The floor is the square |x|, |y| <= FLOOR_HALF_SIZE of the plane z = 0, intersected analytically."""
        hits = cast_objects([(unit_mesh(s.category), p) for s, p in zip(self.specs, self.poses)], origin, directions)
        if floor:
            o = np.broadcast_to(origin, directions.shape)
            with np.errstate(divide="ignore", invalid="ignore"):
                t = np.where(directions[..., 2] < 0, -o[..., 2] / directions[..., 2], np.inf)
            xy = o[..., :2] + np.where(np.isfinite(t), t, 0.0)[..., None] * directions[..., :2]
            t[(np.abs(xy) > FLOOR_HALF_SIZE).any(axis=-1) | (t <= 0)] = np.inf
            closer = t < hits.t
            hits.t[closer] = t[closer]
            hits.normal[closer] = UP
            hits.local[closer] = 0.0
            hits.object_id[closer] = len(self.specs)
        return hits

    def render(self, camera: PinholeCamera, noise: bool = True, frame: int = 0) -> SceneFrame:
        """Render RGB, depth, thermal, point cloud and per-object boxes from ``camera``; ``frame``
        picks the sensor-noise draw."""
        if not isinstance(camera, PinholeCamera):
            raise ValueError("camera must be a PinholeCamera")
        rng = stream_rng(self.seed, int(frame), "scene-frame")
        origin, directions = camera.world_rays()
        hits = self._cast(origin, directions)
        n = len(self.specs)
        floor_hit = hits.object_id == n
        mask = np.where(floor_hit, -1, hits.object_id).astype(np.int32)

        points = origin + np.where(hits.hit, hits.t, 0.0)[..., None] * directions
        lit = hits.hit & (hits.normal @ self.light.direction > 0)
        shadow_origins = points[lit] + 1e-4 * hits.normal[lit]
        shadowed = np.zeros(hits.t.shape, bool)
        if lit.any():
            blocked = self._cast(shadow_origins, np.broadcast_to(self.light.direction, shadow_origins.shape),
                                 floor=False)
            shadowed[lit] = blocked.hit
        paints = [Paint(palette_linear(COLOURS, s.colour), s.pattern) for s in self.specs] + [Paint(FLOOR_ALBEDO)]
        backdrop = background_image(camera.height, camera.width, self.background, np.pi / 2, 0.4)
        linear = shade(hits, paints, self.light, backdrop, shadowed)
        if noise:
            linear = camera_noise(linear, rng)
        rgb = linear_to_srgb_u8(linear)

        depth = np.where(hits.hit, hits.t, 0.0)
        depth[depth > self.max_range] = 0.0
        depth = depth.astype(np.float32)

        sources = [HeatSource(s.temperature, material_spec(s.material).emissivity, p.translation, s.scale, UP)
                   for s, p in zip(self.specs, self.poses)]
        sources.append(HeatSource(self.ambient - 1.0, FLOOR_EMISSIVITY, np.zeros(3), 1.0, UP))
        sky = np.full(hits.t.shape, self.ambient - 3.0)
        kelvin = to_kelvin(apparent_radiance(hits, directions, origin, sources, self.ambient, sky))
        if noise:
            kelvin = sensor(kelvin, rng, blur_px=0.6 * camera.width / 64)

        valid = depth > 0
        xyz = camera.optical_rays()[valid] * depth[valid][:, None]
        cloud = np.concatenate([xyz, rgb[valid] / 255.0], axis=1).astype(np.float32)
        return SceneFrame(rgb, depth, kelvin.astype(np.float32), cloud, mask, self._describe(camera, mask),
                          camera, camera.camera_info())

    def _describe(self, camera: PinholeCamera, mask: np.ndarray) -> List[SceneObject]:
        out = []
        for i, (name, spec, pose) in enumerate(zip(self.names(), self.specs, self.poses)):
            centre_cam = camera.world_to_camera(pose.translation[None])[0]
            pixel = camera.project(centre_cam[None])[0] if centre_cam[2] > 0 else None
            rows, cols = np.nonzero(mask == i)
            box = None
            if len(rows):
                box = (float(cols.min()) - 0.5, float(rows.min()) - 0.5,
                       float(cols.max()) + 0.5, float(rows.max()) + 0.5)
            out.append(SceneObject(i, name, spec.category, pose.translation.copy(), centre_cam, pixel, box, len(rows)))
        return out

    def impact_audio(self, index: int, seconds: float = 1.0, sample_rate: int = 16000, strike: int = 0,
                     noise: bool = True) -> np.ndarray:
        """(samples,) float32 impact sound of object ``index`` (``strike`` picks the random strike)."""
        spec = self._spec(index)
        if not (seconds > 0 and sample_rate >= 4000):
            raise ValueError("seconds must be > 0 and sample_rate >= 4000")
        rng = stream_rng(self.seed, index * 100003 + strike, "scene-audio")
        return impact_sound(category_spec(spec.category), material_spec(spec.material), spec.scale,
                            int(round(seconds * sample_rate)), sample_rate, rng, noise)

    def tactile(self, index: int, size: int = 32, patch_m: float = 0.02, touch: int = 0,
                noise: bool = True) -> np.ndarray:
        """(size, size, 3) uint8 GelSight-style patch of touching object ``index``."""
        spec = self._spec(index)
        if not (8 <= size <= 1024 and patch_m > 0):
            raise ValueError("size must be in [8, 1024] and patch_m > 0")
        rng = stream_rng(self.seed, index * 100003 + touch, "scene-tactile")
        return gelsight_image(unit_mesh(spec.category), spec.scale, material_spec(spec.material), size, patch_m,
                              rng, noise)

    def _spec(self, index: int) -> ObjectSpec:
        if not 0 <= index < len(self.specs):
            raise ValueError(f"object index {index} out of range [0, {len(self.specs)})")
        return self.specs[index]


def render_scene(objects: Sequence[ObjectSpec], camera: PinholeCamera, seed: int = 0, noise: bool = True,
                 **scene_options: object) -> SceneFrame:
    """Build a :class:`TabletopScene` and render one frame (see its options)."""
    return TabletopScene(objects, seed=seed, **scene_options).render(camera, noise=noise)
