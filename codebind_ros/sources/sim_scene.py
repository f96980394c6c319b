"""The simulated scene the sensor player publishes: SynthBind objects at known positions, seen by
one RGB-D + thermal camera, with each object's impact sound and tactile patch.

A fixed camera (``eye`` / ``target``) is rendered once at start-up (a few sensor-noise draws per
stream, cycled), so publishing costs only message packing. With a ``trajectory`` the camera moves:
``"tour"`` visits three table areas of the larger :data:`TOUR_OBJECTS` scene from several sides
(:func:`tour_poses`); each pose is rendered the first time it is needed and cached. ``move_object``
moves one object to ``move_to`` from frame ``move_at`` on. :meth:`SimScene.ground_truth` lists
every object's true centre in the world (fixed) frame, and for a fixed camera in its optical frame
with its 2-D box: what localisation and memory results are checked against.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import yaml

from codebind_core.data.synth import ObjectSpec, PinholeCamera, TabletopScene, class_prompts

# Six categories, distinct colours, spread so that no two touch (x forward, y left; metres).
DEFAULT_OBJECTS: List[Dict] = [
    {"category": "sphere", "position": [0.0, 0.35], "colour": "red"},
    {"category": "box", "position": [0.0, 0.0], "colour": "blue", "yaw": 0.5},
    {"category": "cylinder", "position": [0.0, -0.35], "colour": "green"},
    {"category": "cone", "position": [0.4, 0.3], "colour": "yellow"},
    {"category": "torus", "position": [0.4, -0.05], "colour": "purple", "temperature": 330.0},
    {"category": "icosahedron", "position": [0.45, -0.4], "colour": "orange"},
]


# The moving camera's scene: three table areas (groups on the floor, no table geometry) 2-3 m
# apart, two objects each, 0.5 m between neighbours so that no two are ever merged.
TOUR_TABLES: List[Tuple[float, float]] = [(1.5, 0.0), (0.0, 2.0), (-1.5, -0.5)]
TOUR_OBJECTS: List[Dict] = [
    {"category": "sphere", "position": [1.5, 0.25], "colour": "red"},
    {"category": "box", "position": [1.5, -0.25], "colour": "blue", "yaw": 0.5},
    {"category": "cylinder", "position": [-0.25, 2.0], "colour": "green"},
    {"category": "cone", "position": [0.25, 2.0], "colour": "yellow"},
    {"category": "torus", "position": [-1.5, -0.25], "colour": "purple", "temperature": 330.0},
    {"category": "icosahedron", "position": [-1.5, -0.75], "colour": "orange"},
]
TRAJECTORIES = ("", "tour")


def tour_poses(tables: Sequence[Tuple[float, float]] = TOUR_TABLES, views: int = 4, distance: float = 1.1,
               height: float = 0.6, spread_deg: float = 120.0) -> List[np.ndarray]:
    """Camera poses (optical frame -> world, 4 x 4) of one pass: per table ``views`` positions on
    an arc of ``spread_deg`` at ``distance`` from its centre (facing it from the side of the scene's
    centre), ``height`` above the floor, all looking at the table centre."""
    centre = np.mean(np.asarray(tables, np.float64), axis=0)
    poses = []
    for tx, ty in tables:
        base = math.atan2(centre[1] - ty, centre[0] - tx) if np.hypot(centre[0] - tx, centre[1] - ty) > 1e-6 else 0.0
        for k in range(views):
            a = base + math.radians(spread_deg) * (k / max(1, views - 1) - 0.5)
            eye = (tx + distance * math.cos(a), ty + distance * math.sin(a), height)
            poses.append(PinholeCamera.look_at_pose(eye, (tx, ty, 0.06)))
    return poses


def parse_objects(text: str, default: Optional[List[Dict]] = None) -> List[ObjectSpec]:
    """Objects from a YAML list of ObjectSpec fields ('' -> ``default``, else the default scene)."""
    items = (default or DEFAULT_OBJECTS) if not text.strip() else yaml.safe_load(text)
    if not isinstance(items, list) or not items:
        raise ValueError("scene must be a non-empty YAML list of objects "
                         "(category, position: [x, y], colour, ...)")
    specs = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"scene object {i} must be a mapping, got {item!r}")
        fields = dict(item)
        if "position" in fields:
            fields["position"] = tuple(fields["position"])
        try:
            specs.append(ObjectSpec(**fields))
        except TypeError as exc:
            raise ValueError(f"scene object {i}: {exc}") from None
    return specs


def parse_vector(text: str, name: str, n: int = 3) -> np.ndarray:
    value = yaml.safe_load(text) if isinstance(text, str) else text
    arr = np.asarray(value, dtype=np.float64) if isinstance(value, (list, tuple)) else np.zeros(0)
    if arr.shape != (n,) or not np.isfinite(arr).all():
        raise ValueError(f"{name} must be a list of {n} numbers, got {text!r}")
    return arr


@dataclass
class SimSceneConfig:
    objects: Sequence[ObjectSpec] = field(default_factory=lambda: parse_objects(""))
    seed: int = 0
    width: int = 320
    height: int = 240
    fov_deg: float = 60.0
    eye: Sequence[float] = (-1.0, 0.0, 0.6)
    target: Sequence[float] = (0.3, 0.0, 0.0)
    noise_frames: int = 3
    audio_seconds: float = 1.0
    audio_sample_rate: int = 16000
    tactile_size: int = 64
    trajectory: str = ""                 # "" = the fixed camera at eye/target; "tour" = tour_poses()
    move_object: int = -1                # index of the object that moves (-1 = none) ...
    move_to: Sequence[float] = (0.0, 0.0)  # ... to this (x, y) on the floor (m) ...
    move_at: int = 0                     # ... from this frame on

    def __post_init__(self) -> None:
        if self.trajectory not in TRAJECTORIES:
            raise ValueError(f"trajectory must be one of {TRAJECTORIES}, got {self.trajectory!r}")
        if not -1 <= self.move_object < len(self.objects):
            raise ValueError(f"move_object must be -1 or an object index < {len(self.objects)}, got {self.move_object}")
        if self.move_at < 0:
            raise ValueError(f"move_at must be >= 0, got {self.move_at}")
        if self.noise_frames < 1:
            raise ValueError(f"noise_frames must be >= 1, got {self.noise_frames}")
        if not (8 <= self.width <= 4096 and 8 <= self.height <= 4096):
            raise ValueError(f"image size must be in [8, 4096], got {self.width}x{self.height}")


class SimScene:
    """Pre-rendered frames, sounds and touches of one tabletop scene."""

    def __init__(self, cfg: SimSceneConfig):
        self.cfg = cfg
        self.scene = TabletopScene(list(cfg.objects), seed=cfg.seed)
        self.moved_scene: Optional[TabletopScene] = None
        if cfg.move_object >= 0:
            objs = list(cfg.objects)
            objs[cfg.move_object] = replace(objs[cfg.move_object], position=tuple(float(v) for v in cfg.move_to))
            self.moved_scene = TabletopScene(objs, seed=cfg.seed)
        fixed = PinholeCamera.look_at_pose(tuple(cfg.eye), tuple(cfg.target))
        self.poses = tour_poses() if cfg.trajectory == "tour" else [fixed]
        self.camera = PinholeCamera.from_fov(cfg.width, cfg.height, cfg.fov_deg, self.poses[0])
        self.pinhole = self.camera.intrinsics
        self._rendered: Dict[Tuple[bool, int, int], object] = {}
        self.frames = [self._render(False, 0, i) for i in range(cfg.noise_frames)] if not cfg.trajectory else []
        n = len(cfg.objects)
        self.sounds = [[self.scene.impact_audio(i, cfg.audio_seconds, cfg.audio_sample_rate, strike=s)
                        for s in range(cfg.noise_frames)] for i in range(n)]
        self.touches = [[self.scene.tactile(i, cfg.tactile_size, touch=s) for s in range(cfg.noise_frames)]
                        for i in range(n)]

    def __len__(self) -> int:
        return len(self.cfg.objects)

    def moved(self, tick: int) -> bool:
        """Whether ``move_object`` is at its new place in frame ``tick``."""
        return self.moved_scene is not None and tick >= self.cfg.move_at

    def pose(self, tick: int) -> np.ndarray:
        """The camera's optical frame in the world (4 x 4) at frame ``tick`` (the trajectory repeats)."""
        return self.poses[tick % len(self.poses)]

    def _render(self, moved: bool, pose_index: int, noise: int):
        key = (moved, pose_index, noise)
        if key not in self._rendered:
            camera = replace(self.camera, pose=self.poses[pose_index])
            scene = self.moved_scene if moved else self.scene
            self._rendered[key] = scene.render(camera, noise=True, frame=noise + 1000 * pose_index)
        return self._rendered[key]

    def frame(self, tick: int):
        """Frame ``tick``: the fixed camera's noise draws cycled, or the trajectory's pose at ``tick``."""
        if not self.cfg.trajectory and not self.moved(tick):
            return self.frames[tick % len(self.frames)]
        return self._render(self.moved(tick), tick % len(self.poses), tick % self.cfg.noise_frames)

    def sound(self, index: int, tick: int) -> np.ndarray:
        return self.sounds[index][tick % len(self.sounds[index])]

    def touch(self, index: int, tick: int) -> np.ndarray:
        return self.touches[index][tick % len(self.touches[index])]

    def ground_truth(self, tick: int = 0) -> Dict:
        """JSON-able truth at frame ``tick``: per object its name, category, colour, a text prompt,
        the centre in the world frame (m) and, as seen from the camera's pose then, in the camera
        optical frame with its 2-D box (px); ``moved`` names the object at its new place."""
        frame = self.frame(tick) if self.cfg.trajectory or self.moved(tick) else self.frames[0]
        objects = []
        prompts = class_prompts([o.category for o in self.cfg.objects])
        for spec, obj, prompt in zip(self.cfg.objects, frame.objects, prompts):
            objects.append({
                "index": obj.index, "name": obj.name, "category": obj.category, "colour": spec.colour,
                "prompt": prompt, "centre_camera": [float(v) for v in obj.centre_camera],
                "centre_world": [float(v) for v in obj.centre_world],
                "box": None if obj.box_2d is None else [float(v) for v in obj.box_2d],
                "visible_pixels": int(obj.visible_pixels)})
        moved = self.cfg.move_object if self.moved(tick) else -1
        return {"width": self.cfg.width, "height": self.cfg.height, "objects": objects, "moved_object": moved,
                "trajectory": self.cfg.trajectory, "poses_per_pass": len(self.poses)}
