"""eeg: (channels, time) signal -> (channels, num_samples) float32, per-channel standardised.

Steps:
1. float or int16/int32 samples, any unit (standardisation removes it); with ``num_channels``
   set (128 by default, ImageNet-EEG's cap) the channel count must match.
2. each channel z-scored over time: (x - mean) / std. A flat channel (std at most 1e-7 of its
   largest magnitude, or exactly 0) becomes all zeros instead of dividing by ~0.
3. fitted to ``num_samples`` (512): ``fit="crop"`` keeps the first ``num_samples`` samples
   (stimulus-locked epochs start at the onset) and zero-pads a shorter signal at the end;
   ``fit="resample"`` stretches the signal linearly to exactly ``num_samples``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from . import _checks

NAME = "eeg"
MAX_CHANNELS = 1024
MAX_SAMPLES = 1 << 22
MAX_ELEMENTS = 1 << 27
FLAT_RELATIVE_STD = 1e-7
EEG_DTYPES = (np.int16, np.int32, *_checks.FLOAT_DTYPES)


def _crop(x: torch.Tensor, n: int) -> torch.Tensor:
    x = x[:, :n]
    return F.pad(x, (0, n - x.shape[1]))


def _resample(x: torch.Tensor, n: int) -> torch.Tensor:
    if x.shape[1] == n:
        return x
    return F.interpolate(x[None], size=n, mode="linear", align_corners=False)[0]


FITS: Dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {"crop": _crop, "resample": _resample}


@dataclass(frozen=True)
class EEGConfig(_checks.ModalityOptions):
    """EEG options.

    Attributes:
        num_channels: required channel count, or None to accept any.
        num_samples: output length T.
        fit: ``crop`` (crop/zero-pad) or ``resample`` (linear) to reach ``num_samples``.
        standardize: z-score each channel (on by default).
    """

    NAME: ClassVar[str] = NAME
    num_channels: Optional[int] = 128
    num_samples: int = 512
    fit: str = "crop"
    standardize: bool = True

    def validate(self) -> None:
        super().validate()  # types: standardize is a bool
        self.check_range("num_channels", 1, MAX_CHANNELS, integer=True)
        self.check_range("num_samples", 1, 1 << 16, integer=True)
        self.check_choice("fit", FITS)

    def output_shape(self) -> Tuple[int, ...]:
        if self.num_channels is None:
            raise ValueError(f"{NAME}: the output shape needs num_channels")
        return (self.num_channels, self.num_samples)


DEFAULTS = EEGConfig()
MODEL_OPTIONS = {"num_channels": "eeg_channels", "num_samples": "eeg_samples"}


def standardize(x: np.ndarray) -> np.ndarray:
    """Per-channel z-score of (C, T) float64; flat channels become zeros."""
    mean = x.mean(axis=1, keepdims=True)
    std = x.std(axis=1, keepdims=True)
    scale = np.abs(x).max(axis=1, keepdims=True)
    flat = (std <= FLAT_RELATIVE_STD * scale) | (std == 0)
    return np.where(flat, 0.0, (x - mean) / np.where(flat, 1.0, std))


def preprocess(raw: Any, **options: Any) -> torch.Tensor:
    """One (channels, time) recording -> (channels, num_samples) float32."""
    cfg = _checks.parse_options(NAME, EEGConfig, options)
    arr = _checks.to_array(NAME, raw)
    _checks.require_dtype(NAME, arr, EEG_DTYPES, " - pass float or int16/int32 samples")
    _checks.require_ndim(NAME, arr, (2,), "2-D (channels, time)")
    _checks.require_nonempty(NAME, arr)
    _checks.require_at_most(NAME, arr.shape[0], MAX_CHANNELS, "channels")
    _checks.require_at_most(NAME, arr.shape[1], MAX_SAMPLES, "samples per channel")
    _checks.require_at_most(NAME, arr.size, MAX_ELEMENTS, "values")
    if cfg.num_channels is not None and arr.shape[0] != cfg.num_channels:
        hint = " (looks like (time, channels): transpose it)" if arr.shape[1] == cfg.num_channels else ""
        raise ValueError(f"{NAME}: expected {cfg.num_channels} channels, got {arr.shape[0]} "
                         f"(shape {tuple(arr.shape)}){hint}; pass num_channels=None to accept any")
    _checks.require_finite(NAME, arr, "samples")
    x = arr.astype(np.float64)
    if cfg.standardize:
        x = standardize(x)
    return FITS[cfg.fit](torch.from_numpy(x), cfg.num_samples).to(torch.float32).contiguous()


def preprocess_batch(raws: Sequence[Any], **options: Any) -> torch.Tensor:
    """A list of recordings (same channel count, any lengths) -> (B, channels, num_samples)."""
    return _checks.stack_batch(NAME, preprocess, raws, options)


def example(rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """A (128, 600) float32 recording in microvolts (1 kHz, 0.6 s): 10 Hz alpha with a per-channel
    phase and amplitude, 1/f-like drift, white noise, one flat (disconnected) channel."""
    rng = rng if rng is not None else np.random.default_rng(0)
    c, t = 128, 600
    time = np.arange(t) / 1000.0
    alpha = rng.uniform(5, 20, (c, 1)) * np.sin(2 * np.pi * 10.0 * time + rng.uniform(0, 2 * np.pi, (c, 1)))
    drift = np.cumsum(rng.normal(0, 0.5, (c, t)), axis=1)
    x = alpha + drift + rng.normal(0, 2.0, (c, t))
    x[int(rng.integers(c))] = 0.0
    return x.astype(np.float32)
