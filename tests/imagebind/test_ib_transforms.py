"""Raw samples -> ImageBind inputs: IMU layout, audio channel 0, shapes per modality, errors."""
import numpy as np
import pytest
import torch

from codebind_core import modalities
from codebind_core.encoders.imagebind import transforms


def test_imu_layouts_agree_and_long_recordings_are_centre_cropped():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(6, 2400)).astype(np.float32)
    first = transforms.preprocess("imu", raw)
    last = transforms.preprocess("imu", raw.T, layout="channels_last")
    assert first.shape == (6, 2000) and first.dtype == torch.float32
    assert torch.equal(first, last)
    assert torch.equal(first, torch.from_numpy(raw[:, 200:2200]))


def test_short_imu_is_zero_padded_at_the_end():
    out = transforms.preprocess("imu", np.ones((6, 1500)))
    assert out[:, :1500].eq(1).all() and out[:, 1500:].eq(0).all()


@pytest.mark.parametrize("raw, options, message", [
    (np.ones((2000, 6)), {}, r"\(6, T\)"),
    (np.ones((6, 0)), {}, "empty"),
    (np.full((6, 10), np.nan), {}, "NaN"),
    (np.ones((6, 10)), {"layout": "rows"}, "layout"),
    (np.array([["a"] * 6]), {}, "numeric"),
])
def test_bad_imu_input_raises(raw, options, message):
    with pytest.raises(ValueError, match=message):
        transforms.preprocess("imu", raw, **options)


def test_audio_reads_channel_zero_like_imagebinds_loader():
    rng = np.random.default_rng(1)
    stereo = rng.normal(scale=0.1, size=(2, 32000)).astype(np.float32)
    got = transforms.preprocess("audio", stereo)
    assert got.shape == (3, 1, 128, 204)
    assert torch.equal(got, modalities.get("audio").preprocess(stereo[0]))
    assert not torch.equal(got, modalities.get("audio").preprocess(stereo.mean(0)))


def test_every_modality_batches_to_the_model_input_shape():
    rng = np.random.default_rng(2)
    raws = {"vision": modalities.image.example(rng), "depth": modalities.depth.example(rng),
            "thermal": modalities.thermal.example(rng), "imu": rng.normal(size=(6, 2000)), "text": "a mug"}
    shapes = {"vision": (2, 3, 224, 224), "depth": (2, 1, 224, 224), "thermal": (2, 1, 224, 224),
              "imu": (2, 6, 2000), "text": (2, 77)}
    for modality, raw in raws.items():
        assert tuple(transforms.preprocess_batch(modality, [raw, raw]).shape) == shapes[modality]


def test_unknown_modality_and_empty_batch_raise():
    with pytest.raises(ValueError, match="unknown ImageBind modality"):
        transforms.preprocess("smell", np.zeros(3))
    with pytest.raises(ValueError, match="non-empty list"):
        transforms.preprocess_batch("imu", [])
