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
    stereo[1] += 0.5  # ImageBind's clip mean covers both channels, its fbank reads channel 0
    got = transforms.preprocess("audio", stereo)
    assert got.shape == (3, 1, 128, 204)
    audio = modalities.get("audio")
    assert torch.equal(got, audio.preprocess(stereo, **transforms.IMAGEBIND_AUDIO))
    assert torch.equal(audio.preprocess(stereo, channel=0, clip_timing="imagebind"),
                       audio.preprocess(stereo[0], clip_timing="imagebind"))
    assert not torch.equal(got, audio.preprocess(stereo.mean(0), **transforms.IMAGEBIND_AUDIO))


def test_audio_defaults_are_imagebinds_quirks_and_the_intended_variant_is_a_switch():
    assert transforms.IMAGEBIND_AUDIO == {"channel": 0, "clip_timing": "imagebind", "mean_removal": "imagebind"}
    t = np.arange(52000) / 16000  # 3.25 s: overlapping clips, and a length where float seconds move a boundary
    x = (0.3 + 0.2 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)
    audio = modalities.get("audio")
    assert audio.clip_bounds(52001, 16000, 3, 2.0, "imagebind") != audio.clip_bounds(52001, 16000, 3, 2.0)
    intended = transforms.preprocess("audio", x, clip_timing="exact", mean_removal="clip")
    assert torch.equal(intended, audio.preprocess(x, channel=0, mean_removal="clip"))
    # the leaked 0.3 offset is a step inside clips 1 and 2: O(1) changes, far above rounding
    assert (transforms.preprocess("audio", x) - intended)[1:].abs().max() > 0.05


# ImageBind's SimpleTokenizer: its pre-tokenizer matches the literal strings <|startoftext|> and
# <|endoftext|> (case-insensitive, the text is lower-cased first) as whole tokens, found in its
# cache and mapped to 49406 / 49407; open_clip's names <start_of_text> / <end_of_text> are
# ordinary text there.
SOT, EOT = 49406, 49407


def _ids(text, **kw):
    row = transforms.tokenize([text], **kw)[0].tolist()
    return row[:row.index(0)] if 0 in row else row


def test_tokenizer_maps_imagebinds_literal_special_tokens():
    from codebind_core.encoders.imagebind.tokenizer import encode
    assert _ids("a dog<|endoftext|>a cat") == [SOT] + encode("a dog") + [EOT] + encode("a cat") + [EOT]
    assert _ids("<|startoftext|>hello") == [SOT, SOT] + encode("hello") + [EOT]
    assert _ids("A DOG <|EndOfText|>") == [SOT] + encode("a dog") + [EOT, EOT]
    for name in ("<end_of_text>", "<start_of_text>"):  # open_clip's names are plain text in ImageBind
        ids = _ids(f"a dog {name}")
        assert SOT not in ids[1:] and EOT not in ids[:-1] and len(ids) > 5


def test_tokenizer_special_tokens_none_encodes_every_string_as_text():
    ids = _ids("a dog<|endoftext|>", special_tokens="none")
    assert EOT not in ids[:-1] and SOT not in ids[1:] and len(ids) > 5
    assert _ids("a red mug", special_tokens="none") == _ids("a red mug")
    with pytest.raises(ValueError, match="special_tokens"):
        transforms.tokenize(["a"], special_tokens="open_clip")


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
