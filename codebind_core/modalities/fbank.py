"""Kaldi-compatible log-mel filterbank features in torch, batched (ImageBind's audio front end).

Equivalent to ``torchaudio.compliance.kaldi.fbank`` with ``htk_compat=True, use_energy=False,
dither=0, snip_edges=True, round_to_power_of_two=True, use_power=True, use_log_fbank=True``:

1. frames of ``frame_length`` ms every ``frame_shift`` ms, only frames that fit (snip_edges);
2. per frame: remove the DC offset, pre-emphasis ``x[n] - 0.97 x[n-1]`` (x[-1] := x[0]),
   window (Kaldi's ``hanning`` is the symmetric Hann window), zero-pad to a power of two;
3. power spectrum ``|rfft|^2``;
4. triangular mel filters on Kaldi's mel scale ``1127 ln(1 + f / 700)`` between ``low_freq``
   (20 Hz) and ``high_freq`` (<= 0 means Nyquist + high_freq), triangles defined in mel space;
5. ``log(max(energy, float32 eps))``.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable, Dict

import torch

EPSILON = torch.finfo(torch.float32).eps  # Kaldi's log floor (torchaudio uses the same)


def _hanning(n: int) -> torch.Tensor:
    return torch.hann_window(n, periodic=False, dtype=torch.float64)


def _hamming(n: int) -> torch.Tensor:
    return torch.hamming_window(n, periodic=False, alpha=0.54, beta=0.46, dtype=torch.float64)


def _povey(n: int) -> torch.Tensor:
    return _hanning(n).pow(0.85)


def _rectangular(n: int) -> torch.Tensor:
    return torch.ones(n, dtype=torch.float64)


WINDOWS: Dict[str, Callable[[int], torch.Tensor]] = {
    "hanning": _hanning,
    "hamming": _hamming,
    "povey": _povey,
    "rectangular": _rectangular,
}


def mel_scale(freq: torch.Tensor) -> torch.Tensor:
    """Kaldi/HTK mel scale: 1127 ln(1 + f / 700)."""
    return 1127.0 * torch.log1p(freq / 700.0)


def num_frames(num_samples: int, sample_rate: int = 16000, frame_length: float = 25.0,
               frame_shift: float = 10.0) -> int:
    """Frames produced from ``num_samples`` samples with snip_edges (0 if shorter than one frame)."""
    size, shift = _window_size(sample_rate, frame_length), _window_size(sample_rate, frame_shift)
    return 0 if num_samples < size else 1 + (num_samples - size) // shift


def _window_size(sample_rate: int, ms: float) -> int:
    return int(sample_rate * ms * 0.001)


@lru_cache(maxsize=16)
def mel_banks(num_bins: int, fft_size: int, sample_rate: int, low_freq: float = 20.0,
              high_freq: float = 0.0) -> torch.Tensor:
    """(num_bins, fft_size // 2 + 1) float64 triangular filters; the Nyquist column is zero."""
    nyquist = 0.5 * sample_rate
    high = high_freq if high_freq > 0 else nyquist + high_freq
    if not 0.0 <= low_freq < high <= nyquist:
        raise ValueError(f"fbank: need 0 <= low_freq < high_freq <= Nyquist, got {low_freq}, {high}")
    mel_low, mel_high = mel_scale(torch.tensor(low_freq, dtype=torch.float64)), \
        mel_scale(torch.tensor(high, dtype=torch.float64))
    delta = (mel_high - mel_low) / (num_bins + 1)
    edges = mel_low + delta * torch.arange(num_bins + 2, dtype=torch.float64)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    fft_mel = mel_scale(sample_rate / fft_size * torch.arange(fft_size // 2, dtype=torch.float64))[None]
    up = (fft_mel - left) / (centre - left)
    down = (right - fft_mel) / (right - centre)
    banks = torch.clamp(torch.minimum(up, down), min=0.0)
    return torch.nn.functional.pad(banks, (0, 1))  # Kaldi leaves the Nyquist bin out


@lru_cache(maxsize=16)
def _window(name: str, size: int) -> torch.Tensor:
    return WINDOWS[name](size)


def fbank(waveforms: torch.Tensor, sample_rate: int = 16000, num_mel_bins: int = 128,
          frame_length: float = 25.0, frame_shift: float = 10.0, preemphasis: float = 0.97,
          window_type: str = "hanning", low_freq: float = 20.0, high_freq: float = 0.0,
          remove_dc_offset: bool = True) -> torch.Tensor:
    """(..., samples) float waveforms -> (..., frames, num_mel_bins) log-mel energies.

    Every leading axis is a batch axis; the computation dtype is the input's (float32/float64).
    """
    if not torch.is_floating_point(waveforms) or waveforms.ndim < 1:
        raise ValueError("fbank: expected a floating-point tensor of shape (..., samples)")
    if window_type not in WINDOWS:
        raise ValueError(f"fbank: window_type must be one of {sorted(WINDOWS)}, got {window_type!r}")
    size, shift = _window_size(sample_rate, frame_length), _window_size(sample_rate, frame_shift)
    if size < 2 or shift < 1:
        raise ValueError(f"fbank: frame_length/frame_shift too short for {sample_rate} Hz")
    n = num_frames(waveforms.shape[-1], sample_rate, frame_length, frame_shift)
    if n == 0:
        raise ValueError(f"fbank: {waveforms.shape[-1]} samples is shorter than one frame ({size} samples)")
    dtype = waveforms.dtype
    frames = waveforms.unfold(-1, size, shift)  # (..., n, size), a view
    if remove_dc_offset:
        frames = frames - frames.mean(dim=-1, keepdim=True)
    if preemphasis != 0.0:
        previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
        frames = frames - preemphasis * previous
    frames = frames * _window(window_type, size).to(dtype)
    fft_size = 1 << max(0, math.ceil(math.log2(size)))
    power = torch.fft.rfft(frames, n=fft_size).abs().pow(2)  # zero-padded to fft_size
    banks = mel_banks(num_mel_bins, fft_size, sample_rate, float(low_freq), float(high_freq)).to(dtype)
    energies = power @ banks.T
    return torch.clamp(energies, min=EPSILON).log()
