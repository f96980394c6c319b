"""depth (metric depth -> normalised disparity) and thermal (temperatures/counts -> [-1, 1])."""
import numpy as np
import pytest
import torch

from codebind_core.modalities import depth, thermal

SUN_MEAN, SUN_STD = 0.0418, 0.0295


def _expected(depth_m, focal=518.857901, baseline=0.075, max_disp=75.0, mean=SUN_MEAN, std=SUN_STD):
    disparity = min(baseline * focal / depth_m, max_disp) if depth_m > 0 and np.isfinite(depth_m) else 0.0
    return (disparity / max_disp - mean) / std


def test_disparity_at_chosen_pixels_equals_baseline_times_focal_over_depth():
    d = np.full((32, 32), 4.0, np.float32)
    d[3, 5], d[10, 20], d[31, 0] = 1.0, 0.5, 0.25  # 0.25 m: 155.7 px disparity, clipped at 75
    out = depth.preprocess(d, size=32)  # S = input size: no resampling
    assert out.shape == (1, 32, 32)
    # by hand: 0.075 * 518.857901 / 1.0 = 38.9143 px; / 75 = 0.518858; (0.518858 - 0.0418) / 0.0295 = 16.17145
    assert out[0, 3, 5].item() == pytest.approx((0.075 * 518.857901 / 1.0 / 75 - 0.0418) / 0.0295, rel=1e-5)
    assert out[0, 3, 5].item() == pytest.approx(16.17145, abs=1e-4)
    for (r, c) in [(3, 5), (10, 20), (31, 0), (0, 0)]:
        assert out[0, r, c].item() == pytest.approx(_expected(float(d[r, c])), rel=1e-5)
    assert out[0, 31, 0].item() == pytest.approx((1.0 - SUN_MEAN) / SUN_STD, rel=1e-6)


def test_missing_returns_become_zero_disparity():
    d = np.full((8, 8), 2.0)
    d[0, 0], d[1, 1], d[2, 2] = 0.0, np.nan, np.inf  # REP 118: invalid, no return, too far
    out = depth.preprocess(d, size=8)
    for p in [(0, 0), (1, 1), (2, 2)]:
        assert out[0, p[0], p[1]].item() == pytest.approx(-SUN_MEAN / SUN_STD, rel=1e-6)
    assert out[0, 4, 4].item() == pytest.approx(_expected(2.0), rel=1e-5)


def test_uint16_millimetres_equal_float_metres():
    mm = np.random.default_rng(0).integers(400, 8000, (24, 24)).astype(np.uint16)
    mm[0, :5] = 0
    torch.testing.assert_close(depth.preprocess(mm, size=24), depth.preprocess(mm / 1000.0, size=24),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(depth.preprocess(mm, size=24),
                               depth.preprocess(mm.astype(np.float32), size=24, scale=0.001), atol=1e-5, rtol=0)


def test_intrinsics_set_the_focal_length_and_presets_the_statistics():
    d = np.full((16, 16), 1.5, np.float32)
    k = np.array([[600.0, 0, 8], [0, 600.0, 8], [0, 0, 1]])
    by_k = depth.preprocess(d, size=16, intrinsics=k, preset="nyu")
    by_flat_k = depth.preprocess(d, size=16, intrinsics=k.reshape(-1).tolist(), preset="nyu")
    by_focal = depth.preprocess(d, size=16, focal_length=600.0, preset="nyu")
    torch.testing.assert_close(by_k, by_focal, atol=0, rtol=0)
    torch.testing.assert_close(by_flat_k, by_focal, atol=0, rtol=0)
    assert by_k[0, 0, 0].item() == pytest.approx((0.075 * 600 / 1.5 / 75 - 0.2321) / 0.1151, rel=1e-5)
    with pytest.raises(ValueError, match="either intrinsics or focal_length"):
        depth.preprocess(d, intrinsics=k, focal_length=500.0)
    with pytest.raises(ValueError, match=r"intrinsics must be a 3x3 matrix or 9 values, got shape \(2, 2\)"):
        depth.preprocess(d, intrinsics=np.eye(2))
    with pytest.raises(ValueError, match="K\\[0, 0\\] .* must be positive"):
        depth.preprocess(d, intrinsics=np.zeros((3, 3)))


def test_resize_to_default_size_keeps_a_constant_scene_constant():
    out = depth.preprocess(np.full((480, 640), 3.0, np.float32))
    assert out.shape == depth.DEFAULTS.output_shape() == (1, 224, 224)
    torch.testing.assert_close(out, torch.full_like(out, _expected(3.0)), atol=1e-4, rtol=0)


def test_ros_single_channel_axis_is_accepted():
    d = np.full((8, 8, 1), 2.0, np.float32)
    torch.testing.assert_close(depth.preprocess(d, size=8), depth.preprocess(d[..., 0], size=8))


# ---- thermal ----------------------------------------------------------------------------------
def test_thermal_uint8_maps_to_minus_one_one():
    img = np.zeros((10, 10), np.uint8)
    img[:, 5:] = 255
    img[0, 0] = 51  # 51 / 255 = 0.2 -> (0.2 - 0.5) / 0.5 = -0.6
    out = thermal.preprocess(img, size=10)
    assert out.shape == (1, 10, 10)
    assert out[0, 0, 0].item() == pytest.approx(-0.6, abs=1e-6)
    assert out[0, 5, 1].item() == pytest.approx(-1.0) and out[0, 5, 8].item() == pytest.approx(1.0)


def test_thermal_uint16_uses_full_range_or_the_given_range():
    img = np.full((6, 6), 30000, np.uint16)  # centi-kelvin: 300 K
    assert thermal.preprocess(img, size=6)[0, 0, 0].item() == pytest.approx((30000 / 65535 - 0.5) / 0.5, rel=1e-5)
    ranged = thermal.preprocess(img, size=6, value_range=(25000, 35000))
    torch.testing.assert_close(ranged, torch.zeros(1, 6, 6), atol=1e-6, rtol=0)


def test_thermal_kelvin_default_range_and_celsius_unit():
    kelvin = np.array([[250.0, 300.0], [325.0, 400.0]])
    out = thermal.preprocess(kelvin, size=2)
    # (250, 350) K -> [0, 1] -> [-1, 1]; 400 K clips to 1
    torch.testing.assert_close(out[0], torch.tensor([[-1.0, 0.0], [0.5, 1.0]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(thermal.preprocess(kelvin - 273.15, size=2, unit="celsius"), out, atol=1e-5, rtol=0)


def test_thermal_minmax_stretches_each_image():
    img = np.array([[20.0, 22.0], [24.0, 21.0]], np.float32)
    out = thermal.preprocess(img, size=2, value_range="minmax")
    torch.testing.assert_close(out[0], torch.tensor([[-1.0, 0.0], [1.0, -0.5]]), atol=1e-6, rtol=0)
    flat = thermal.preprocess(np.full((4, 4), 300.0), size=4, value_range="minmax")
    torch.testing.assert_close(flat, torch.full((1, 4, 4), -1.0))
