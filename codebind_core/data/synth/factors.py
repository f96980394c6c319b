"""Factors of variation: what each sample is made of, how they are drawn, and the held-out pairs.

Shared factor: ``category``. Everything else is modality-specific (see docs/synthbind.md for who
sees what). Each sample's factors come from its own random stream (seed, index), so a sample does
not depend on how many others are generated or on which worker makes it.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, fields
from typing import Dict, FrozenSet, Tuple

import numpy as np

from .appearance import COLOURS, palette_linear
from .config import SynthConfig
from .geometry import random_quaternion, upright_quaternion

# held-out kind of a sample: which of its (category, x) pairs never occur in training
HELDOUT_NONE, HELDOUT_COLOUR, HELDOUT_MATERIAL, HELDOUT_BOTH = 0, 1, 2, 3


def stream_rng(seed: int, index: int, stream: str) -> np.random.Generator:
    """An independent generator for one (seed, sample index, purpose) triple."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, zlib.crc32(stream.encode()))))


@dataclass(frozen=True)
class ObjectFactors:
    """All factors of one sample (indices refer to the config's name lists; frames are the camera's
    optical frame: x right, y down, z forward)."""

    category: int
    colour: int
    pattern: int
    material: int
    background: int
    subject: int
    heldout: int
    occluded: int
    temperature: float          # object surface temperature [K]            (thermal)
    ambient_temperature: float  # room / wall temperature [K]                (thermal)
    scale: float                # bounding radius [m]                        (geometric modalities, audio pitch)
    wall_distance: float        # [m]                                        (depth)
    light_ambient: float        # ambient light fraction                     (image, video)
    light_intensity: float      # directional light intensity                (image, video)
    background_angle: float     # direction of the background gradient [rad] (image, video)
    background_gradient: float  # strength of the background gradient        (image, video)
    video_speed: float          # turntable step [rad / frame]               (video)
    rotation: Tuple[float, float, float, float]  # object orientation, quaternion (w, x, y, z)
    aspect: Tuple[float, float, float]           # stretch of the canonical shape per axis (geometric modalities)
    position: Tuple[float, float, float]         # object centre [m]
    light_direction: Tuple[float, float, float]  # unit vector towards the light
    albedo: Tuple[float, float, float]           # linear RGB of the painted colour (image, video)
    occluder: Tuple[float, float, float, float, float, float]  # bar: x, y, z [m], angle, width, length [m]

    def to_record(self) -> Dict[str, np.ndarray]:
        """Column values for the factor table."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_record(cls, record: Dict[str, object]) -> "ObjectFactors":
        """Inverse of :meth:`to_record` (accepts numpy scalars and arrays)."""
        values = {}
        for f in fields(cls):
            v = np.asarray(record[f.name])
            if v.ndim:
                values[f.name] = tuple(float(x) for x in v)
            elif f.type in ("int", int):
                values[f.name] = int(v)
            else:
                values[f.name] = float(v)
        return cls(**values)

    def replace(self, **changes: object) -> "ObjectFactors":
        """A copy with some factors changed (for controlled experiments)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(changes)
        return ObjectFactors(**data)


@dataclass(frozen=True)
class HeldOutPairs:
    """(category, colour) and (category, material) index pairs that only ``test_unseen`` contains."""

    colour: FrozenSet[Tuple[int, int]]
    material: FrozenSet[Tuple[int, int]]

    def kind(self, category: int, colour: int, material: int) -> int:
        """HELDOUT_* code of a combination."""
        return (HELDOUT_COLOUR if (category, colour) in self.colour else 0) | \
               (HELDOUT_MATERIAL if (category, material) in self.material else 0)


def held_out_pairs(cfg: SynthConfig) -> HeldOutPairs:
    """Pick the held-out pairs from the seed: per category ``unseen_*_per_category`` values, spread
    over a random permutation so every colour (material) is held out for about as many categories."""
    rng = stream_rng(cfg.seed, 2**31 - 1, "heldout")

    def pick(n_values: int, k: int) -> FrozenSet[Tuple[int, int]]:
        perm = rng.permutation(n_values)
        return frozenset((c, int(perm[(c * k + j) % n_values])) for c in range(len(cfg.categories)) for j in range(k))

    return HeldOutPairs(pick(len(cfg.colours), cfg.unseen_colours_per_category),
                        pick(len(cfg.materials), cfg.unseen_materials_per_category))


def _choose_pair_value(rng: np.random.Generator, n: int, category: int, held: FrozenSet[Tuple[int, int]],
                       want_held: bool) -> int:
    options = [v for v in range(n) if ((category, v) in held) == want_held]
    return int(options[rng.integers(len(options))])


