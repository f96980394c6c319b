"""Band-limited audio resampling in torch (windowed sinc, polyphase by a strided conv1d).

The standard windowed-sinc interpolator (the algorithm of ``torchaudio.functional.resample``'s
default ``sinc_interp_hann``): the rate ratio is reduced to ``new / orig`` by their gcd, and each
of the ``new`` output phases gets a Hann-windowed sinc low-pass kernel with cutoff
``rolloff * min(orig, new) / 2`` and ``lowpass_filter_width`` zero crossings on each side.
"""
from __future__ import annotations

import collections
import math
import threading
from typing import Tuple

import torch

# Guards against rate pairs with a huge reduced ratio (e.g. 44101 Hz): at most 16 MB of float64
# filter. Every pair of common rates needs far less (11025 -> 16000 Hz: 0.3 M elements, 2.3 MB).
MAX_KERNEL_ELEMENTS = 1 << 21
# Filters are cached (least recently used first out) up to this many bytes in all, so a stream
# whose rate keeps changing cannot grow the process.
MAX_CACHE_BYTES = 32 << 20

_cache: "collections.OrderedDict[tuple, Tuple[torch.Tensor, int]]" = collections.OrderedDict()
_cache_lock = threading.Lock()


def cache_bytes() -> int:
    """Bytes held by the filter cache now."""
    with _cache_lock:
        return sum(k.numel() * k.element_size() for k, _ in _cache.values())


def cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def _kernel(orig: int, new: int, width_crossings: int, rolloff: float) -> Tuple[torch.Tensor, int]:
    """The cached :func:`_make_kernel` (bounded by :data:`MAX_CACHE_BYTES`)."""
    key = (orig, new, width_crossings, rolloff)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    value = _make_kernel(orig, new, width_crossings, rolloff)
    size = value[0].numel() * value[0].element_size()
    if size <= MAX_CACHE_BYTES:
        with _cache_lock:
            _cache[key] = value
            total = sum(k.numel() * k.element_size() for k, _ in _cache.values())
            while total > MAX_CACHE_BYTES and len(_cache) > 1:
                old, _ = _cache.popitem(last=False)[1]
                total -= old.numel() * old.element_size()
    return value


def _make_kernel(orig: int, new: int, width_crossings: int, rolloff: float) -> Tuple[torch.Tensor, int]:
    """(new, 1, L) float64 polyphase kernels and the padding width."""
    base = min(orig, new) * rolloff
    width = math.ceil(width_crossings * orig / base)
    taps = torch.arange(-width, width + orig, dtype=torch.float64) / orig
    t = (-torch.arange(new, dtype=torch.float64)[:, None] / new + taps[None, :]) * base
    t = t.clamp(-width_crossings, width_crossings)
    window = torch.cos(t * math.pi / width_crossings / 2).pow(2)
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / torch.where(t == 0, torch.ones_like(t), t))
    return (sinc * window * (base / orig))[:, None, :], width


def resample(waveform: torch.Tensor, orig_rate: int, new_rate: int, lowpass_filter_width: int = 6,
             rolloff: float = 0.99) -> torch.Tensor:
    """(..., samples) -> (..., ceil(samples * new_rate / orig_rate)) at ``new_rate`` Hz."""
    if orig_rate <= 0 or new_rate <= 0:
        raise ValueError(f"resample: sample rates must be positive, got {orig_rate} -> {new_rate}")
    if orig_rate == new_rate:
        return waveform
    g = math.gcd(int(orig_rate), int(new_rate))
    orig, new = int(orig_rate) // g, int(new_rate) // g
    if new * (2 * math.ceil(lowpass_filter_width * orig / (min(orig, new) * rolloff)) + orig) \
            > MAX_KERNEL_ELEMENTS:
        raise ValueError(f"resample: the ratio {new_rate}/{orig_rate} reduces to {new}/{orig}, too "
                         f"fine for a polyphase filter; resample to a rounder rate first")
    kernel, width = _kernel(orig, new, lowpass_filter_width, rolloff)
    shape = waveform.shape
    x = waveform.reshape(-1, 1, shape[-1])
    x = torch.nn.functional.pad(x, (width, width + orig))
    y = torch.nn.functional.conv1d(x, kernel.to(waveform.dtype), stride=orig)  # (N, new, frames)
    y = y.transpose(1, 2).reshape(x.shape[0], -1)
    target = math.ceil(new * shape[-1] / orig)
    return y[:, :target].reshape(*shape[:-1], target)
