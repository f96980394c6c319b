"""codebind_ros/AudioData <-> numpy: interleaved PCM bytes <-> float32 (channels, samples)."""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
from std_msgs.msg import Header

# sample_format -> (dtype with byte order, scale to [-1, 1), offset subtracted before scaling)
FORMATS: Dict[str, tuple] = {
    "U8": (np.dtype("u1"), 1.0 / 128.0, 128.0),
    "S16LE": (np.dtype("<i2"), 1.0 / 32768.0, 0.0),
    "S16BE": (np.dtype(">i2"), 1.0 / 32768.0, 0.0),
    "S32LE": (np.dtype("<i4"), 1.0 / 2147483648.0, 0.0),
    "S32BE": (np.dtype(">i4"), 1.0 / 2147483648.0, 0.0),
    "F32LE": (np.dtype("<f4"), 1.0, 0.0),
    "F32BE": (np.dtype(">f4"), 1.0, 0.0),
    "F64LE": (np.dtype("<f8"), 1.0, 0.0),
}
MAX_CHANNELS = 32
# what microphone drivers publish (telephone 8 kHz .. studio 192 kHz); other rates are refused
MIN_RATE, MAX_RATE = 8000, 192_000


def _message_type():
    from codebind_ros.msg import AudioData  # generated interface (see codebind_ros/__init__.py)

    return AudioData


def audio_to_array(msg) -> np.ndarray:
    """(channels, samples) float32 in [-1, 1] from an AudioData message (interleaved frames)."""
    if msg.sample_format not in FORMATS:
        raise ValueError(f"unsupported sample_format {msg.sample_format!r}; "
                         f"supported: {sorted(FORMATS)}")
    if not 1 <= msg.channels <= MAX_CHANNELS:
        raise ValueError(f"channels must be in 1..{MAX_CHANNELS}, got {msg.channels}")
    if not MIN_RATE <= msg.sample_rate <= MAX_RATE:
        raise ValueError(f"sample_rate must be in {MIN_RATE}..{MAX_RATE} Hz, got {msg.sample_rate}")
    dtype, scale, offset = FORMATS[msg.sample_format]
    frame_bytes = dtype.itemsize * msg.channels
    size = len(msg.data)
    if size == 0:
        raise ValueError("audio message has no samples")
    if size % frame_bytes:
        raise ValueError(f"data has {size} bytes, not a multiple of channels * bytes per sample "
                         f"= {msg.channels} * {dtype.itemsize}")
    samples = np.frombuffer(msg.data, dtype=np.uint8).view(dtype).reshape(-1, msg.channels)
    wave = (samples.astype(np.float64) - offset) * scale
    if not np.isfinite(wave).all():
        raise ValueError("audio contains NaN or inf samples")
    return np.ascontiguousarray(wave.T, dtype=np.float32)


def array_to_audio(wave: np.ndarray, sample_rate: int, sample_format: str = "S16LE",
                   header: Optional[Header] = None):
    """(channels, samples) or (samples,) float in [-1, 1] -> AudioData (clipped, interleaved)."""
    if sample_format not in FORMATS:
        raise ValueError(f"unsupported sample_format {sample_format!r}; supported: {sorted(FORMATS)}")
    wave = np.asarray(wave, dtype=np.float64)
    if wave.ndim == 1:
        wave = wave[None]
    if wave.ndim != 2 or wave.shape[0] < 1 or wave.shape[1] < 1:
        raise ValueError(f"wave must be (channels, samples) with both >= 1, got shape {wave.shape}")
    dtype, scale, offset = FORMATS[sample_format]
    values = wave.T / scale + offset
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    msg = _message_type()()
    if header is not None:
        msg.header = header
    msg.sample_rate = int(sample_rate)
    msg.channels = int(wave.shape[0])
    msg.sample_format = sample_format
    msg.data = np.ascontiguousarray(values.astype(dtype)).tobytes()
    return msg
