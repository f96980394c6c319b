"""Malformed inputs raise ValueError with a message naming the problem, across modalities."""
import numpy as np
import pytest
import torch

from codebind_core import modalities

RGB = np.zeros((8, 8, 3), np.uint8)
HUGE_RGB = np.broadcast_to(np.zeros(1, np.uint8), (10_000, 10_000, 3))  # no memory behind it

CASES = [
    # (modality, raw, options, message regex)
    ("image", np.zeros((8, 8), np.uint8), {}, r"image: expected a 3-D \(H, W, 3\).*grayscale"),
    ("image", np.zeros((8, 8, 5), np.uint8), {}, r"3 \(RGB\) or 4 \(RGBA\) channels, got shape \(8, 8, 5\)"),
    ("image", np.zeros((3, 8, 8), np.uint8), {}, r"channels-first"),
    ("image", np.zeros((2, 8, 8, 3), np.uint8), {}, r"expected a 3-D .* got shape \(2, 8, 8, 3\)"),
    ("image", np.zeros((8, 8, 3), np.uint16), {}, r"dtype uint16 is not supported"),
    ("image", np.full((8, 8, 3), 255.0, np.float32), {},
     r"float pixel values must lie in \[-0.001, 1.001\], got \[255"),
    ("image", np.zeros((8, 8, 3), np.complex64), {}, r"complex dtype"),
    ("image", np.array([[["a"] * 3] * 2] * 2, dtype=object), {}, r"dtype object is not numeric"),
    ("image", np.zeros((0, 8, 3), np.uint8), {}, r"empty input, shape \(0, 8, 3\)"),
    ("image", HUGE_RGB, {}, r"100000000 pixels per frame exceeds the limit"),
    ("image", "cat.png", {}, r"expected a numeric array, got str"),
    ("image", [[1, 2], [3]], {}, r"cannot convert input"),
    ("image", RGB, {"size": 0}, r"option size must be an integer"),
    ("image", RGB, {"interpolation": "lanczos"}, r"option interpolation must be one of"),
    ("tactile", np.zeros((8, 8), np.uint8), {}, r"tactile: expected a 3-D"),
    ("tactile", np.full((8, 8, 3), np.nan, np.float32), {}, r"tactile: 192 non-finite pixel values"),
    ("video", RGB, {}, r"video: expected a 4-D \(T, H, W, 3\) RGB array, got shape \(8, 8, 3\)"),
    ("video", np.zeros((0, 8, 8, 3), np.uint8), {}, r"video: empty input"),
    ("video", np.zeros((2, 8, 8, 2), np.uint8), {}, r"video: expected \(T, H, W, C\) with 3 \(RGB\)"),
    ("video", RGB[None], {"num_frames": 0}, r"num_frames must be an integer in \[1, 1024\]"),
    ("depth", np.zeros((3, 4, 5), np.float32), {}, r"depth: expected a 2-D \(H, W\) array, got shape \(3, 4, 5\)"),
    ("depth", np.ones((4, 4), np.int8), {}, r"depth: dtype int8 is not supported"),
    ("depth", np.full((4, 4), -1.0), {}, r"depth: 16 negative depth values"),
    ("depth", np.array([[1.0, -np.inf], [1.0, 1.0]]), {}, r"depth: 1 pixels are -inf"),
    ("depth", np.array([[0.0, np.nan], [np.inf, 0.0]]), {}, r"depth: no valid depth pixel"),
    ("depth", np.ones((0, 4)), {}, r"depth: empty input"),
    ("depth", np.ones((4, 4), np.complex128), {}, r"depth: complex dtype"),
    ("depth", np.broadcast_to(np.ones(1, np.float32), (20_000, 20_000)), {}, r"400000000 pixels exceeds"),
    ("depth", np.ones((4, 4)), {"preset": "kitti"}, r"option preset must be one of \['nyu', 'sun'\]"),
    ("depth", np.ones((4, 4)), {"baseline": -0.1}, r"option baseline must be a number in \(0"),
    ("thermal", np.zeros((8, 8, 3), np.uint8), {},
     r"thermal: expected a single-channel \(H, W\) image, got 3 channels"),
    ("thermal", np.zeros((8, 8), np.int64), {}, r"thermal: dtype int64 is not supported"),
    ("thermal", np.full((8, 8), 25.0), {}, r"every pixel lies outside value_range \(250, 350\) K.*celsius"),
    ("thermal", np.full((8, 8), np.inf), {}, r"thermal: 64 non-finite pixel values"),
    ("thermal", np.ones((8, 8)), {"value_range": (5, 1)}, r"value_range needs lo < hi"),
    ("audio", np.zeros((2, 2, 100), np.float32), {},
     r"audio: expected a 1-D \(samples,\) or 2-D \(channels, samples\)"),
    ("audio", np.zeros((16000, 2), np.float32), {}, r"16000 channels exceeds the limit of 32.*transpose"),
    ("audio", np.array([0.0, np.nan, np.inf, -np.inf] + [0.0] * 1000, np.float32), {}, r"audio: 3 non-finite samples"),
    ("audio", np.zeros(16000, np.uint8), {}, r"audio: dtype uint8 is not supported"),
    ("audio", np.zeros(16000, np.float32), {"sample_rate": 44100},
     r"sample_rate is 44100 Hz but the model expects 16000 Hz; pass resample=True"),
    ("audio", np.zeros(100, np.float32), {}, r"100 samples .* shorter than one 25 ms frame"),
    ("audio", np.zeros(0, np.float32), {}, r"audio: empty input"),
    ("audio", np.broadcast_to(np.zeros(1, np.float32), (1 << 26,)), {}, r"67108864 samples per channel exceeds"),
    ("audio", np.zeros(16000, np.float32), {"channel": 1}, r"channel 1 requested but the input has 1"),
    ("pointcloud", np.zeros((10, 4)), {},
     r"pointcloud: expected 3 \(xyz\) or 6 \(xyz \+ rgb\) columns, got shape \(10, 4\)"),
    ("pointcloud", np.zeros(30), {}, r"pointcloud: expected a 2-D \(N, 3\) or \(N, 6\) array, got shape \(30,\)"),
    ("pointcloud", np.full((100, 3), np.nan), {}, r"only 0 finite points \(of 100\), need at least min_points=16"),
    ("pointcloud", np.random.default_rng(0).normal(size=(5, 3)), {}, r"only 5 finite points"),
    ("pointcloud", np.concatenate([np.zeros((50, 3)), np.full((50, 3), 300.0)], 1), {},
     r"rgb must lie in \[0, 1\] or \[0, 255\], got \[300, 300\]"),
    ("pointcloud", np.zeros((50, 3), bool), {}, r"boolean dtype"),
    ("pointcloud", np.zeros((50, 3)), {"group_size": 2000}, r"group_size must be an integer in \[1, 1024\]"),
    ("eeg", np.zeros(512), {}, r"eeg: expected a 2-D \(channels, time\) array, got shape \(512,\)"),
    ("eeg", np.zeros((64, 512)), {}, r"eeg: expected 128 channels, got 64 .*num_channels=None"),
    ("eeg", np.zeros((512, 128)), {}, r"expected 128 channels, got 512 .*transpose"),
    ("eeg", np.full((128, 10), np.nan), {}, r"eeg: 1280 non-finite samples"),
    ("eeg", np.zeros((128, 10), np.uint8), {}, r"eeg: dtype uint8 is not supported"),
    ("eeg", np.zeros((4, 10)), {"fit": "stretch", "num_channels": None},
     r"option fit must be one of \['crop', 'resample'\]"),
    ("text", "", {}, r"text: item 0 is empty"),
    ("text", ["a chair", 3], {}, r"text: item 1 is int, expected str"),
    ("text", [], {}, r"text: empty list"),
    ("text", "x" * 2000, {}, r"text: item 0 has 2000 characters, over max_chars=1000"),
    ("text", None, {}, r"text: expected a str or a list of str, got NoneType"),
]


@pytest.mark.parametrize("name, raw, options, message", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_malformed_input_raises_a_named_value_error(name, raw, options, message):
    with pytest.raises(ValueError, match=message):
        modalities.get(name).preprocess(raw, **options)


def test_every_modality_has_malformed_cases():
    assert {c[0] for c in CASES} == set(modalities.names())


def test_torch_tensors_lists_and_big_endian_arrays_are_accepted_like_arrays():
    depth = np.full((16, 16), 2.0, np.float32)
    expected = modalities.depth.preprocess(depth, size=16)
    torch.testing.assert_close(modalities.depth.preprocess(torch.from_numpy(depth), size=16), expected)
    torch.testing.assert_close(modalities.depth.preprocess(depth.astype(">f4"), size=16), expected)
    torch.testing.assert_close(modalities.depth.preprocess(depth.tolist(), size=16), expected)
