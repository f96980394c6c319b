"""TOC (fcid-toc §4.1): the per-dimension statistics, and which dimensions it keeps."""
import pytest
import torch
import torch.nn.functional as F

from codebind_core import toc as TOC


def _constructed(h: int = 64, seed: int = 0) -> torch.Tensor:
    """8 dimensions: 0-3 carry zero-mean signal (distinctive), 4-5 a large offset common to every
    code (similar codes), 6-7 are constant zero (no variance)."""
    g = torch.Generator().manual_seed(seed)
    e = torch.zeros(h, 8)
    e[:, :4] = torch.randn(h, 4, generator=g)
    e[:, 4:6] = 2.0 + 0.05 * torch.randn(h, 2, generator=g)
    return e


def test_statistics_match_the_definitions():
    e = F.normalize(torch.randn(10, 6, dtype=torch.float64), dim=-1)
    h = e.shape[0]
    brute = torch.zeros(6, dtype=torch.float64)
    for i in range(h):
        for j in range(h):
            if i != j:
                brute += e[i] * e[j]
    assert torch.allclose(TOC.code_similarity(e), brute / h ** 2)                          # Eq. 7
    assert torch.allclose(TOC.code_variance(e), ((e - e.mean(0)) ** 2).mean(0))          # Eq. 8
    lam = 0.3
    assert torch.allclose(TOC.toc_scores(e, lam),
                          lam * TOC.code_variance(e) - (1 - lam) * TOC.code_similarity(e))  # Eq. 9


def test_keeps_the_distinctive_dimensions():
    e = _constructed()
    assert TOC.select_dimensions(e, 4).tolist() == [0, 1, 2, 3]
    # the common-offset dimensions have the highest code similarity, the zero ones no variance
    s, v = TOC.code_similarity(e), TOC.code_variance(e)
    assert s[4:6].min() > s[:4].max() and v[6:].max() == 0
    # similarity alone (lambda = 0) ranks the offset dimensions last
    assert set(TOC.select_dimensions(e, 6, lam=0.0).tolist()) == {0, 1, 2, 3, 6, 7}
    sel = TOC.toc(e, 0.5)
    assert sel.keep == 4 and sel.dims.tolist() == [0, 1, 2, 3]


def test_toc_beats_random_on_a_retrieval_task():
    e = _constructed(h=200, seed=1)
    q = e + 0.3 * torch.randn(200, 8, generator=torch.Generator().manual_seed(2))

    def acc(dims):
        s = TOC.keep_dimensions(q, dims) @ TOC.keep_dimensions(e, dims).T
        return float((s.argmax(1) == torch.arange(200)).float().mean())
    toc_acc = acc(TOC.select_dimensions(e, 4))
    g = torch.Generator().manual_seed(0)
    rnd = sum(acc(TOC.random_dimensions(8, 4, g)) for _ in range(20)) / 20
    assert toc_acc > rnd + 0.15, (toc_acc, rnd)


def test_effective_codebook_deduplicates():
    base = F.normalize(torch.randn(5, 16), dim=-1)
    q = base[torch.tensor([0, 1, 1, 2, 3, 3, 3, 4, 0])]
    assert TOC.effective_codebook(q).shape == (5, 16)


def test_random_dimensions_are_a_subset_without_repeats():
    d = TOC.random_dimensions(32, 10, torch.Generator().manual_seed(0))
    assert len(set(d.tolist())) == 10 and d.min() >= 0 and d.max() < 32


@pytest.mark.parametrize("call, message", [
    (lambda: TOC.select_dimensions(torch.randn(4, 8), 9), "keep"),
    (lambda: TOC.toc_scores(torch.randn(4, 8), 1.5), "lambda"),
    (lambda: TOC.code_similarity(torch.randn(1, 8)), "codebook"),
    (lambda: TOC.code_variance(torch.full((3, 4), float("nan"))), "NaN"),
    (lambda: TOC.toc(torch.randn(4, 8), 0.0), "fraction"),
    (lambda: TOC.effective_codebook(torch.ones(6, 4)), "distinct"),
])
def test_bad_input_is_rejected(call, message):
    with pytest.raises(ValueError, match=message):
        call()
