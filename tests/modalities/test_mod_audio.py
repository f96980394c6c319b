"""audio: clip sampling, normalisation, PCM formats and resampling (ImageBind's audio loader)."""
from fractions import Fraction

import numpy as np
import pytest
import torch
from scipy.signal import resample_poly

from codebind_core.modalities import audio
from codebind_core.modalities.audio import clip_bounds
from codebind_core.modalities.fbank import fbank
from codebind_core.modalities.resample import resample
from fbank_reference import fbank_error_bound

SR = 16000
PAD_VALUE = (0.0 + 4.268) / 9.138  # a zero-padded log-mel frame after normalisation
U32 = float(np.finfo(np.float32).eps) / 2


def assert_same_spectrogram(a, b, wave):
    """Two float32 normalised log-mels of ``wave`` (128 x frames), each within the float32 fbank
    bound of the exact one (batched and single FFTs may round differently): 2 bounds / std, plus
    4 ulps of the normalisation (values below 8 in magnitude)."""
    bound = 2 * fbank_error_bound(np.asarray(wave, np.float64), U32).T / 9.138 + 4 * 8 * U32
    diff = (a - b).abs().double().numpy()
    assert diff.shape == bound.shape and (diff <= bound).all(), float((diff / bound).max())


def _tone(freq, seconds, sr=SR, amp=0.5):
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def test_clip_bounds_follow_constant_clips_per_video():
    # 5 s, 3 clips of 2 s: starts at 0, 1.5, 3 s
    assert clip_bounds(5 * SR, SR, 3, 2.0) == [(0, 32000), (24000, 56000), (48000, 80000)]
    assert clip_bounds(SR, SR, 3, 2.0) == [(0, SR)] * 3  # shorter than a clip: the whole signal
    assert clip_bounds(3 * SR, SR, 1, 2.0) == [(0, 32000)]


def test_one_clip_is_the_normalised_kaldi_fbank_zero_padded_to_204_frames():
    x = _tone(440.0, 2.0) + np.random.default_rng(0).normal(0, 0.01, 2 * SR).astype(np.float32)
    out = audio.preprocess(x, num_clips=1)
    assert out.shape == (1, 1, 128, 204)
    spec = fbank(torch.from_numpy(x)).T  # (128, 198)
    assert_same_spectrogram(out[0, 0, :, :198], (spec + 4.268) / 9.138, x)
    torch.testing.assert_close(out[0, 0, :, 198:], torch.full((128, 6), PAD_VALUE), atol=1e-6, rtol=0)


def test_clips_cover_the_signal_uniformly():
    x = np.concatenate([_tone(300.0, 2.0), _tone(2000.0, 1.0), _tone(5000.0, 2.0)])  # 5 s
    out = audio.preprocess(x)
    assert out.shape == audio.DEFAULTS.output_shape() == (3, 1, 128, 204)
    for i, (a, b) in enumerate(clip_bounds(x.size, SR, 3, 2.0)):
        single = audio.preprocess(x[a:b], num_clips=1)[0]
        assert_same_spectrogram(out[i, 0, :, :198], single[0, :, :198], x[a:b])
        assert torch.equal(out[i, 0, :, 198:], single[0, :, 198:])  # the zero padding
    peaks = out[:, 0, :, :198].mean(dim=-1).argmax(dim=-1)  # loudest mel bin per clip
    assert peaks[0] < peaks[2] and len(set(peaks.tolist())) == 3


def test_short_signal_zeros_mode_pads_the_spectrogram_and_repeat_mode_tiles():
    x = _tone(600.0, 0.5)  # 8000 samples -> 48 frames
    zeros = audio.preprocess(x)
    assert zeros.shape == (3, 1, 128, 204)
    torch.testing.assert_close(zeros[:, :, :, 48:], torch.full((3, 1, 128, 156), PAD_VALUE), atol=1e-6, rtol=0)
    repeated = audio.preprocess(x, pad_mode="repeat")
    torch.testing.assert_close(repeated, audio.preprocess(np.tile(x, 4)), atol=1e-5, rtol=0)
    assert torch.all(repeated[:, :, :, 48:198] != PAD_VALUE)


