"""image, tactile and video: ImageBind's RGB transform."""
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from codebind_core.modalities import image, tactile, video
from codebind_core.modalities.video import frame_indices

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def test_constant_grey_image_normalises_to_the_hand_computed_value():
    out = image.preprocess(np.full((300, 400, 3), 128, np.uint8))
    assert out.shape == (3, 224, 224)
    # (128 / 255 - mean) / std per channel
    expected = [(128 / 255 - 0.48145466) / 0.26862954, (128 / 255 - 0.4578275) / 0.26130258,
                (128 / 255 - 0.40821073) / 0.27577711]
    assert expected == pytest.approx([0.076336, 0.168897, 0.339949], abs=1e-6)
    for c in range(3):
        torch.testing.assert_close(out[c], torch.full((224, 224), expected[c]), atol=1e-6, rtol=0)


def test_float_rgba_and_uint8_rgb_agree():
    rgb = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((40, 50, 1), 7, np.uint8)], axis=-1)
    torch.testing.assert_close(image.preprocess(rgba, size=40), image.preprocess(rgb, size=40), atol=0, rtol=0)
    # no resampling at S = short side, so float input in [0, 1] gives the same numbers
    torch.testing.assert_close(image.preprocess(rgb.astype(np.float64) / 255, size=40),
                               image.preprocess(rgb, size=40), atol=1e-6, rtol=0)


@pytest.mark.parametrize("shape", [(480, 640, 3), (300, 200, 3), (50, 60, 3), (225, 230, 3)])
def test_matches_the_imagebind_pil_loader_within_one_grey_level(shape):
    """ImageBind's loader: PIL bicubic Resize(224) + CenterCrop(224) + ToTensor + Normalize."""
    rgb = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    loader = T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224),
                        T.ToTensor(), T.Normalize(MEAN, STD)])
    reference = loader(Image.fromarray(rgb))
    grey_levels = (image.preprocess(rgb) - reference).abs() * torch.tensor(STD).view(3, 1, 1) * 255
    assert grey_levels.max().item() <= 1.0 + 1e-3
    assert (grey_levels > 0.5).float().mean().item() < 0.005  # all but a handful of pixels exact


def test_centre_crop_keeps_the_middle_of_a_wide_image():
    stripes = np.zeros((10, 30, 3), np.uint8)
    stripes[:, :10, 0] = 255  # red | green | blue thirds
    stripes[:, 10:20, 1] = 255
    stripes[:, 20:, 2] = 255
    out = image.preprocess(stripes, size=10)
    green = torch.tensor([(0 - MEAN[0]) / STD[0], (1 - MEAN[1]) / STD[1], (0 - MEAN[2]) / STD[2]])
    torch.testing.assert_close(out, green.view(3, 1, 1).expand(3, 10, 10), atol=1e-6, rtol=0)


def test_size_option_and_tall_images():
    out = image.preprocess(np.zeros((90, 30, 3), np.uint8), size=32)
    assert out.shape == (3, 32, 32)


def test_tactile_uses_the_image_pipeline():
    frame = tactile.example(np.random.default_rng(4))
    torch.testing.assert_close(tactile.preprocess(frame), image.preprocess(frame), atol=0, rtol=0)
    assert tactile.DEFAULTS.output_shape() == (3, 224, 224)


def test_frame_indices_are_uniform_and_repeat_short_clips():
    assert frame_indices(4, 8).tolist() == [0, 0, 0, 1, 1, 2, 2, 3]  # linspace(0, 3, 8) truncated
    assert frame_indices(20, 8).tolist() == [0, 2, 5, 8, 10, 13, 16, 19]
    assert frame_indices(1, 3).tolist() == [0, 0, 0]


def test_video_samples_frames_uniformly_and_transforms_each_like_an_image():
    clip = np.stack([np.full((12, 16, 3), 10 * t, np.uint8) for t in range(20)])  # frame t has value 10t
    out = video.preprocess(clip, size=12, num_frames=8)
    assert out.shape == (3, 8, 12, 12)
    for j, t in enumerate(frame_indices(20, 8)):
        torch.testing.assert_close(out[:, j], image.preprocess(clip[t], size=12), atol=0, rtol=0)
    assert video.preprocess(clip[:3], size=12, num_frames=8)[0, :, 0, 0].unique().numel() == 3
