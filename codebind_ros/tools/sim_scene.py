"""The simulated scene the sensor player publishes: SynthBind objects at known positions, seen by
one RGB-D + thermal camera, with each object's impact sound and tactile patch.

Rendering is done once at start-up (a few sensor-noise draws per stream, cycled), so publishing
costs only message packing. :meth:`SimScene.ground_truth` lists every object's true centre in
the camera optical frame and its 2-D box: what localisation results are checked against.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence

import numpy as np
import yaml

from codebind_core.data.synth import ObjectSpec, PinholeCamera, TabletopScene, class_prompts
from codebind_ros.conversions.camera_info import Pinhole

# Six categories, distinct colours, spread so that no two touch (x forward, y left; metres).
DEFAULT_OBJECTS: List[Dict] = [
    {"category": "sphere", "position": [0.0, 0.35], "colour": "red"},
    {"category": "box", "position": [0.0, 0.0], "colour": "blue", "yaw": 0.5},
    {"category": "cylinder", "position": [0.0, -0.35], "colour": "green"},
    {"category": "cone", "position": [0.4, 0.3], "colour": "yellow"},
    {"category": "torus", "position": [0.4, -0.05], "colour": "purple", "temperature": 330.0},
    {"category": "icosahedron", "position": [0.45, -0.4], "colour": "orange"},
]


def parse_objects(text: str) -> List[ObjectSpec]:
    """Objects from a YAML list of ObjectSpec fields ('' -> the default scene)."""
    items = DEFAULT_OBJECTS if not text.strip() else yaml.safe_load(text)
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

    def __post_init__(self) -> None:
        if self.noise_frames < 1:
            raise ValueError(f"noise_frames must be >= 1, got {self.noise_frames}")
        if not (8 <= self.width <= 4096 and 8 <= self.height <= 4096):
            raise ValueError(f"image size must be in [8, 4096], got {self.width}x{self.height}")


class SimScene:
    """Pre-rendered frames, sounds and touches of one tabletop scene."""

    def __init__(self, cfg: SimSceneConfig):
        self.cfg = cfg
        self.scene = TabletopScene(list(cfg.objects), seed=cfg.seed)
        pose = PinholeCamera.look_at_pose(tuple(cfg.eye), tuple(cfg.target))
        self.camera = PinholeCamera.from_fov(cfg.width, cfg.height, cfg.fov_deg, pose)
        self.pinhole = Pinhole(cfg.width, cfg.height, self.camera.fx, self.camera.fy, self.camera.cx, self.camera.cy)
        self.frames = [self.scene.render(self.camera, noise=True, frame=i) for i in range(cfg.noise_frames)]
        n = len(cfg.objects)
        self.sounds = [[self.scene.impact_audio(i, cfg.audio_seconds, cfg.audio_sample_rate, strike=s)
                        for s in range(cfg.noise_frames)] for i in range(n)]
        self.touches = [[self.scene.tactile(i, cfg.tactile_size, touch=s) for s in range(cfg.noise_frames)]
                        for i in range(n)]

    def __len__(self) -> int:
        return len(self.cfg.objects)

    def frame(self, tick: int):
        return self.frames[tick % len(self.frames)]

    def sound(self, index: int, tick: int) -> np.ndarray:
        return self.sounds[index][tick % len(self.sounds[index])]

    def touch(self, index: int, tick: int) -> np.ndarray:
        return self.touches[index][tick % len(self.touches[index])]

    def ground_truth(self) -> Dict:
        """JSON-able truth: per object its name, category, colour, a text prompt, the centre in the
        camera optical frame and the world frame (m) and its 2-D box (px)."""
        frame = self.frames[0]
        objects = []
        for spec, obj, prompt in zip(self.cfg.objects, frame.objects, class_prompts([o.category for o in self.cfg.objects])):
            objects.append({
                "index": obj.index, "name": obj.name, "category": obj.category, "colour": spec.colour,
                "prompt": prompt, "centre_camera": [float(v) for v in obj.centre_camera],
                "centre_world": [float(v) for v in obj.centre_world],
                "box": None if obj.box_2d is None else [float(v) for v in obj.box_2d],
                "visible_pixels": int(obj.visible_pixels)})
        return {"width": self.cfg.width, "height": self.cfg.height, "objects": objects}
