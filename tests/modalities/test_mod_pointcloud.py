"""pointcloud: farthest point sampling, kNN groups, normalisation, cleaning."""
import numpy as np
import pytest
import torch

from codebind_core.modalities import pointcloud
from codebind_core.modalities.pointcloud_ops import farthest_point_sample, group, knn


def _min_pairwise(points):
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    return d[~np.eye(len(points), dtype=bool)].min()


def test_fps_centres_are_farther_apart_than_random_picks():
    rng = np.random.default_rng(0)
    cloud = rng.uniform(-1, 1, (2000, 3))
    idx = farthest_point_sample(torch.from_numpy(cloud)[None], 64)[0].numpy()
    assert len(set(idx.tolist())) == 64
    fps_spacing = _min_pairwise(cloud[idx])
    random_spacing = [_min_pairwise(cloud[rng.choice(2000, 64, replace=False)]) for _ in range(20)]
    assert fps_spacing > max(random_spacing)
    assert fps_spacing > 2 * np.mean(random_spacing)


def test_fps_picks_the_farthest_point_each_step():
    cloud = np.random.default_rng(1).normal(size=(300, 3))
    idx = farthest_point_sample(torch.from_numpy(cloud)[None], 10)[0].tolist()
    assert idx[0] == 0
    for i in range(1, 10):  # brute force: distance of every point to the picked set
        d = np.linalg.norm(cloud[:, None] - cloud[idx[:i]][None], axis=-1).min(axis=1)
        assert idx[i] == int(d.argmax())


def test_fps_is_batched():
    clouds = torch.from_numpy(np.random.default_rng(2).normal(size=(3, 200, 3)))
    both = farthest_point_sample(clouds, 16)
    for b in range(3):
        assert torch.equal(both[b], farthest_point_sample(clouds[b:b + 1], 16)[0])


def test_knn_and_groups_equal_brute_force():
    rng = np.random.default_rng(3)
    pts = rng.normal(size=(500, 6))
    centres = np.array([0, 17, 250, 499])
    brute = np.argsort(np.linalg.norm(pts[centres, None, :3] - pts[None, :, :3], axis=-1), axis=1)[:, :32]
    ours = knn(torch.from_numpy(pts[centres, :3])[None], torch.from_numpy(pts[:, :3])[None], 32)[0]
    assert np.array_equal(ours.numpy(), brute)
    groups = group(torch.from_numpy(pts)[None], torch.from_numpy(centres)[None], 32)[0].numpy()
    assert groups.shape == (4, 32, 6)
    assert np.array_equal(groups, pts[brute])
    assert np.array_equal(groups[:, 0], pts[centres])  # index 0 is the centre itself


def test_group_puts_the_centre_first_even_with_duplicates():
    pts = torch.tensor([[0.0, 0, 0, 1, 0, 0], [0.0, 0, 0, 0, 1, 0], [1.0, 0, 0, 0, 0, 1]])
    out = group(pts[None], torch.tensor([[1]]), 2)[0, 0]
    assert torch.equal(out[0], pts[1]) and torch.equal(out[1], pts[0])


def test_preprocess_normalises_and_groups():
    rng = np.random.default_rng(4)
    xyz = rng.normal(size=(3000, 3)) * [2.0, 1.0, 0.5] + [10.0, -4.0, 3.0]
    out = pointcloud.preprocess(xyz)
    assert out.shape == (64, 32, 6) and out.dtype == torch.float32
    radius = out[..., :3].norm(dim=-1)
    assert radius.max() <= 1.0 + 1e-6 and radius.max() > 0.9  # FPS keeps the extreme points
    assert torch.all(out[..., 3:] == 0)  # no rgb given
    d = (out[:, :, :3] - out[:, :1, :3]).norm(dim=-1)
    assert torch.all(d[:, 1:] - d[:, :-1] >= -1e-6)  # sorted by distance from the centre
    assert torch.all(d[:, 0] == 0)
    # normalisation: a moved and scaled copy of the cloud gives the same tensor
    torch.testing.assert_close(pointcloud.preprocess(xyz * 7.5 - 3.0), out, atol=1e-5, rtol=0)


def test_non_finite_points_are_dropped_and_rgb_255_is_rescaled():
    rng = np.random.default_rng(5)
    cloud = np.concatenate([rng.normal(size=(400, 3)), rng.uniform(0, 1, (400, 3))], axis=1)
    dirty = np.insert(cloud, [10, 200], np.nan, axis=0)
    dirty[5, 4] = np.inf  # a point with a bad colour is dropped too
    torch.testing.assert_close(pointcloud.preprocess(dirty, num_points=256),
                               pointcloud.preprocess(np.delete(cloud, 5, axis=0), num_points=256))
    as_255 = cloud.copy()
    as_255[:, 3:] *= 255
    torch.testing.assert_close(pointcloud.preprocess(as_255, num_points=256),
                               pointcloud.preprocess(cloud, num_points=256), atol=1e-6, rtol=0)


def test_random_sampling_is_seeded_and_small_clouds_are_topped_up():
    cloud = np.random.default_rng(6).normal(size=(5000, 3))
    a = pointcloud.preprocess(cloud, sampling="random", seed=1)
    assert torch.equal(a, pointcloud.preprocess(cloud, sampling="random", seed=1))
    assert not torch.equal(a, pointcloud.preprocess(cloud, sampling="random", seed=2))
    small = np.random.default_rng(7).normal(size=(40, 3))
    out = pointcloud.preprocess(small, num_groups=8, group_size=16)
    assert out.shape == (8, 16, 6)
    normalised = small - small.mean(axis=0)
    normalised /= np.linalg.norm(normalised, axis=1).max()
    d = np.linalg.norm(out[..., :3].reshape(-1, 1, 3).numpy() - normalised[None], axis=-1).min(axis=1)
    assert d.max() < 1e-6  # every grouped point is one of the 40 input points


def test_large_clouds_are_thinned_before_fps():
    cloud = np.random.default_rng(8).normal(size=(40_000, 3))
    out = pointcloud.preprocess(cloud, fps_candidates=4096)
    assert out.shape == (64, 32, 6)
    with pytest.raises(ValueError, match="fps_candidates must be an integer"):
        pointcloud.preprocess(cloud, fps_candidates=10)
