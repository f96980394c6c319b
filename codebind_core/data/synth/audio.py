"""Impact sounds by modal synthesis (van den Doel & Pai style).

y(t) = (p * sum_k a_k exp(-d_k t) sin(2 pi f_k t + phi_k))(t) + contact click + room noise, where
- f_k = f_1 * r_k: the category fixes the ratios r_k (:mod:`.shapes`), f_1 = mode_constant *
  stiffness / scale, so bigger objects ring lower and stiffer materials higher; each object is
  detuned by ~1 % (manufacturing spread);
- d_k = alpha + beta f_k: material damping (metal rings for a second, rubber thuds);
- p: half-sine contact force of the material's contact duration (soft -> longer -> duller);
- a_k, phi_k: strike position on the object (random), overall gain: strike strength (random).
Colour, pattern and temperature never enter.
"""
from __future__ import annotations

import numpy as np

from .materials import MaterialSpec
from .shapes import CategorySpec

NYQUIST_MARGIN = 0.45  # keep modes below 0.45 * sample rate


def modal_frequencies(category: CategorySpec, material: MaterialSpec, scale: float) -> np.ndarray:
    """Nominal modal frequencies [Hz] (before detuning)."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return category.mode_constant * material.stiffness / scale * np.asarray(category.mode_ratios)


def impact_sound(category: CategorySpec, material: MaterialSpec, scale: float, n_samples: int,
                 sample_rate: int, rng: np.random.Generator, noise: bool = True) -> np.ndarray:
    """(n_samples,) float32 waveform in [-1, 1] at ``sample_rate`` Hz."""
    freqs = modal_frequencies(category, material, scale) * (1.0 + rng.normal(0.0, 0.01, len(category.mode_ratios)))
    k = np.arange(len(freqs))
    amps = rng.uniform(0.3, 1.0, len(freqs)) / np.sqrt(1.0 + k)
    phases = rng.uniform(0, 2 * np.pi, len(freqs))
    keep = freqs < NYQUIST_MARGIN * sample_rate
    freqs, amps, phases = freqs[keep], amps[keep], phases[keep]
    decay = material.damping_alpha + material.damping_beta * freqs
    onset = int(rng.uniform(0.005, 0.05) * sample_rate)
    t = np.arange(n_samples - onset) / sample_rate
    ring = (amps[:, None] * np.exp(-decay[:, None] * t)
            * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0)
    pulse_len = max(1, int(round(material.contact_ms * 1e-3 * sample_rate)))
    pulse = np.sin(np.pi * (np.arange(pulse_len) + 0.5) / pulse_len)
    ring = np.convolve(ring, pulse / pulse.sum())[: len(t)]
    click = rng.normal(0.0, 1.0, len(t)) * np.exp(-t / 0.002) * 0.15 / material.contact_ms ** 0.5
    signal = np.zeros(n_samples)
    signal[onset:] = ring + click * (np.abs(ring).max() + 1e-9)
    signal *= rng.uniform(0.3, 0.9) / (np.abs(signal).max() + 1e-12)
    if noise:
        snr_db = rng.uniform(25.0, 45.0)
        rms = np.sqrt(np.mean(signal[onset:] ** 2) + 1e-12)
        signal += rng.normal(0.0, rms * 10 ** (-snr_db / 20), n_samples)
    return np.clip(signal, -1.0, 1.0).astype(np.float32)