def test_pcm_formats_and_channel_mixing():
    rng = np.random.default_rng(1)
    left, right = _tone(500.0, 2.0, amp=0.3), rng.uniform(-0.2, 0.2, 2 * SR).astype(np.float32)
    stereo = np.stack([left, right])
    torch.testing.assert_close(audio.preprocess(stereo), audio.preprocess((left + right) / 2), atol=1e-5, rtol=0)
    torch.testing.assert_close(audio.preprocess(stereo, channel=0), audio.preprocess(left), atol=0, rtol=0)
    pcm16 = np.round(left * 32767).astype(np.int16)
    torch.testing.assert_close(audio.preprocess(pcm16), audio.preprocess(pcm16 / 32768.0), atol=1e-5, rtol=0)


def test_sinc_resampling_preserves_a_tone_and_matches_scipy():
    orig = 44100
    x = _tone(440.0, 1.0, sr=orig)
    y = resample(torch.from_numpy(x).double(), orig, SR).numpy()
    assert y.size == SR
    t = np.arange(SR) / SR
    interior = slice(200, SR - 200)  # away from the zero-padded edges
    assert np.abs(y - 0.5 * np.sin(2 * np.pi * 440.0 * t))[interior].max() < 1e-3
    assert np.abs(y - resample_poly(x.astype(np.float64), 160, 441))[interior].max() < 1e-3
    via_resample = audio.preprocess(x, sample_rate=orig, resample=True, num_clips=1)
    direct = audio.preprocess(_tone(440.0, 1.0), num_clips=1)
    loud = direct > direct.mean()  # compare bins with energy (the quiet tails sit at the floor)
    assert (via_resample - direct)[loud].abs().max() < 1e-3


def test_resample_rejects_rate_pairs_with_a_huge_reduced_ratio():
    with pytest.raises(ValueError, match="too fine for a polyphase filter"):
        resample(torch.zeros(100), 44101, SR)


# ImageBind's load_and_transform_audio_data, recomputed step by step: the duration it hands
# pytorchvideo's ConstantClipsPerVideoSampler is the float samples / rate; the sampler subtracts
# the Fraction clip length from that float (a float subtraction), turns the result into a Fraction
# and spaces clips_per_video starts over it; get_clip_timepoints calls it until is_last_clip; the
# loader slices waveform[:, int(start * sr):int(end * sr)] and waveform2melspec subtracts the clip's
# mean in place (`waveform -= waveform.mean()` on that view) before Kaldi's fbank, which reads
# channel 0; then zero padding to 204 frames and Normalize(-4.268, 9.138).
def imagebind_clip_slices(num_samples, sr=SR, clip_duration=2, clips_per_video=3):
    duration = num_samples / sr
    clip = Fraction(clip_duration)
    slices, index = [], 0
    while True:
        max_start = Fraction(max(duration - clip, 0))
        uniform = Fraction(max_start, max(clips_per_video - 1, 1))
        start = uniform * index
        index += 1
        slices.append(slice(int(start * sr), int((start + clip) * sr)))
        if index >= clips_per_video or uniform * index > max_start:
            return slices


def imagebind_clip_waves(pcm):
    """(channels, samples) float32 -> the channel-0 waveform each clip's fbank reads."""
    waveform = torch.from_numpy(np.array(pcm, np.float32, ndmin=2))
    waves = []
    for s in imagebind_clip_slices(waveform.shape[1]):
        view = waveform[:, s]
        view -= view.mean()
        waves.append(view[0].clone())
    return waves


def imagebind_audio(pcm):
    specs = []
    for wave in imagebind_clip_waves(pcm):
        spec = fbank(wave).T
        specs.append(torch.nn.functional.pad(spec, (0, 204 - spec.shape[1])) if spec.shape[1] < 204 else spec[:, :204])
    return [(s + 4.268) / 9.138 for s in specs], imagebind_clip_waves(pcm)


IMAGEBIND = dict(channel=0, clip_timing="imagebind", mean_removal="imagebind")
# lengths where float seconds move a boundary by one sample (32001: 32001 / 16000 rounds down)
BOUNDARY_LENGTHS = [32001, 32004, 40001, 48001, 56790, 64002, 80002, 95990]


@pytest.mark.parametrize("n", [1000, 16000, 31999, 32000, 32002, 48000, 80000, 96000, 96001, 123457]
                         + BOUNDARY_LENGTHS)
