"""fast_vq: the CPU compositional-VQ kernel gives the codes of quantize.py and of faiss PQ."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from codebind_core.export import fast_vq
from codebind_core.quantize import CompositionalVQ


def _unit(n, d, seed=0):
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


def _ties(z, book, a, b):
    """Positions where codes a and b differ by more than float32 rounding of their scores."""
    d = book.shape[1]
    sub = z.double().reshape(*a.shape, d)
    sa = (sub * book.double()[a]).sum(-1)
    sb = (sub * book.double()[b]).sum(-1)
    return ((a != b) & ((sa - sb).abs() > 1e-6)).sum().item()


@pytest.mark.parametrize("dim,k", [(1024, 1024), (64, 256), (96, 7)])
def test_codes_equal_compositional_vq_encode(dim, k):
    vq = CompositionalVQ(dim, k, 8).eval()
    z = _unit(300, dim, seed=dim + k)
    ours = fast_vq.encode(z, vq.codebook)
    ref = vq.encode(z)
    assert ours.shape == (300, dim // 8) and ours.dtype == torch.int64
    assert _ties(z, vq.codebook, ours, ref) == 0
    assert (ours == ref).float().mean() > 0.9999


def test_codes_equal_faiss_product_quantizer():
    faiss = pytest.importorskip("faiss")
    dim, k, d_sub = 256, 1024, 8
    m = dim // d_sub
    book = F.normalize(torch.randn(k, d_sub), dim=-1)
    z = _unit(500, dim, seed=3)
    pq = faiss.ProductQuantizer(dim, m, int(math.log2(k)))
    faiss.copy_array_to_vector(np.tile(book.numpy(), (m, 1)).ravel(), pq.centroids)
    packed = pq.compute_codes(z.numpy())
    bits = np.unpackbits(packed, axis=1, bitorder="little")[:, : m * 10].reshape(500, m, 10)
    ref = torch.from_numpy((bits.astype(np.int64) << np.arange(10)).sum(-1))
    ours = fast_vq.encode(z, book)
    assert _ties(z, book, ours, ref) == 0
    assert (ours == ref).float().mean() > 0.999


def test_block_sizes_and_threads_do_not_change_codes():
    book = F.normalize(torch.randn(1024, 8), dim=-1)
    sub = torch.randn(10_001, 8)  # not a multiple of any block size
    ref = fast_vq.nearest_codes(sub, book)
    for rows, threads in ((1, 2), (7, 1), (100, 3), (4096, 2), (20_000, 2)):
        assert torch.equal(fast_vq.nearest_codes(sub, book, rows=rows, threads=threads), ref)
    assert _ties(sub, book, ref[:, None], (sub @ book.T).argmax(-1)[:, None]) == 0


@pytest.mark.parametrize("d_sub,k", [(8, 1024), (4, 256), (12, 100), (1, 16)])
def test_numba_and_torch_score_kernels_give_the_same_codes(d_sub, k):
    if not fast_vq.HAVE_NUMBA:
        pytest.skip("numba not installed")
    gen = torch.Generator().manual_seed(d_sub + k)
    book = F.normalize(torch.randn(k, d_sub, generator=gen), dim=-1)
    sub = torch.randn(3001, d_sub, generator=gen)
    a = fast_vq.nearest_codes(sub, book, kernel="numba", threads=2)
    b = fast_vq.nearest_codes(sub, book, kernel="torch", threads=1)
    assert _ties(sub, book, a[:, None], b[:, None]) == 0
    assert (a == b).float().mean() > 0.999
    scores = sub.double() @ book.double().T  # every code is a float64 best up to float32 rounding:
    bound = 2 * d_sub * torch.finfo(torch.float32).eps * sub.double().norm(dim=-1)  # |e_k| = 1
    assert torch.all(scores.max(-1).values - scores.gather(1, a[:, None])[:, 0] <= bound)
    with pytest.raises(ValueError, match="kernel must be one of"):
        fast_vq.nearest_codes(sub, book, kernel="mkl")


def test_callers_torch_threads_are_left_alone():
    import threading

    before = torch.get_num_threads()
    fast_vq.nearest_codes(torch.randn(5000, 8), F.normalize(torch.randn(64, 8), dim=-1), threads=2)
    seen = []
    t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    t.start()
    t.join()
    assert torch.get_num_threads() == before and seen == [before]


def test_cosine_not_length_decides_and_zero_maps_to_code_zero():
    book = F.normalize(torch.randn(64, 8), dim=-1)
    sub = torch.randn(50, 8)
    scaled = sub * torch.rand(50, 1) * 100
    assert torch.equal(fast_vq.nearest_codes(sub, book), fast_vq.nearest_codes(scaled, book))
    assert torch.equal(fast_vq.nearest_codes(torch.zeros(3, 8), book), torch.zeros(3, dtype=torch.long))


def test_empty_and_non_float32_inputs():
    book = F.normalize(torch.randn(16, 8), dim=-1)
    assert fast_vq.nearest_codes(torch.empty(0, 8), book).shape == (0,)
    sub = torch.randn(20, 8, dtype=torch.float64)
    assert torch.equal(fast_vq.nearest_codes(sub, book), (sub @ book.double().T).argmax(-1))
    z = torch.randn(2, 5, 16)
    assert fast_vq.encode(z, book).shape == (2, 5, 2)


@pytest.mark.parametrize("sub,book,match", [
    (torch.randn(4, 6), torch.randn(16, 8), "sub-vector dim"),
    (torch.randn(4, 8, 1), torch.randn(16, 8), "expected"),
    (torch.randn(4, 8), torch.randn(0, 8), "empty"),
    (torch.ones(4, 8, dtype=torch.long), torch.randn(16, 8), "floating"),
])
def test_bad_inputs_raise_value_error(sub, book, match):
    with pytest.raises(ValueError, match=match):
        fast_vq.nearest_codes(sub, book)


def test_encode_rejects_nan_and_wrong_width():
    book = F.normalize(torch.randn(16, 8), dim=-1)
    with pytest.raises(ValueError, match="NaN"):
        fast_vq.encode(torch.full((2, 16), float("nan")), book)
    for dtype in (torch.float32, torch.float64, torch.bfloat16):  # NumPy's check and torch's
        for bad in (float("inf"), float("-inf"), float("nan")):
            z = torch.randn(3, 32, dtype=dtype)
            z[2, 17] = bad
            with pytest.raises(ValueError, match="NaN or inf"):
                fast_vq.encode(z, book)
            with pytest.raises(ValueError, match="NaN or inf"):  # a strided view, with grad
                fast_vq.encode(z.t().contiguous().t().requires_grad_(dtype != torch.bfloat16), book)
        assert fast_vq.encode(torch.randn(3, 32, dtype=dtype), book).shape == (3, 4)
    with pytest.raises(ValueError, match="multiple"):
        fast_vq.encode(torch.randn(2, 12), book)
    with pytest.raises(ValueError, match="rows"):
        fast_vq.nearest_codes(torch.randn(2, 8), book, rows=-1)
    with pytest.raises(ValueError, match="threads"):
        fast_vq.nearest_codes(torch.randn(2, 8), book, threads=0)


def test_block_rows_fit_the_cache():
    assert fast_vq.block_rows(1024) == 256  # 256 x 1024 float32 = 1 MiB
    assert fast_vq.block_rows(256) == 1024
    assert fast_vq.block_rows(10 ** 6) == 16


@pytest.mark.parametrize("kernel", fast_vq.KERNELS)
def test_ties_negative_scores_and_signed_zeros(kernel):
    """The numba kernel orders scores by their bit patterns: negative scores, -0 = +0 and equal
    scores must still give the float arg-max with the lowest index, as torch and NumPy do."""
    if kernel == "numba" and not fast_vq.HAVE_NUMBA:
        pytest.skip("numba not installed")
    gen = torch.Generator().manual_seed(5)
    book = F.normalize(torch.randn(40, 8, generator=gen), dim=-1)
    book[25] = book[7]  # a duplicate later in the book: its copy at 7 must win
    book[33] = book[7]
    sub = torch.cat([book[7:8] * 3, -book[7:8], -book.abs()[:5], torch.zeros(2, 8)])
    codes = fast_vq.nearest_codes(sub, book, kernel=kernel, threads=1)
    ref = (sub.double() @ book.double().T).argmax(-1)
    assert codes[0] == 7 and codes[-1] == 0 and codes[-2] == 0
    assert torch.equal(codes, ref)
    # every score negative: the least negative wins (bit order is reversed below zero)
    neg_book = -F.normalize(torch.rand(16, 8, generator=gen) + 0.1, dim=-1)
    sub = torch.rand(64, 8, generator=gen) + 0.1
    assert torch.equal(fast_vq.nearest_codes(sub, neg_book, kernel=kernel, threads=1),
                       (sub.double() @ neg_book.double().T).argmax(-1))
    # -0 and +0 tie: a book whose scores are -0.0 before +0.0 and a row of zeros picks index 0
    signed = torch.tensor([[-1.0] * 8, [1.0] * 8]) / math.sqrt(8)
    assert fast_vq.nearest_codes(torch.zeros(1, 8), signed, kernel=kernel).item() == 0
