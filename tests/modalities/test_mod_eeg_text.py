"""eeg (per-channel standardisation, fixed length) and text (validation, optional tokenizer)."""
import numpy as np
import pytest
import torch

from codebind_core.modalities import eeg, text


def test_channels_are_z_scored_and_flat_channels_become_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(50.0, 20.0, (4, 512)) * np.array([[1.0], [1e-6], [1e3], [1.0]])
    x[3] = 7.0  # a flat (disconnected) channel
    out = eeg.preprocess(x, num_channels=4)
    assert out.shape == (4, 512) and out.dtype == torch.float32
    torch.testing.assert_close(out[:3].mean(dim=1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[:3].std(dim=1, unbiased=False), torch.ones(3), atol=1e-5, rtol=0)
    assert torch.all(out[3] == 0)
    expected0 = (x[0] - x[0].mean()) / x[0].std()
    torch.testing.assert_close(out[0], torch.tensor(expected0, dtype=torch.float32), atol=1e-5, rtol=0)


def test_crop_keeps_the_onset_and_pads_with_zeros():
    x = np.random.default_rng(1).normal(size=(2, 700))
    z = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    long = eeg.preprocess(x, num_channels=2)
    torch.testing.assert_close(long, torch.tensor(z[:, :512], dtype=torch.float32), atol=1e-5, rtol=0)
    short = eeg.preprocess(x[:, :300], num_channels=2)
    assert torch.all(short[:, 300:] == 0) and torch.all(short[:, :300] != 0)


def test_resample_fit_stretches_linearly():
    ramp = np.tile(np.arange(256, dtype=np.float64), (3, 1))
    out = eeg.preprocess(ramp, num_channels=3, fit="resample", num_samples=512)
    assert out.shape == (3, 512)
    assert torch.all(out[:, 1:] - out[:, :-1] >= -1e-6)  # still a monotone ramp
    torch.testing.assert_close(out[:, 0], out.new_full((3,), float(out[0, 0])))
    assert out[0, -1].item() == pytest.approx((255 - 127.5) / np.arange(256).std(), rel=1e-5)


def test_channel_check_can_be_disabled_and_int_samples_work():
    counts = np.random.default_rng(2).integers(-2000, 2000, (64, 600)).astype(np.int16)
    out = eeg.preprocess(counts, num_channels=None)
    torch.testing.assert_close(out, eeg.preprocess(counts.astype(np.float64), num_channels=None), atol=1e-6, rtol=0)
    assert eeg.DEFAULTS.output_shape() == (128, 512)


def test_text_is_cleaned_and_optionally_tokenized():
    assert text.preprocess("  a red   mug \n") == ["a red mug"]
    assert text.preprocess(["a chair", "a\tplant"]) == ["a chair", "a plant"]
    ids = text.preprocess_batch(["a chair", "two mugs"], tokenizer=lambda ts: torch.tensor([[len(t)] for t in ts]))
    assert ids.tolist() == [[7], [8]]
    with pytest.raises(ValueError, match="item 1 is empty"):
        text.preprocess(["ok", "   "])
    with pytest.raises(ValueError, match="over max_chars=5"):
        text.preprocess("abcdef", max_chars=5)
