"""audio: PCM waveform -> (num_clips, 1, 128, 204) float32 normalised log-mel clips (ImageBind).

Steps (ImageBind's ``load_and_transform_audio_data``):
1. (samples,) or (channels, samples); float PCM, or int16/int32 PCM scaled to [-1, 1).
2. mono: the mean of the channels (``channel=i`` picks one; ImageBind's loader effectively used
   channel 0, since Kaldi's fbank reads only the first channel).
3. the model's rate is 16 kHz: another ``sample_rate`` raises unless ``resample=True`` (sinc
   resampling in torch, :mod:`.resample`).
4. ``num_clips`` clips of ``clip_seconds`` at uniformly spaced starts over the signal
   (pytorchvideo's ``ConstantClipsPerVideoSampler``: start_i = i * (duration - clip) / (clips - 1)).
   A signal shorter than a clip: ``pad_mode="zeros"`` (default, as ImageBind) uses the whole
   signal and zero-pads the spectrogram; ``"repeat"`` tiles the waveform to the clip length first.
   ``clip_timing="exact"`` (default) computes the boundaries in exact fractions of the sample
   count; ``"imagebind"`` reproduces ImageBind's loader, which hands the sampler the duration as a
   float (``samples / rate``) and so floors some boundaries one sample lower (about half of all
   lengths between 2 and 6 s at 16 kHz).
   ``mean_removal``: ``"none"`` (default), ``"clip"`` (each clip minus its own mean), or
   ``"imagebind"``: as ImageBind's ``waveform2melspec``, each clip's mean (over all channels) is
   subtracted in place from the shared waveform, clip after clip, so where clips overlap (audio
   shorter than num_clips * clip_seconds) a later clip starts from samples that earlier clips
   already shifted.
5. Kaldi fbank (:mod:`.fbank`: 128 mel bins, 25 ms Hann frames every 10 ms), transposed to
   (mel, frames), zero-padded or cropped to 204 frames.
6. ``(fbank - mean) / std`` with mean -4.268 and std 9.138 (torchvision ``Normalize`` in ImageBind).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar, List, Optional, Sequence, Tuple

import numpy as np
import torch

from . import _checks
from .fbank import fbank, num_frames
from .resample import resample

NAME = "audio"
MODEL_SAMPLE_RATE = 16000
MAX_CHANNELS = 32
MAX_SAMPLES = 1 << 25  # per channel: 35 min at 16 kHz, 11.6 min at 48 kHz
PCM_SCALE = {np.dtype(np.int16): 1.0 / 32768.0, np.dtype(np.int32): 1.0 / 2147483648.0,
             **{d: 1.0 for d in _checks.FLOAT_DTYPES}}
PAD_MODES = ("zeros", "repeat")
CLIP_TIMINGS = ("exact", "imagebind")
MEAN_REMOVALS = ("none", "clip", "imagebind")


@dataclass(frozen=True)
class AudioConfig(_checks.ModalityOptions):
    """Audio options.

    Attributes:
        sample_rate: rate of the input in Hz.
        resample: resample to 16 kHz when ``sample_rate`` differs (otherwise that is an error).
        channel: None averages the channels; an index picks one.
        num_clips, clip_seconds: clips sampled uniformly over the signal (3 x 2 s).
        num_mel_bins, target_frames: spectrogram size per clip (128 x 204).
        mean, std: spectrogram normalisation (-4.268, 9.138).
        pad_mode: ``zeros`` or ``repeat`` for signals shorter than a clip.
        clip_timing: ``exact`` or ``imagebind`` (ImageBind's float-duration clip boundaries).
        mean_removal: ``none``, ``clip`` or ``imagebind`` (ImageBind's in-place subtraction).
    """

    NAME: ClassVar[str] = NAME
    sample_rate: int = MODEL_SAMPLE_RATE
    resample: bool = False
    channel: Optional[int] = None
    num_clips: int = 3
    clip_seconds: float = 2.0
    num_mel_bins: int = 128
    target_frames: int = 204
    mean: float = -4.268
    std: float = 9.138
    pad_mode: str = "zeros"
    clip_timing: str = "exact"
    mean_removal: str = "none"

    def validate(self) -> None:
        super().validate()  # types: resample is a bool
        self.check_range("sample_rate", 1000, 1_000_000, integer=True)
        self.check_range("channel", 0, MAX_CHANNELS - 1, integer=True)
        self.check_range("num_clips", 1, 64, integer=True)
        self.check_range("clip_seconds", 0.025, 60.0)
        self.check_range("num_mel_bins", 1, 256, integer=True)
        self.check_range("target_frames", 1, 10_000, integer=True)
        self.check_range("mean", -1e3, 1e3)
        self.check_range("std", 0.0, 1e3, open_lo=True)
        self.check_choice("pad_mode", PAD_MODES)
        self.check_choice("clip_timing", CLIP_TIMINGS)
        self.check_choice("mean_removal", MEAN_REMOVALS)

    def output_shape(self) -> Tuple[int, ...]:
        return (self.num_clips, 1, self.num_mel_bins, self.target_frames)


DEFAULTS = AudioConfig()
MODEL_OPTIONS = {"num_mel_bins": "mel_bins", "target_frames": "audio_frames"}


def to_channels(raw: Any, cfg: AudioConfig) -> torch.Tensor:
    """Validated PCM -> (channels, samples) float32 at the input rate."""
    arr = _checks.to_array(NAME, raw)
    _checks.require_dtype(NAME, arr, PCM_SCALE, " - pass float PCM or int16/int32 PCM")
    _checks.require_ndim(NAME, arr, (1, 2), "1-D (samples,) or 2-D (channels, samples)")
    _checks.require_nonempty(NAME, arr)
    pcm = arr if arr.ndim == 2 else arr[None]
    if pcm.shape[0] > MAX_CHANNELS:
        hint = " (looks like (samples, channels): transpose it)" if pcm.shape[1] <= MAX_CHANNELS else ""
        raise ValueError(f"{NAME}: {pcm.shape[0]} channels exceeds the limit of {MAX_CHANNELS}, "
                         f"shape {tuple(arr.shape)}{hint}")
    _checks.require_at_most(NAME, pcm.shape[1], MAX_SAMPLES, "samples per channel")
    _checks.require_finite(NAME, pcm, "samples")
    if cfg.channel is not None and cfg.channel >= pcm.shape[0]:
        raise ValueError(f"{NAME}: channel {cfg.channel} requested but the input has {pcm.shape[0]}")
    return torch.from_numpy(np.ascontiguousarray(pcm)).to(torch.float32) * PCM_SCALE[arr.dtype]


def _mix(x: torch.Tensor, cfg: AudioConfig) -> torch.Tensor:
    """(channels, samples) -> (samples,): the chosen channel or the mean of the channels."""
    return x[cfg.channel] if cfg.channel is not None else x.mean(dim=0)


def clip_bounds(num_samples: int, sample_rate: int, num_clips: int,
                clip_seconds: float, timing: str = "exact") -> List[Tuple[int, int]]:
    """[start, end) sample indices of uniformly spaced clips (ConstantClipsPerVideoSampler).

    ``timing="exact"``: the duration is the exact fraction num_samples / sample_rate.
    ``timing="imagebind"``: the duration is the float ``num_samples / sample_rate`` that ImageBind's
    loader passes to pytorchvideo; the sampler then subtracts the clip length in float and
    continues in exact fractions of that float, and the loader floors ``time * sample_rate``.
    """
    clip = Fraction(clip_seconds)
    if timing == "exact":
        max_start = max(Fraction(num_samples, sample_rate) - clip, Fraction(0))
    elif timing == "imagebind":
        seconds = num_samples / sample_rate  # a float, rounded to nearest
        max_start = Fraction(max(seconds - float(clip), 0.0))  # float - clip, then exact
    else:
        raise ValueError(f"{NAME}: clip timing must be one of {CLIP_TIMINGS}, got {timing!r}")
    step = max_start / max(num_clips - 1, 1)
    return [(int(step * i * sample_rate), min(int((step * i + clip) * sample_rate), num_samples))
            for i in range(num_clips)]


def clip_waveforms(pcm: torch.Tensor, bounds: Sequence[Tuple[int, int]],
                   cfg: AudioConfig) -> List[torch.Tensor]:
    """(channels, samples) float32 -> the mono waveform of every clip, after ``cfg.mean_removal``."""
    if cfg.mean_removal == "imagebind":
        shared = pcm.clone()  # ImageBind subtracts in place from the loaded waveform
        clips = []
        for a, b in bounds:
            view = shared[:, a:b]
            view -= view.mean()  # over every channel of the clip; overlapping clips see it
            clips.append(_mix(view, cfg).clone())  # the fbank reads the clip right away
        return clips
    mono = _mix(pcm, cfg)
    clips = [mono[a:b] for a, b in bounds]
    if cfg.mean_removal == "clip":
        clips = [c - c.mean() for c in clips]
    return clips


def clips_to_fbank(clips: List[torch.Tensor], cfg: AudioConfig) -> torch.Tensor:
    """Waveform clips -> (num_clips, mel, target_frames) raw log-mel, padded/cropped."""
    opts = dict(sample_rate=MODEL_SAMPLE_RATE, num_mel_bins=cfg.num_mel_bins)
    if len({c.shape[0] for c in clips}) == 1:  # usual case: one batched call
        feats = list(fbank(torch.stack(clips), **opts))
    else:
        feats = [fbank(c, **opts) for c in clips]
    out = torch.zeros(len(clips), cfg.num_mel_bins, cfg.target_frames)
    for i, f in enumerate(feats):  # f: (frames, mel)
        n = min(f.shape[0], cfg.target_frames)
        out[i, :, :n] = f[:n].T
    return out


def preprocess(raw: Any, **options: Any) -> torch.Tensor:
    """One waveform -> (num_clips, 1, num_mel_bins, target_frames) float32."""
    cfg = _checks.parse_options(NAME, AudioConfig, options)
    pcm = to_channels(raw, cfg)
    if cfg.mean_removal != "imagebind":  # only ImageBind's subtraction needs every channel
        pcm = _mix(pcm, cfg)[None]
    if cfg.sample_rate != MODEL_SAMPLE_RATE:
        if not cfg.resample:
            raise ValueError(f"{NAME}: sample_rate is {cfg.sample_rate} Hz but the model expects "
                             f"{MODEL_SAMPLE_RATE} Hz; pass resample=True to convert")
        pcm = resample(pcm, cfg.sample_rate, MODEL_SAMPLE_RATE)
    clip_len = int(Fraction(cfg.clip_seconds) * MODEL_SAMPLE_RATE)
    if cfg.pad_mode == "repeat" and pcm.shape[1] < clip_len:
        pcm = pcm.repeat(1, -(-clip_len // pcm.shape[1]))[:, :clip_len]
    if num_frames(pcm.shape[1], MODEL_SAMPLE_RATE) == 0:
        raise ValueError(f"{NAME}: {pcm.shape[1]} samples at {MODEL_SAMPLE_RATE} Hz is shorter than "
                         f"one 25 ms frame; pass pad_mode='repeat' or a longer signal")
    bounds = clip_bounds(pcm.shape[1], MODEL_SAMPLE_RATE, cfg.num_clips, cfg.clip_seconds, cfg.clip_timing)
    if cfg.mean_removal != "imagebind":
        cfg = dataclasses.replace(cfg, channel=0)  # pcm is already the mono signal
    spec = clips_to_fbank(clip_waveforms(pcm, bounds, cfg), cfg)
    return ((spec - cfg.mean) / cfg.std).unsqueeze(1).contiguous()


def preprocess_batch(raws: Sequence[Any], **options: Any) -> torch.Tensor:
    """A list of waveforms (any lengths) -> (B, num_clips, 1, num_mel_bins, target_frames)."""
    return _checks.stack_batch(NAME, preprocess, raws, options)


def example(rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """A 1.5 s float32 mono clip at 16 kHz: a decaying harmonic impact sound over faint noise."""
    rng = rng if rng is not None else np.random.default_rng(0)
    t = np.arange(int(1.5 * MODEL_SAMPLE_RATE)) / MODEL_SAMPLE_RATE
    f0 = rng.uniform(200.0, 800.0)
    tone = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3, 5))
    onset = rng.uniform(0.1, 0.4)
    env = np.where(t >= onset, np.exp(-(t - onset) * rng.uniform(3.0, 8.0)), 0.0)
    wave = 0.4 * env * tone + rng.normal(0, 0.003, size=t.shape)
    return wave.astype(np.float32)
