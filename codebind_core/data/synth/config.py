"""SynthConfig: every option of the SynthBind generator, typed and self-validating.

Load from YAML with :meth:`SynthConfig.from_yaml` (or a dict with :meth:`from_dict`); unknown keys
are an error (the strict helper of :mod:`codebind_core.config_base`). Every field that changes the
generated data is part of :meth:`cache_key`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Dict, Tuple, Union

from ...config_base import Config, check_types, read_mapping

from .appearance import BACKGROUNDS, COLOURS
from .materials import MATERIALS
from .patterns import PATTERNS
from .shapes import CATEGORIES, DEFAULT_CATEGORIES

MODALITIES: Tuple[str, ...] = ("image", "depth", "thermal", "pointcloud", "tactile", "audio",
                               "video", "eeg", "text")
SPLITS: Tuple[str, ...] = ("train", "val", "test", "test_unseen")
# bump when a change of the generator changes its output for the same config (invalidates caches)
GENERATOR_VERSION = 3
POINTCLOUD_VIEWS: Tuple[str, ...] = ("partial", "full")

Range = Tuple[float, float]


POSES = ("any", "upright")


@dataclass(frozen=True)
class SynthConfig(Config):
    """Options of the SynthBind generator (sizes, factor vocabularies and ranges, splits).

    Geometry: objects have a bounding radius ``scale_range`` [m], are stretched per axis by
    exp(U(-shape_jitter, shape_jitter)) (intra-class shape variation) and stand ``distance_range`` [m] in
    front of a ``fov_deg`` camera, shifted sideways by up to ``offset_max`` [m]; a wall stands
    ``wall_distance_range`` [m] away and depth beyond ``depth_max_range`` reads 0 (no return).
    ``pointcloud_view``: "partial" (single-view scan from the camera) or "full" (whole surface).
    ``pose``: "any" (orientation uniform over SO(3)) or "upright" (canonical orientation, e.g.
    cylinders standing, turned by a uniform yaw and seen from ``elevation_range`` degrees above the
    horizon, as a robot sees objects on a table; shapes are far easier to tell apart).
    Splits: ``val/test/unseen_fraction`` of ``num_samples`` (train gets the rest); per category,
    ``unseen_colours_per_category`` colours and ``unseen_materials_per_category`` materials never
    occur in train/val/test and every ``test_unseen`` sample has at least one such pair.
    """

    config_label: ClassVar[str] = "SynthBind config"
    config_where: ClassVar[str] = "SynthConfig"
    error_prefix: ClassVar[str] = "SynthConfig: "

    seed: int = 0
    num_samples: int = 20000
    modalities: Tuple[str, ...] = MODALITIES
    categories: Tuple[str, ...] = DEFAULT_CATEGORIES
    colours: Tuple[str, ...] = tuple(COLOURS)
    patterns: Tuple[str, ...] = tuple(PATTERNS)
    materials: Tuple[str, ...] = tuple(MATERIALS)
    backgrounds: Tuple[str, ...] = tuple(BACKGROUNDS)
    # sizes
    image_size: int = 64
    supersample: int = 2
    fov_deg: float = 50.0
    video_frames: int = 4
    video_size: int = 64
    audio_seconds: float = 1.0
    audio_rate: int = 16000
    pointcloud_points: int = 1024
    pointcloud_rgb: bool = False
    pointcloud_view: str = "partial"
    tactile_size: int = 32
    tactile_patch_m: float = 0.02
    eeg_channels: int = 16
    eeg_samples: int = 256
    eeg_rate: float = 256.0
    eeg_subjects: int = 6
    eeg_noise_uv: float = 4.0
    # factor ranges
    pose: str = "any"
    elevation_range: Range = (10.0, 50.0)
    scale_range: Range = (0.07, 0.17)
    shape_jitter: float = 0.2
    distance_range: Range = (0.4, 0.7)
    offset_max: float = 0.06
    temperature_range: Range = (275.0, 345.0)
    ambient_range: Range = (290.0, 298.0)
    wall_distance_range: Range = (1.0, 4.0)
    depth_max_range: float = 3.0
    occlusion_prob: float = 0.2
    video_speed_range: Range = (0.25, 0.8)
    caption_attribute_prob: float = 0.5
    sensor_noise: bool = True
    thermal_emissivity: bool = True
    # splits
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    unseen_fraction: float = 0.1
    unseen_colours_per_category: int = 1
    unseen_materials_per_category: int = 1

    def normalise(self) -> None:
        """Name lists become tuples (a bare string is refused), ranges float pairs."""
        for name in ("modalities", "categories", "colours", "patterns", "materials", "backgrounds"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, (tuple, list)):
                raise ValueError(f"SynthConfig: {name} must be a list of names, got {value!r}")
            object.__setattr__(self, name, tuple(value))
            self.check(len(set(value)) == len(value) and len(value) > 0, f"{name} must be non-empty and unique")
        for name in ("scale_range", "distance_range", "temperature_range", "ambient_range",
                     "wall_distance_range", "video_speed_range", "elevation_range"):
            value = getattr(self, name)
            self.check(isinstance(value, (tuple, list)) and len(value) == 2, f"{name} must be a (lo, hi) pair")
            object.__setattr__(self, name, (float(value[0]), float(value[1])))

    def validate(self) -> None:
        check_types(self, self.error_prefix)
        registries = {"modalities": MODALITIES, "categories": CATEGORIES, "colours": COLOURS,
                      "patterns": PATTERNS, "materials": MATERIALS, "backgrounds": BACKGROUNDS}
        for name, known in registries.items():
            unknown = [v for v in getattr(self, name) if v not in known]
            self.check(not unknown, f"unknown {name} {unknown}; known: {list(known)}")
        self.check(len(self.categories) >= 2, "need at least 2 categories")
        ints = {"seed": (0, 2**63 - 1), "num_samples": (1, 10**8), "image_size": (8, 4096),
                "supersample": (1, 8), "video_frames": (1, 256), "video_size": (8, 4096),
                "audio_rate": (4000, 192000), "pointcloud_points": (16, 10**6), "tactile_size": (8, 1024),
                "eeg_channels": (1, 512), "eeg_samples": (16, 10**6), "eeg_subjects": (1, 10**4),
                "unseen_colours_per_category": (0, 10**3), "unseen_materials_per_category": (0, 10**3)}
        for name, (lo, hi) in ints.items():
            value = getattr(self, name)
            self.check(isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi,
                     f"{name} must be an int in [{lo}, {hi}], got {value!r}")
        positive = ("fov_deg", "audio_seconds", "tactile_patch_m", "eeg_rate", "depth_max_range")
        for name in positive:
            value = getattr(self, name)
            self.check(isinstance(value, (int, float)) and value > 0 and value == value and value != float("inf"),
                     f"{name} must be a positive finite number, got {value!r}")
        self.check(self.fov_deg < 170, f"fov_deg must be < 170, got {self.fov_deg}")
        self.check(self.audio_seconds * self.audio_rate >= 256, "audio must have at least 256 samples")
        for name in ("occlusion_prob", "caption_attribute_prob", "val_fraction", "test_fraction",
                     "unseen_fraction"):
            value = getattr(self, name)
            self.check(isinstance(value, (int, float)) and 0.0 <= value <= 1.0,
                     f"{name} must be in [0, 1], got {value!r}")
        self.check(self.val_fraction + self.test_fraction + self.unseen_fraction < 1.0,
                 "val + test + unseen fractions must leave a non-empty train split (sum < 1)")
        self.check(self.eeg_noise_uv >= 0 and self.offset_max >= 0, "eeg_noise_uv and offset_max must be >= 0")
        self.check(isinstance(self.shape_jitter, (int, float)) and 0 <= self.shape_jitter <= 1.0,
                 f"shape_jitter must be in [0, 1], got {self.shape_jitter!r}")
        self.check(self.pose in POSES, f"pose must be one of {POSES}, got {self.pose!r}")
        lo, hi = self.elevation_range
        self.check(-90.0 <= lo <= hi <= 90.0, f"elevation_range must satisfy -90 <= lo <= hi <= 90, got {(lo, hi)}")
        self.check(self.pointcloud_view in POINTCLOUD_VIEWS,
                 f"pointcloud_view must be one of {POINTCLOUD_VIEWS}, got {self.pointcloud_view!r}")
        for name in ("scale_range", "distance_range", "temperature_range", "ambient_range",
                     "wall_distance_range", "video_speed_range"):
            lo, hi = getattr(self, name)
            self.check(0 <= lo <= hi < float("inf"), f"{name} must satisfy 0 <= lo <= hi, got {(lo, hi)}")
        self.check(self.scale_range[0] > 0, "scale_range must be positive")
        self.check(self.distance_range[0] - self.scale_range[1] >= 0.1,
                 "distance_range must keep objects (and an occluder) in front of the camera: "
                 "distance lo - scale hi >= 0.1 m")
        self.check(self.unseen_colours_per_category < len(self.colours),
                 "unseen_colours_per_category must leave at least one seen colour per category")
        self.check(self.unseen_materials_per_category < len(self.materials),
                 "unseen_materials_per_category must leave at least one seen material per category")
        self.check(self.split_sizes()["train"] >= 1, f"num_samples={self.num_samples} leaves no train sample")
        if self.unseen_fraction > 0:
            self.check(self.unseen_colours_per_category + self.unseen_materials_per_category > 0,
                     "unseen_fraction > 0 needs held-out colours or materials")

    # ---- (de)serialisation: Config's strict from_dict / to_dict / replace --------------------
    @classmethod
    def from_file(cls, path: Union[str, Path]) -> "SynthConfig":
        """Load a YAML file whose top level is a mapping of fields (or ``{synthbind: {...}}``)."""
        data = read_mapping(path, "SynthBind config")
        if isinstance(data, dict) and set(data) == {"synthbind"}:
            data = data["synthbind"]
        return cls.from_dict(data)

    def cache_key(self) -> str:
        """Hex digest of the config and generator version: names the on-disk cache."""
        fields = self.to_dict()
        if self.pose == "any":  # the upright options change nothing then: keep earlier sets' keys
            del fields["pose"], fields["elevation_range"]
        blob = json.dumps({"version": GENERATOR_VERSION, **fields}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def split_sizes(self) -> Dict[str, int]:
        """Number of samples per split (train takes the remainder)."""
        n = self.num_samples
        val, test, unseen = (int(round(n * f)) for f in (self.val_fraction, self.test_fraction, self.unseen_fraction))
        return {"train": n - val - test - unseen, "val": val, "test": test, "test_unseen": unseen}