def test_imagebind_clip_timing_matches_imagebinds_sampler(n):
    want = [(s.start, min(s.stop, n)) for s in imagebind_clip_slices(n)]
    assert clip_bounds(n, SR, 3, 2.0, timing="imagebind") == want
    if n in BOUNDARY_LENGTHS:  # the exact sampler differs there by one sample
        assert clip_bounds(n, SR, 3, 2.0) != want


def test_imagebind_clip_timing_sweep_2_to_6_seconds():
    lengths = range(32000, 96001, 13)
    differ = 0
    for n in lengths:
        want = [(s.start, min(s.stop, n)) for s in imagebind_clip_slices(n)]
        assert clip_bounds(n, SR, 3, 2.0, timing="imagebind") == want, n
        exact = clip_bounds(n, SR, 3, 2.0)
        assert all(abs(a - c) <= 1 and abs(b - d) <= 1 for (a, b), (c, d) in zip(exact, want))
        differ += exact != want
    assert 0.4 < differ / len(lengths) < 0.6  # float rounding of n / 16000 goes down about half the time


def _offset_signal(seconds, channels=1, seed=0):
    """Noise over a tone on a large DC offset per channel: a leaked clip mean is a visible step."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SR)
    t = np.arange(n) / SR
    offsets = np.array([0.3, -0.2, 0.1][:channels])[:, None]
    return (offsets + 0.2 * np.sin(2 * np.pi * 700 * t) + rng.normal(0, 0.02, (channels, n))).astype(np.float32)


@pytest.mark.parametrize("seconds, channels", [(2.5, 1), (3.3, 2), (4.000125, 1), (5.9, 2), (7.0, 1)])
def test_imagebind_mean_removal_reproduces_the_in_place_subtraction(seconds, channels):
    pcm = _offset_signal(seconds, channels)
    specs, waves = imagebind_audio(pcm)
    cfg = audio.AudioConfig(**IMAGEBIND)
    ours_waves = audio.clip_waveforms(torch.from_numpy(pcm), clip_bounds(pcm.shape[1], SR, 3, 2.0, "imagebind"), cfg)
    for ours, want in zip(ours_waves, waves):
        assert torch.equal(ours, want)  # the same float32 operations on the same views
    out = audio.preprocess(pcm, **IMAGEBIND)
    for i, (spec, wave) in enumerate(zip(specs, waves)):
        frames = (wave.shape[0] - 400) // 160 + 1
        assert_same_spectrogram(out[i, 0, :, :frames], spec[:, :frames], wave.double().numpy())
        assert torch.equal(out[i, 0, :, frames:], spec[:, frames:])


def test_imagebind_mean_leaks_between_overlapping_clips_only():
    short = _offset_signal(3.3)  # clips overlap: clip 1 starts from samples clip 0 shifted
    leak = audio.preprocess(short, **IMAGEBIND)
    own = audio.preprocess(short, **{**IMAGEBIND, "mean_removal": "clip"})
    torch.testing.assert_close(leak[0], own[0], atol=0, rtol=0)  # the first clip sees no leak
    assert (leak[1:] - own[1:]).abs().max() > 0.05  # far above float32 rounding (bound: < 1e-3 on loud bins)
    long = _offset_signal(7.0)  # no overlap: in place equals each clip minus its own mean
    torch.testing.assert_close(audio.preprocess(long, **IMAGEBIND),
                               audio.preprocess(long, **{**IMAGEBIND, "mean_removal": "clip"}), atol=0, rtol=0)


def test_default_audio_options_are_unchanged_and_validated():
    x = _offset_signal(3.3)[0]
    bounds = clip_bounds(x.size, SR, 3, 2.0)
    plain = audio.clips_to_fbank([torch.from_numpy(x)[a:b] for a, b in bounds], audio.DEFAULTS)
    assert torch.equal(audio.preprocess(x), ((plain - -4.268) / 9.138).unsqueeze(1))
    with pytest.raises(ValueError, match="clip_timing"):
        audio.preprocess(x, clip_timing="float")
    with pytest.raises(ValueError, match="mean_removal"):
        audio.preprocess(x, mean_removal="global")
