"""One SynthBind sample: every modality of one object instance, from its factors.

The object stands in front of a camera whose optical frame is the world frame (x right, y down,
z forward). Image, depth, thermal and video share that camera and the same ray casts; the other
modalities read the object itself. Each modality draws its sensor noise from its own random stream
(seed, index, modality), so changing a factor changes exactly the modalities that physically see it.
:data:`SYNTHESIZERS` maps a modality name to its function; :func:`synthesize` runs the ones asked.
"""
from __future__ import annotations

import functools
from typing import Callable, Dict, List, Sequence, Tuple, Union

import numpy as np

from .appearance import BACKGROUNDS, linear_to_srgb_u8, palette_linear
from .audio import impact_sound
from .camera import PinholeCamera
from .captions import caption
from .config import SynthConfig
from .depth import clean_depth, noisy_depth
from .eeg import eeg_trial
from .factors import ObjectFactors, stream_rng
from .geometry import axis_rotation, quaternion_to_matrix
from .materials import material_spec
from .pointcloud import object_point_cloud
from .raycast import Hits, ObjectPose, cast_objects
from .shading import Lighting, Paint, background_image, block_mean, camera_noise, shade
from .shapes import CUBE_HALF_SIDE, UnitMesh, category_spec, stretched_axes, unit_mesh
from .tactile import gelsight_image
from .thermal import HeatSource, apparent_radiance, sensor, to_kelvin, wall_temperature

Array = np.ndarray
UP = np.array([0.0, -1.0, 0.0])  # image up in the optical frame
OCCLUDER_ALBEDO = np.array([0.18, 0.18, 0.18])
OCCLUDER_EMISSIVITY = 0.9


@functools.lru_cache(maxsize=16)
def _camera(size: int, fov_deg: float, supersample: int) -> PinholeCamera:
    """The square object-view camera (optical frame = world), sampled ``supersample`` x per axis."""
    camera = PinholeCamera.from_fov(size, size, fov_deg)
    return camera.scaled(supersample) if supersample > 1 else camera


class SampleContext:
    """Lazily computed pieces shared by the modalities of one sample."""

    def __init__(self, cfg: SynthConfig, factors: ObjectFactors, index: int) -> None:
        self.cfg, self.f, self.index = cfg, factors, index
        self.category = cfg.categories[factors.category]
        self.material = material_spec(cfg.materials[factors.material])
        self.mesh: UnitMesh = unit_mesh(self.category)
        self.rotation = quaternion_to_matrix(np.asarray(factors.rotation))
        self.axes = stretched_axes(self.mesh, np.asarray(factors.aspect), factors.scale)
        self.noise = cfg.sensor_noise

    def rng(self, modality: str) -> np.random.Generator:
        return stream_rng(self.cfg.seed, self.index, modality)

    # ---- scene content ---------------------------------------------------------------------
    def objects(self, rotation: Array) -> List[Tuple[UnitMesh, ObjectPose]]:
        """The object (index 0) at ``rotation`` and, if present, the occluding bar (index 1)."""
        objs = [(self.mesh, ObjectPose(rotation, np.asarray(self.f.position), self.axes))]
        if self.f.occluded:
            x, y, z, angle, width, length = self.f.occluder
            axes = np.array([length, width, width]) / (2 * CUBE_HALF_SIDE)
            objs.append((unit_mesh("cube"), ObjectPose(axis_rotation("z", angle), np.array([x, y, z]), axes)))
        return objs

    def paints(self) -> List[Paint]:
        return [Paint(np.asarray(self.f.albedo), self.cfg.patterns[self.f.pattern]), Paint(OCCLUDER_ALBEDO)]

    def lighting(self) -> Lighting:
        return Lighting(np.asarray(self.f.light_direction), self.f.light_intensity, self.f.light_ambient)

    def heat_sources(self) -> List[HeatSource]:
        e0 = self.material.emissivity if self.cfg.thermal_emissivity else 0.95
        return [HeatSource(self.f.temperature, e0, np.asarray(self.f.position), self.f.scale, UP),
                HeatSource(self.f.ambient_temperature + 0.5, OCCLUDER_EMISSIVITY, np.asarray(self.f.occluder[:3]),
                           max(self.f.scale, 1e-3), UP)]

    # ---- cameras and casts -------------------------------------------------------------------
    def camera(self, size: int, supersample: int = 1) -> PinholeCamera:
        return _camera(size, self.cfg.fov_deg, supersample)

    def cast(self, camera: PinholeCamera, rotation: Array) -> Tuple[Hits, Array]:
        directions = camera.optical_rays()
        return cast_objects(self.objects(rotation), np.zeros(3), directions), directions

    @functools.cached_property
    def super_view(self) -> Tuple[Hits, Array]:
        """Supersampled cast of the image camera at the sample's pose."""
        return self.cast(self.camera(self.cfg.image_size, self.cfg.supersample), self.rotation)

    def rgb_frame(self, hits: Hits, size: int, rng: np.random.Generator) -> Array:
        ss = self.cfg.supersample
        backdrop = background_image(size * ss, size * ss,
                                    palette_linear(BACKGROUNDS, self.cfg.backgrounds[self.f.background]),
                                    self.f.background_angle, self.f.background_gradient)
        linear = block_mean(shade(hits, self.paints(), self.lighting(), backdrop), ss)
        if self.noise:
            linear = camera_noise(linear, rng)
        return linear_to_srgb_u8(linear)


