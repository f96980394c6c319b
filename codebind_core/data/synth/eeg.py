"""EEG-like evoked responses: a category-dependent spatio-temporal pattern plus brain noise.

The response to seeing an object is the sum of (a) components common to every object (a visual
P1 at ~100 ms and an N1 at ~170 ms over the back of the head) and (b) three category-specific
components (latency 150-450 ms, width 25-70 ms, 1.5-4 uV, each with a smooth scalp topography),
per subject shifted in latency (+-20 ms), gain (0.7-1.3) and topography. The templates depend
only on the category name and subject index, never on the dataset seed, so a model trained on
one seed meets the same "brains" on another. Noise: spatially correlated 1/f background
(``noise_uv`` RMS), an alpha rhythm (8-12 Hz) over the back, 50 Hz mains hum and per-trial
latency/amplitude jitter. Channels sit on a disk (sunflower layout; +y is the back of the head).
Output is microvolts, stimulus onset at 10 % of the window.
"""
from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from typing import Tuple

import numpy as np

ONSET_FRACTION = 0.1


@dataclass(frozen=True)
class Component:
    latency: float      # s after onset
    width: float        # s
    amplitude: float    # uV (signed)
    centre: Tuple[float, float]
    spread: float


def _name_rng(key: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(key.encode()))


@functools.lru_cache(maxsize=None)
def channel_layout(n_channels: int) -> np.ndarray:
    """(C, 2) electrode positions on the unit disk (sunflower spiral)."""
    k = np.arange(n_channels) + 0.5
    r = np.sqrt(k / n_channels)
    theta = np.pi * (3 - np.sqrt(5)) * k
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)


COMMON = (Component(0.10, 0.025, 3.0, (0.0, 0.8), 0.45), Component(0.17, 0.035, -4.0, (0.0, 0.6), 0.6))


@functools.lru_cache(maxsize=None)
def category_components(category: str) -> Tuple[Component, ...]:
    """The three category-specific components (fixed by the category name)."""
    rng = _name_rng(f"synthbind-eeg-category:{category}")
    comps = []
    for _ in range(3):
        r, a = np.sqrt(rng.uniform(0, 0.8)), rng.uniform(0, 2 * np.pi)
        comps.append(Component(float(rng.uniform(0.15, 0.45)), float(rng.uniform(0.025, 0.07)),
                               float(rng.uniform(1.5, 4.0) * rng.choice([-1.0, 1.0])),
                               (float(r * np.cos(a)), float(r * np.sin(a))), float(rng.uniform(0.3, 0.7))))
    return tuple(comps)


@functools.lru_cache(maxsize=None)
def subject_traits(subject: int) -> Tuple[float, float, Tuple[float, float]]:
    """(latency shift [s], gain, topography shift) of a subject."""
    rng = _name_rng(f"synthbind-eeg-subject:{subject}")
    return float(rng.uniform(-0.02, 0.02)), float(rng.uniform(0.7, 1.3)), tuple(rng.normal(0, 0.08, 2))


def evoked_response(category: str, subject: int, n_channels: int, n_samples: int, rate: float,
                    rng: np.random.Generator) -> np.ndarray:
    """(C, T) single-trial evoked potential [uV] with per-trial jitter."""
    shift, gain, topo_shift = subject_traits(subject)
    pos = channel_layout(n_channels)
    t = np.arange(n_samples) / rate - ONSET_FRACTION * n_samples / rate
    out = np.zeros((n_channels, n_samples))
    for comp in COMMON + category_components(category):
        latency = comp.latency + shift + rng.normal(0.0, 0.012)
        amp = comp.amplitude * gain * (1.0 + rng.normal(0.0, 0.15))
        centre = np.asarray(comp.centre) + np.asarray(topo_shift)
        topo = np.exp(-np.sum((pos - centre) ** 2, axis=1) / (2 * comp.spread ** 2))
        out += amp * topo[:, None] * np.exp(-0.5 * ((t - latency) / comp.width) ** 2)[None, :]
    return out


def background_activity(n_channels: int, n_samples: int, rate: float, noise_uv: float,
                        rng: np.random.Generator) -> np.ndarray:
    """(C, T) ongoing EEG [uV]: correlated 1/f noise + alpha + mains."""
    freqs = np.fft.rfftfreq(n_samples, 1.0 / rate)
    shaping = 1.0 / np.sqrt(np.maximum(freqs, 1.0))
    spec = np.fft.rfft(rng.normal(size=(n_channels, n_samples)), axis=1) * shaping
    pink = np.fft.irfft(spec, n=n_samples, axis=1)
    pos = channel_layout(n_channels)
    dist2 = np.sum((pos[:, None] - pos[None]) ** 2, axis=-1)
    mix = np.exp(-dist2 / 0.2)
    pink = (mix / mix.sum(1, keepdims=True)) @ pink
    pink *= noise_uv / (pink.std() + 1e-12)
    t = np.arange(n_samples) / rate
    alpha_topo = np.exp(-np.sum((pos - np.array([0.0, 0.7])) ** 2, axis=1) / 0.5)
    alpha = rng.uniform(0.3, 1.0) * noise_uv * np.sin(2 * np.pi * rng.uniform(8, 12) * t + rng.uniform(0, 2 * np.pi))
    mains = 0.3 * np.sin(2 * np.pi * 50.0 * t + rng.uniform(0, 2 * np.pi)) if rate > 100 else 0.0
    return pink + alpha_topo[:, None] * alpha[None, :] + mains


def eeg_trial(category: str, subject: int, n_channels: int, n_samples: int, rate: float, noise_uv: float,
              rng: np.random.Generator, noise: bool = True) -> np.ndarray:
    """(C, T) float32 microvolts: evoked response (+ background activity when ``noise``)."""
    x = evoked_response(category, subject, n_channels, n_samples, rate, rng)
    if noise:
        x = x + background_activity(n_channels, n_samples, rate, noise_uv, rng)
    return x.astype(np.float32)
