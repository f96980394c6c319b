"""The modality registry and the contract every modality module keeps."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from codebind_core import modalities

TENSOR_MODALITIES = [n for n in modalities.names() if n != "text"]


def test_registry_lists_all_nine_modalities():
    assert set(modalities.names()) == {"image", "video", "depth", "thermal", "audio", "tactile",
                                       "pointcloud", "eeg", "text"}
    for name in modalities.names():
        assert modalities.get(name).NAME == name
    assert modalities.get("depth") is modalities.depth


def test_unknown_modality_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown modality 'sonar'.*depth"):
        modalities.get("sonar")


@pytest.mark.parametrize("name", TENSOR_MODALITIES)
def test_example_preprocesses_to_the_documented_shape(name):
    mod = modalities.get(name)
    out = mod.preprocess(mod.example(np.random.default_rng(3)))
    assert out.dtype == torch.float32
    assert tuple(out.shape) == mod.DEFAULTS.output_shape()
    assert torch.isfinite(out).all()
    assert out.is_contiguous()


@pytest.mark.parametrize("name", TENSOR_MODALITIES)
def test_batch_stacks_samples_and_is_deterministic(name):
    mod = modalities.get(name)
    raws = [mod.example(np.random.default_rng(s)) for s in (1, 2)]
    batch = mod.preprocess_batch(raws)
    assert tuple(batch.shape) == (2, *mod.DEFAULTS.output_shape())
    for i, raw in enumerate(raws):
        torch.testing.assert_close(batch[i], mod.preprocess(raw), rtol=0, atol=0)
    torch.testing.assert_close(mod.preprocess_batch(raws), batch, rtol=0, atol=0)
    assert not torch.equal(batch[0], batch[1])


def _corrupt(name, good):
    """A copy of ``good`` that ``name`` must reject, and the expected message."""
    bad = good.astype(np.float32)
    if name == "pointcloud":  # NaN points are dropped, so make every point NaN
        bad[:] = np.nan
        return bad, "only 0 finite points"
    if name == "depth":  # NaN is a valid 'missing' depth; -inf is not
        bad.flat[0] = -np.inf
        return bad, "1 pixels are -inf"
    bad.flat[0] = np.nan
    return bad, "1 non-finite"


@pytest.mark.parametrize("name", TENSOR_MODALITIES)
def test_batch_rejects_non_lists_and_names_the_bad_item(name):
    mod = modalities.get(name)
    good = mod.example(np.random.default_rng(0))
    with pytest.raises(ValueError, match="list of samples"):
        mod.preprocess_batch(good)
    with pytest.raises(ValueError, match="empty list"):
        mod.preprocess_batch([])
    bad, message = _corrupt(name, good)
    with pytest.raises(ValueError, match=f"batch item 1: {name}: .*{message}"):
        mod.preprocess_batch([good, bad])


@pytest.mark.parametrize("name", modalities.names())
def test_unknown_option_is_rejected(name):
    mod = modalities.get(name)
    with pytest.raises(ValueError, match="unknown option.*'sise'"):
        mod.preprocess(mod.example(np.random.default_rng(0)), sise=3)


def test_model_options_map_the_model_input_geometry():
    inputs = SimpleNamespace(image_size=32, num_frames=4, mel_bins=64, audio_frames=100,
                             num_groups=8, group_size=16, eeg_channels=128, eeg_samples=256)
    for name in TENSOR_MODALITIES:
        mod = modalities.get(name)
        opts = modalities.model_options(name, inputs)
        out = mod.preprocess(mod.example(np.random.default_rng(0)), **opts)
        assert tuple(out.shape) == mod.DEFAULTS.__class__(**opts).output_shape()
    assert modalities.model_options("depth", inputs) == {"size": 32}
    assert modalities.model_options("audio", inputs) == {"num_mel_bins": 64, "target_frames": 100}
    assert modalities.model_options("text", inputs) == {}


@pytest.mark.parametrize("name", TENSOR_MODALITIES)
def test_invalid_option_values_raise(name):
    cls = modalities.get(name).DEFAULTS.__class__
    field = {"audio": "num_clips", "pointcloud": "num_groups", "eeg": "num_samples"}.get(name, "size")
    with pytest.raises(ValueError, match=field):
        cls(**{field: 0})
    with pytest.raises(ValueError, match=field):
        cls(**{field: "big"})
