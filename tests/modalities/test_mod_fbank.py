"""The torch Kaldi fbank against a direct numpy implementation of the Kaldi recipe."""
import numpy as np
import pytest
import torch

from codebind_core.modalities.fbank import fbank, num_frames
from fbank_reference import SR, fbank_error_bound, kaldi_mel, numpy_fbank


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
    # float32: within what float32 can promise per bin (quiet bins are ill conditioned in log)
    bound32 = fbank_error_bound(x, float(np.finfo(np.float32).eps) / 2)
    excess = np.abs(ours - reference) / bound32
    worst = np.unravel_index(excess.argmax(), excess.shape)
    assert excess.max() <= 1.0, f"max |diff|/bound {excess.max():.3g} at {worst}"
    # the bound is informative: the loudest bin of every frame is held to < 2e-4 in log
    loudest = reference.argmax(axis=1)
    assert bound32[np.arange(len(reference)), loudest].max() < 2e-4
    # float64: the same recipe within float64's bound, doubled because numpy's FFT errs as well
    exact = fbank(torch.tensor(x, dtype=torch.float64)).numpy()
    bound64 = 2 * fbank_error_bound(x, float(np.finfo(np.float64).eps) / 2)
    assert (np.abs(exact - reference) <= bound64).all()


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
        # two float32 computations (batched FFT/matmul may round differently), each within the bound
        bound = 2 * fbank_error_bound(batch[i].double().numpy(), float(np.finfo(np.float32).eps) / 2)
        assert ((out[i, 0] - fbank(batch[i])).abs().double().numpy() <= bound).all()


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
