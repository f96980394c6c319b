"""Thermal (LWIR) images in kelvin: apparent temperature from emitted + reflected radiation.

Per pixel, with Stefan-Boltzmann radiance ~ T^4:  T_app^4 = e T_s^4 + (1 - e) T_amb^4, where the
directional emissivity e = e0 (1 - (1 - cos theta)^5) falls off at grazing angles (so shape shows
in thermal) and e0 comes from the material (polished metal ~0.15 looks close to ambient). The
surface temperature T_s rises towards the top of a warm object (convection). Sensor: optics blur,
NETD noise 0.05 K, column fixed-pattern noise and a per-frame offset. Colour and pattern never
enter here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

from .raycast import Hits

NETD_K = 0.05


@dataclass(frozen=True)
class HeatSource:
    """Thermal state of one object: surface temperature [K], emissivity, centre and size (for the
    vertical gradient), and the world 'up' direction."""

    temperature: float
    emissivity: float
    centre: np.ndarray
    scale: float
    up: np.ndarray


def apparent_radiance(hits: Hits, directions: np.ndarray, origin: np.ndarray, sources: Sequence[HeatSource],
                      ambient: float, background: np.ndarray) -> np.ndarray:
    """T^4 map (so that supersampled pixels average radiance): ``background`` (H, W) kelvin where
    nothing is hit."""
    out = np.asarray(background, dtype=np.float64) ** 4
    unit = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    cos = np.abs(np.einsum("...i,...i->...", hits.normal, unit))
    for i, src in enumerate(sources):
        sel = hits.object_id == i
        if not sel.any():
            continue
        points = origin + hits.t[sel, None] * directions[sel]
        height = ((points - src.centre) @ np.asarray(src.up)) / src.scale
        surface = src.temperature + 0.02 * (src.temperature - ambient) * height
        e = src.emissivity * (1.0 - (1.0 - cos[sel]) ** 5)
        out[sel] = e * surface ** 4 + (1.0 - e) * ambient ** 4
    return out


def to_kelvin(radiance: np.ndarray) -> np.ndarray:
    return np.power(np.clip(radiance, 0.0, None), 0.25)


def sensor(kelvin: np.ndarray, rng: np.random.Generator, blur_px: float = 0.6) -> np.ndarray:
    """Optics blur and LWIR sensor noise."""
    out = gaussian_filter(kelvin, blur_px, mode="nearest")
    out = out + rng.normal(0.0, NETD_K, out.shape)
    out = out + rng.normal(0.0, 0.03, (1, out.shape[1]))
    return out + rng.normal(0.0, 0.3)


def wall_temperature(height: int, width: int, ambient: float) -> np.ndarray:
    """The backdrop: ambient with a slightly warmer top (warm air under the ceiling)."""
    ramp = np.linspace(0.4, -0.4, height)[:, None]
    return np.broadcast_to(ambient + ramp, (height, width)).copy()