def _image(ctx: SampleContext) -> Array:
    return ctx.rgb_frame(ctx.super_view[0], ctx.cfg.image_size, ctx.rng("image"))


def _depth(ctx: SampleContext) -> Array:
    if ctx.cfg.supersample == 1:
        hits, directions = ctx.super_view
    else:  # depth is sampled at pixel centres, not averaged
        hits, directions = ctx.cast(ctx.camera(ctx.cfg.image_size), ctx.rotation)
    depth = clean_depth(hits, directions, ctx.f.wall_distance, ctx.cfg.depth_max_range)
    return noisy_depth(depth, hits, directions, ctx.rng("depth")) if ctx.noise else depth


def _thermal(ctx: SampleContext) -> Array:
    hits, directions = ctx.super_view
    size, ss = ctx.cfg.image_size, ctx.cfg.supersample
    wall = wall_temperature(size * ss, size * ss, ctx.f.ambient_temperature)
    radiance = apparent_radiance(hits, directions, np.zeros(3), ctx.heat_sources(), ctx.f.ambient_temperature, wall)
    kelvin = to_kelvin(block_mean(radiance, ss))
    if ctx.noise:
        kelvin = sensor(kelvin, ctx.rng("thermal"), blur_px=0.6 * size / 64)
    return kelvin.astype(np.float32)


def _video(ctx: SampleContext) -> Array:
    """Turntable: the object spins about the image's vertical axis through its centre."""
    cfg, rng = ctx.cfg, ctx.rng("video")
    frames = []
    for k in range(cfg.video_frames):
        rotation = axis_rotation("y", ctx.f.video_speed * k) @ ctx.rotation
        if k == 0 and cfg.video_size == cfg.image_size:
            hits = ctx.super_view[0]
        else:
            hits = ctx.cast(ctx.camera(cfg.video_size, cfg.supersample), rotation)[0]
        frames.append(ctx.rgb_frame(hits, cfg.video_size, rng))
    return np.stack(frames)


def _pointcloud(ctx: SampleContext) -> Array:
    cfg = ctx.cfg
    objs = ctx.objects(ctx.rotation)
    albedo = np.asarray(ctx.f.albedo) if cfg.pointcloud_rgb else None
    partial = cfg.pointcloud_view == "partial"
    return object_point_cloud(ctx.mesh, objs[0][1], cfg.pointcloud_points, ctx.rng("pointcloud"), noise=ctx.noise,
                              albedo=albedo, pattern=cfg.patterns[ctx.f.pattern],
                              view_origin=np.zeros(3) if partial else None, occluders=objs[1:])


def _tactile(ctx: SampleContext) -> Array:
    return gelsight_image(ctx.mesh, ctx.axes, ctx.material, ctx.cfg.tactile_size, ctx.cfg.tactile_patch_m,
                          ctx.rng("tactile"), noise=ctx.noise)


def _audio(ctx: SampleContext) -> Array:
    n = int(round(ctx.cfg.audio_seconds * ctx.cfg.audio_rate))
    return impact_sound(category_spec(ctx.category), ctx.material, ctx.f.scale, n, ctx.cfg.audio_rate,
                        ctx.rng("audio"), noise=ctx.noise)


def _eeg(ctx: SampleContext) -> Array:
    cfg = ctx.cfg
    return eeg_trial(ctx.category, ctx.f.subject, cfg.eeg_channels, cfg.eeg_samples, cfg.eeg_rate, cfg.eeg_noise_uv,
                     ctx.rng("eeg"), noise=ctx.noise)


def _text(ctx: SampleContext) -> str:
    cfg, f = ctx.cfg, ctx.f
    return caption(ctx.category, cfg.colours[f.colour], cfg.patterns[f.pattern], cfg.materials[f.material],
                   f.temperature, f.ambient_temperature, cfg.caption_attribute_prob, ctx.rng("text"))


SYNTHESIZERS: Dict[str, Callable[[SampleContext], Union[Array, str]]] = {
    "image": _image, "depth": _depth, "thermal": _thermal, "video": _video, "pointcloud": _pointcloud,
    "tactile": _tactile, "audio": _audio, "eeg": _eeg, "text": _text,
}


def synthesize(cfg: SynthConfig, factors: ObjectFactors, index: int,
               modalities: Sequence[str] | None = None) -> Dict[str, Union[Array, str]]:
    """All requested modalities (default: ``cfg.modalities``) of the sample with these factors."""
    names = cfg.modalities if modalities is None else tuple(modalities)
    unknown = [m for m in names if m not in SYNTHESIZERS]
    if unknown:
        raise ValueError(f"unknown modalities {unknown}; known: {list(SYNTHESIZERS)}")
    ctx = SampleContext(cfg, factors, index)
    return {m: SYNTHESIZERS[m](ctx) for m in names}
