"""Sliding window over a stream of small audio chunks (microphone drivers publish ~10-100 ms).

The encoder embeds ``window_s`` seconds of sound every ``hop_s`` seconds instead of every chunk:
chunks are appended to a bounded buffer, and once it holds a full window and ``hop_s`` seconds
arrived since the last window, the newest ``window_s`` seconds come out, stamped with the header
of the chunk that completed them. A change of sample rate or channel count restarts the buffer.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np


class AudioWindow:
    """Accumulate (channels, samples) chunks; :meth:`push` returns a full window when one is due."""

    def __init__(self, window_s: float, hop_s: Optional[float] = None):
        if not 0 < window_s <= 600:
            raise ValueError(f"audio window must be in (0, 600] seconds, got {window_s}")
        hop_s = window_s if hop_s is None or hop_s <= 0 else hop_s
        if hop_s > window_s:
            raise ValueError(f"audio hop ({hop_s} s) must not exceed the window ({window_s} s)")
        self.window_s, self.hop_s = window_s, hop_s
        self._buffer: Optional[np.ndarray] = None
        self._format: Optional[Tuple[int, int]] = None
        self._since_last = 0  # samples arrived since the last emitted window

    def push(self, wave: np.ndarray, sample_rate: int) -> Optional[np.ndarray]:
        """Add a (channels, samples) chunk; return a (channels, window) array when one is due."""
        fmt = (int(sample_rate), int(wave.shape[0]))
        window = int(round(self.window_s * sample_rate))
        if fmt != self._format:
            self._buffer, self._format, self._since_last = wave[:, :0].copy(), fmt, 0
        self._buffer = np.concatenate([self._buffer, wave], axis=1)[:, -window:]  # bounded
        self._since_last += wave.shape[1]
        if self._buffer.shape[1] < window or self._since_last < int(round(self.hop_s * sample_rate)):
            return None
        self._since_last = 0
        return self._buffer.copy()