def sample_factors(cfg: SynthConfig, index: int, split: str, held: HeldOutPairs) -> ObjectFactors:
    """Draw the factors of sample ``index`` of ``split`` (train/val/test avoid every held-out pair;
    test_unseen samples contain at least one)."""
    rng = stream_rng(cfg.seed, index, "factors")
    category = int(rng.integers(len(cfg.categories)))
    if split == "test_unseen":
        kinds = [k for k, ok in ((HELDOUT_COLOUR, cfg.unseen_colours_per_category > 0),
                                 (HELDOUT_MATERIAL, cfg.unseen_materials_per_category > 0),
                                 (HELDOUT_BOTH,
                                  cfg.unseen_colours_per_category * cfg.unseen_materials_per_category > 0))
                 if ok]
        weights = np.array([{HELDOUT_COLOUR: 0.4, HELDOUT_MATERIAL: 0.4, HELDOUT_BOTH: 0.2}[k] for k in kinds])
        kind = int(kinds[rng.choice(len(kinds), p=weights / weights.sum())])
    else:
        kind = HELDOUT_NONE
    colour = _choose_pair_value(rng, len(cfg.colours), category, held.colour, bool(kind & HELDOUT_COLOUR))
    material = _choose_pair_value(rng, len(cfg.materials), category, held.material, bool(kind & HELDOUT_MATERIAL))
    scale = float(rng.uniform(*cfg.scale_range))
    distance = float(rng.uniform(*cfg.distance_range))
    position = (float(rng.uniform(-cfg.offset_max, cfg.offset_max)),
                float(rng.uniform(-cfg.offset_max, cfg.offset_max)), distance)
    lz = -float(rng.uniform(0.35, 0.95))
    az = float(rng.uniform(0, 2 * np.pi))
    rxy = np.sqrt(1 - lz * lz)
    albedo = _jittered_albedo(cfg.colours[colour], rng)
    occluded = int(rng.random() < cfg.occlusion_prob)
    occluder = (0.0,) * 6
    if occluded:  # a bar between camera and object, sized by perspective to cover part of it
        z = (distance - scale) * rng.uniform(0.5, 0.85)
        shrink = z / distance
        phi = rng.uniform(0, 2 * np.pi)
        offset = rng.uniform(0.3, 0.9) * scale
        occluder = tuple(float(v) for v in (
            (position[0] + offset * np.cos(phi)) * shrink, (position[1] + offset * np.sin(phi)) * shrink, z,
            rng.uniform(0, np.pi), rng.uniform(0.3, 0.6) * scale * shrink, 8.0 * scale * shrink))
    speed = float(rng.uniform(*cfg.video_speed_range)) * (1.0 if rng.random() < 0.5 else -1.0)
    aspect = tuple(float(v) for v in np.exp(rng.uniform(-cfg.shape_jitter, cfg.shape_jitter, 3)))
    return ObjectFactors(
        category=category, colour=colour, pattern=int(rng.integers(len(cfg.patterns))), material=material,
        background=int(rng.integers(len(cfg.backgrounds))), subject=int(rng.integers(cfg.eeg_subjects)),
        heldout=kind, occluded=occluded,
        temperature=float(rng.uniform(*cfg.temperature_range)),
        ambient_temperature=float(rng.uniform(*cfg.ambient_range)),
        scale=scale, wall_distance=float(rng.uniform(*cfg.wall_distance_range)),
        light_ambient=float(rng.uniform(0.15, 0.4)), light_intensity=float(rng.uniform(0.7, 1.2)),
        background_angle=float(rng.uniform(0, 2 * np.pi)), background_gradient=float(rng.uniform(0.0, 0.6)),
        video_speed=speed, rotation=tuple(float(v) for v in _orientation(cfg, rng)), aspect=aspect, position=position,
        light_direction=(float(rxy * np.cos(az)), float(rxy * np.sin(az)), lz), albedo=albedo, occluder=occluder)


def _orientation(cfg, rng: np.random.Generator) -> np.ndarray:
    """The object's rotation quaternion for ``cfg.pose`` (see :class:`SynthConfig`)."""
    if cfg.pose == "any":
        return random_quaternion(rng)
    yaw = rng.uniform(0, 2 * np.pi)
    return upright_quaternion(yaw, np.deg2rad(rng.uniform(*cfg.elevation_range)))


def _jittered_albedo(colour: str, rng: np.random.Generator) -> Tuple[float, float, float]:
    """The palette colour with a small multiplicative jitter (still clearly the same colour word)."""
    base = palette_linear(COLOURS, colour)
    return tuple(float(v) for v in np.clip(base * np.exp(rng.normal(0.0, 0.08, 3)), 0.0, 1.0))
