"""``all_finite``: the one NaN/inf check of the quantizer, the fast VQ kernels, graph inputs and metrics."""
from __future__ import annotations

import pytest
import torch

from codebind_core.evaluation.metrics import cosine_scores
from codebind_core.finite import all_finite
from codebind_core.quantize import CompositionalVQ

DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
BAD = (float("nan"), float("inf"), float("-inf"))


def _views(t: torch.Tensor):
    """The tensor, a transposed (non-contiguous) view, a strided slice and a leaf with grad."""
    yield t
    yield t.t().contiguous().t()
    yield torch.cat([t, t], dim=1)[:, ::2]
    if t.dtype in (torch.float32, torch.float64):
        yield t.clone().requires_grad_(True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_finite_and_each_bad_value_anywhere(dtype):
    t = torch.randn(7, 33).to(dtype)
    assert all(all_finite(v) for v in _views(t))
    for bad in BAD:
        for pos in ((0, 0), (3, 17), (6, 32)):  # first, middle and last element
            z = t.clone()
            z[pos] = bad
            assert not any(all_finite(v) for v in _views(z)), (dtype, bad, pos)


def test_edge_shapes_and_parameters():
    assert all_finite(torch.empty(0, 4))  # nothing to reject
    assert all_finite(torch.tensor(3.0)) and not all_finite(torch.tensor(float("nan")))
    p = torch.nn.Parameter(torch.randn(4, 8))
    assert all_finite(p)
    with torch.no_grad():
        p[1, 2] = float("inf")
    assert not all_finite(p)
    assert all_finite(torch.finfo(torch.float32).max * torch.ones(3))  # large is still finite


@pytest.mark.parametrize("dtype", (torch.float32, torch.float64, torch.bfloat16))
def test_every_user_refuses_one_bad_value(dtype):
    """One NaN or inf among many finite values is refused by each caller, with the same message."""
    vq = CompositionalVQ(dim=32, codebook_size=8, sub_dim=4)
    for bad in BAD:
        z = torch.randn(5, 32, dtype=dtype)
        z[4, 31] = bad
        with pytest.raises(ValueError, match="NaN or inf"):
            vq.encode(z)
        with pytest.raises(ValueError, match="NaN or inf"):  # sub-vectors straight to k-means
            vq.kmeans_init(z.reshape(5, 8, 4))
        with pytest.raises(ValueError, match="NaN or inf"):
            cosine_scores(z.float(), torch.randn(3, 32))
    assert vq.encode(torch.randn(5, 32, dtype=dtype)).shape == (5, 8)
