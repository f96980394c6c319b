"""pointcloud: the compiled (numba) kernels give the torch reference's tensors on fixed seeds."""
import numpy as np
import pytest
import torch

from codebind_core.modalities import pointcloud
from codebind_core.modalities import pointcloud_kernels as kernels
from codebind_core.modalities.pointcloud_ops import farthest_point_sample, group

pytestmark = pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba not installed")


def _cloud(seed, n, cols, dtype, rgb_max=1.0):
    rng = np.random.default_rng(seed)
    xyz = rng.normal(size=(n, 3)) * [3.0, 1.0, 0.5] + [5.0, -2.0, 1.0]
    cloud = xyz if cols == 3 else np.c_[xyz, rng.uniform(0, rgb_max, (n, 3))]
    cloud = cloud.astype(dtype)
    cloud[rng.choice(n, 5, replace=False), rng.integers(0, cols)] = np.nan
    return cloud


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n,cols,dtype,rgb_max", [
    (40, 3, np.float64, 1.0),       # topped up by sampling with replacement (duplicates)
    (900, 6, np.float32, 255.0),    # rgb in [0, 255]
    (3000, 3, np.float32, 1.0),     # FPS over every point
    (30_000, 6, np.float64, 1.0),   # thinned to fps_candidates first
])
@pytest.mark.parametrize("opts", [{}, {"sampling": "random"},
                                  {"num_points": 256, "num_groups": 16, "group_size": 8, "fps_candidates": 2048}])
def test_compiled_preprocess_equals_the_reference(seed, n, cols, dtype, rgb_max, opts):
    cloud = _cloud(seed, n, cols, dtype, rgb_max)
    ref = pointcloud.preprocess(cloud, kernels="torch", seed=seed, **opts)
    out = pointcloud.preprocess(cloud, seed=seed, **opts)  # numba is the default
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert torch.equal(out, ref)


def test_fps_kernel_equals_torch_with_ties_and_k_above_n():
    rng = np.random.default_rng(3)
    grid = np.stack(np.meshgrid(*[np.arange(4.0)] * 3), -1).reshape(-1, 3)  # many equal distances
    for xyz, k in ((rng.normal(size=(5000, 3)), 700), (grid, 40), (np.repeat(grid[:5], 3, 0), 20)):
        ref = farthest_point_sample(torch.from_numpy(xyz)[None], k)[0].numpy()
        assert np.array_equal(kernels.farthest_point_sample(xyz, k), ref)
    assert np.array_equal(kernels.farthest_point_sample(grid, 5, start=7)[:1], [7])
    with pytest.raises(ValueError, match="farthest_point_sample"):
        kernels.farthest_point_sample(grid, 5, start=len(grid))


def test_group_kernel_equals_torch_groups():
    rng = np.random.default_rng(4)
    pts = rng.normal(size=(1024, 6))
    pts[500:520] = pts[3]  # duplicates of a centre: the centre itself still comes first
    centres = np.array([0, 3, 17, 511, 1023])
    ref = group(torch.from_numpy(pts)[None], torch.from_numpy(centres)[None], 32)[0].numpy()
    ours = kernels.group(pts, centres, 32)
    assert np.array_equal(ours, ref)
    assert np.array_equal(ours[:, 0], pts[centres])
    d = np.linalg.norm(ours[..., :3] - ours[:, :1, :3], axis=-1)
    assert np.all(np.diff(d, axis=1) >= 0)
    with pytest.raises(ValueError, match="exceeds"):
        kernels.group(pts[:10], centres[:1], 11)


def test_compiled_path_rejects_what_the_reference_rejects():
    cloud = _cloud(5, 100, 6, np.float64)
    cloud = cloud[np.isfinite(cloud).all(axis=1)]
    for bad, match in ((cloud[:10], "only 10 finite points"),
                       (np.c_[cloud[:, :3], cloud[:, 3:] * 300], "rgb must lie in"),
                       (cloud[:, :4], "expected 3 \\(xyz\\) or 6"),
                       (np.full((50, 3), np.inf), "only 0 finite points")):
        for k in ("numba", "torch"):
            with pytest.raises(ValueError, match=match):
                pointcloud.preprocess(bad, kernels=k)
    with pytest.raises(ValueError, match="option kernels must be one of"):
        pointcloud.preprocess(cloud, kernels="cuda")


def test_tensor_inputs_match_and_integer_ties_keep_the_distances():
    cloud = _cloud(6, 2000, 3, np.float64)[5:] * 100
    t = torch.from_numpy(cloud.astype(np.float32))
    assert torch.equal(pointcloud.preprocess(t), pointcloud.preprocess(t, kernels="torch"))
    # integer coordinates: many neighbours at exactly equal distances; torch.topk orders such ties
    # its own way, so the groups agree in centres and in every slot's distance, not in tie order
    ints = np.nan_to_num(cloud).astype(np.int32)
    out, ref = pointcloud.preprocess(ints), pointcloud.preprocess(ints, kernels="torch")
    assert torch.equal(out[:, 0], ref[:, 0])
    dist = lambda g: (g[..., :3] - g[:, :1, :3]).norm(dim=-1)  # noqa: E731
    torch.testing.assert_close(dist(out), dist(ref), atol=4e-7, rtol=0)  # float32 rounding of |p - c|


def test_warm_up_compiles_every_kernel_for_float32_and_float64_clouds():
    kernels.warm_up()
    dtypes = {str(sig[0].dtype) for sig in kernels._cloud_stats_jit.signatures}
    assert {"float32", "float64"} <= dtypes
    assert kernels._fps_jit.signatures and kernels._group_jit.signatures
