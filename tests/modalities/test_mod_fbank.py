"""The torch Kaldi fbank against a direct numpy implementation of the Kaldi recipe."""
import numpy as np
import pytest
import torch

from codebind_core.modalities.fbank import fbank, num_frames

SR = 16000


def kaldi_mel(f):
    return 1127.0 * np.log(1.0 + f / 700.0)


def kaldi_mel_banks(num_bins=128, nfft=512, sr=SR, low=20.0):
    """Kaldi MelBanks: triangles in mel space between low and Nyquist; the Nyquist bin unused."""
    mel_low, mel_high = kaldi_mel(low), kaldi_mel(sr / 2)
    delta = (mel_high - mel_low) / (num_bins + 1)
    banks = np.zeros((num_bins, nfft // 2 + 1))
    for m in range(num_bins):
        left, centre, right = mel_low + m * delta, mel_low + (m + 1) * delta, mel_low + (m + 2) * delta
        for k in range(nfft // 2):
            mel = kaldi_mel(k * sr / nfft)
            if left < mel < right:
                banks[m, k] = (mel - left) / (centre - left) if mel <= centre else (right - mel) / (right - centre)
    return banks


def numpy_fbank(x, num_bins=128):
    """25 ms frames every 10 ms, DC removal, pre-emphasis 0.97, Hann, |rfft(512)|^2, mel, log."""
    x = np.asarray(x, np.float64)
    size, shift, nfft = 400, 160, 512
    n = np.arange(size)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / (size - 1))
    banks = kaldi_mel_banks(num_bins)
    frames = []
    for start in range(0, len(x) - size + 1, shift):
        frame = x[start:start + size] - x[start:start + size].mean()
        emphasised = np.empty_like(frame)
        emphasised[0] = frame[0] - 0.97 * frame[0]
        emphasised[1:] = frame[1:] - 0.97 * frame[:-1]
        power = np.abs(np.fft.rfft(emphasised * window, n=nfft)) ** 2
        frames.append(np.log(np.maximum(banks @ power, np.finfo(np.float32).eps)))
    return np.array(frames)


def _signals():
    rng = np.random.default_rng(0)
    t = np.arange(int(1.3 * SR)) / SR
    return {
        "random": rng.uniform(-0.5, 0.5, t.size),
        "sine": 0.5 * np.sin(2 * np.pi * 1000.0 * t),
        "chirp+noise": 0.3 * np.sin(2 * np.pi * (200 + 1500 * t) * t) + rng.normal(0, 0.01, t.size),
    }


@pytest.mark.parametrize("kind", ["random", "sine", "chirp+noise"])
def test_torch_fbank_matches_numpy_kaldi_recipe(kind):
    x = _signals()[kind]
    reference = numpy_fbank(x)
    ours = fbank(torch.tensor(x, dtype=torch.float32)).double().numpy()
    assert ours.shape == reference.shape == (num_frames(x.size), 128) == (128, 128)
    assert np.abs(ours - reference).max() < 1e-3
    exact = fbank(torch.tensor(x, dtype=torch.float64)).numpy()  # same recipe in float64
    assert np.abs(exact - reference).max() < 1e-9


def test_sine_peaks_in_the_mel_bin_centred_nearest_its_frequency():
    x = torch.tensor(_signals()["sine"], dtype=torch.float32)
    mean_energy = fbank(x).mean(dim=0)
    mel_low, mel_high = kaldi_mel(20.0), kaldi_mel(SR / 2)
    centres_mel = mel_low + (np.arange(128) + 1) * (mel_high - mel_low) / 129
    centres_hz = 700.0 * (np.exp(centres_mel / 1127.0) - 1.0)
    assert int(mean_energy.argmax()) == int(np.abs(centres_hz - 1000.0).argmin()) == 43


def test_batched_fbank_equals_one_signal_at_a_time():
    sig = _signals()
    batch = torch.tensor(np.stack([sig["random"], sig["sine"], sig["chirp+noise"]]), dtype=torch.float32)
    out = fbank(batch.view(3, 1, -1))
    assert out.shape == (3, 1, 128, 128)
    for i in range(3):
        torch.testing.assert_close(out[i, 0], fbank(batch[i]), atol=1e-5, rtol=0)


def test_frame_count_follows_snip_edges():
    assert num_frames(32000) == 198  # ImageBind's 2 s clip, later zero-padded to 204 frames
    assert num_frames(399) == 0 and num_frames(400) == 1 and num_frames(560) == 2
    with pytest.raises(ValueError, match="shorter than one frame"):
        fbank(torch.zeros(399))
    with pytest.raises(ValueError, match="window_type must be one of"):
        fbank(torch.zeros(800), window_type="kaiser")


def test_silence_hits_the_log_floor():
    out = fbank(torch.zeros(1600))
    torch.testing.assert_close(out, torch.full_like(out, float(np.log(np.finfo(np.float32).eps))))
