"""Tactile patches rendered like a GelSight image.

1. Contact geometry: a flat gel of side ``patch_m`` is pressed along the inward surface normal at
   a random surface point; the object's surface is ray cast orthographically from the gel, and
   the gel follows it down to ``indent`` below the first touch: contact height
   c = clip(h - (max h - indent), 0, indent). A face gives an even imprint, an edge a ridge, a
   sphere a dome whose radius grows with the object's size.
2. The elastic gel rounds the imprint's rim (softer materials more). Material: micro-texture
   (band-limited noise shaped per texture kind) of height ``roughness_m`` imprints where the gel
   touches.
3. Image: GelSight photometric shading, intensity = base + k (cos a_c g_x + sin a_c g_y) for the
   three LED colours at 120 degree spacing (g = surface slope), plus a dark marker grid and noise.
Colour, pattern and temperature never enter.
"""
from __future__ import annotations

from typing import Callable, Dict

import numpy as np
from scipy.ndimage import gaussian_filter

from .geometry import tangent_frame
from .materials import MaterialSpec
from .raycast import ObjectPose, cast_mesh
from .shapes import UnitMesh

GEL_BASE = np.array([150.0, 155.0, 145.0])  # uint8 intensity of the unpressed gel
LED_ANGLES = np.radians([90.0, 210.0, 330.0])
SLOPE_GAIN = 260.0  # intensity per unit slope
STANDOFF_M = 0.03
GEL_BLUR_PX = 0.8  # at 32 px


def _band_noise(size: int, wavelength_px: float, rng: np.random.Generator, anisotropy: float = 1.0,
                angle: float = 0.0) -> np.ndarray:
    """Zero-mean, unit-std noise with power around ``wavelength_px``; anisotropy > 1 stretches it
    along ``angle`` (scratches, grain)."""
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
    c, s = np.cos(angle), np.sin(angle)
    along, across = fx * c + fy * s, -fx * s + fy * c
    radius = np.sqrt((along * anisotropy) ** 2 + across ** 2)
    f0 = 1.0 / max(wavelength_px, 2.0)
    spectrum = np.exp(-0.5 * ((radius - f0) / (0.5 * f0)) ** 2)
    field = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(size, size))) * spectrum))
    return (field - field.mean()) / (field.std() + 1e-12)


def _brushed(size: int, wl: float, rng: np.random.Generator) -> np.ndarray:
    return _band_noise(size, wl, rng, anisotropy=8.0, angle=rng.uniform(0, np.pi))


def _grain(size: int, wl: float, rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0, np.pi)
    y, x = np.mgrid[0:size, 0:size]
    across = -x * np.sin(angle) + y * np.cos(angle)
    warp = 2.0 * _band_noise(size, 4 * wl, rng)
    field = np.sin(2 * np.pi * across / max(wl, 2.0) + warp) + 0.4 * _band_noise(size, wl, rng, 4.0, angle)
    return (field - field.mean()) / (field.std() + 1e-12)


def _bumpy(size: int, wl: float, rng: np.random.Generator) -> np.ndarray:
    field = np.zeros((size, size))
    n = max(1, int(size * size / (wl * wl) * 0.8))
    field[rng.integers(0, size, n), rng.integers(0, size, n)] = 1.0
    field = gaussian_filter(field, max(wl, 2.0) / 3.0, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-12)


TEXTURES: Dict[str, Callable[[int, float, np.random.Generator], np.ndarray]] = {
    "brushed": _brushed,
    "grain": _grain,
    "bumpy": _bumpy,
    "granular": lambda size, wl, rng: _band_noise(size, wl, rng),
    "matte": lambda size, wl, rng: _band_noise(size, wl, rng),
    "smooth": lambda size, wl, rng: _band_noise(size, 4 * wl, rng),
}


def contact_height(mesh: UnitMesh, axes: np.ndarray, size: int, patch_m: float, indent_m: float,
                   rng: np.random.Generator, attempts: int = 16) -> np.ndarray:
    """(size, size) gel displacement [m] from pressing at a random surface point of the mesh
    scaled by ``axes`` [m] (see module doc)."""
    axes = np.broadcast_to(np.asarray(axes, dtype=np.float64), (3,))
    pose = ObjectPose(np.eye(3), np.zeros(3), axes)
    offsets = (np.arange(size) - (size - 1) / 2) * (patch_m / size)
    for _ in range(attempts):
        point, normal = mesh.sample_surface(1, rng)
        point, normal = axes * point[0], normal[0] / axes
        normal /= np.linalg.norm(normal)
        tangents = tangent_frame(normal, rng.uniform(0, 2 * np.pi))
        origins = (point + STANDOFF_M * normal)[None, None, :] + offsets[:, None, None] * tangents[1] \
            + offsets[None, :, None] * tangents[0]
        directions = np.broadcast_to(-normal, origins.shape)
        t, _, _ = cast_mesh(mesh, pose, origins, directions)
        centre = t[size // 2, size // 2]
        if np.isfinite(centre) and abs(centre - STANDOFF_M) < 1e-3:  # the gel reaches this point first
            height = np.where(np.isfinite(t), STANDOFF_M - t, -np.inf)
            return np.clip(height - (height.max() - indent_m), 0.0, indent_m)
    # the surface sampled is inside a cavity each time: an even, flat press
    return np.full((size, size), indent_m)


def gelsight_image(mesh: UnitMesh, axes: np.ndarray | float, material: MaterialSpec, size: int, patch_m: float,
                   rng: np.random.Generator, noise: bool = True) -> np.ndarray:
    """(size, size, 3) uint8 tactile image of pressing the gel on the mesh scaled by ``axes`` [m]
    (a bounding radius, or per-axis)."""
    indent = rng.uniform(0.6e-3, 1.5e-3)
    contact = contact_height(mesh, np.asarray(axes, dtype=np.float64), size, patch_m, indent, rng)
    # the elastic gel (and a soft object) rounds the imprint's rim
    contact = gaussian_filter(contact, (GEL_BLUR_PX + 2.0 * material.softness) * size / 32.0, mode="nearest")
    pixel_m = patch_m / size
    texture = TEXTURES[material.texture](size, material.texture_wavelength_m / pixel_m, rng)
    touch = np.clip(contact / indent, 0.0, 1.0)
    height = contact + material.roughness_m * texture * touch
    gy, gx = np.gradient(height, pixel_m)
    slope = np.cos(LED_ANGLES)[None, None, :] * gx[..., None] + np.sin(LED_ANGLES)[None, None, :] * gy[..., None]
    image = GEL_BASE[None, None, :] + SLOPE_GAIN * slope - 18.0 * touch[..., None]
    image *= _vignette(size)[..., None]
    image = np.where(_markers(size, rng)[..., None], image * 0.35, image)
    if noise:
        image = image + rng.normal(0.0, 2.0, image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _markers(size: int, rng: np.random.Generator) -> np.ndarray:
    """Dark marker dots on a 7 x 7 grid (jittered by the gel's shear)."""
    spacing = size / 7.0
    shift = rng.uniform(-0.15, 0.15, 2) * spacing
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    dy = (y - spacing / 2 - shift[0]) % spacing - spacing / 2
    dx = (x - spacing / 2 - shift[1]) % spacing - spacing / 2
    return dx * dx + dy * dy < (0.12 * spacing) ** 2 + 0.3


def _vignette(size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / (size - 1) * 2 - 1
    return 1.0 - 0.12 * (x * x + y * y)
