"""Compositional VQ (paper §3.3, App. A.2): assignment, EMA (Eq. 9), reinit (Eq. 10), k-means,
straight-through gradients, usage statistics and DDP consistency."""
from __future__ import annotations

import copy
import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from codebind_core import quantize as Q
from codebind_core.quantize import CompositionalVQ


def _unit_np(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _set_state(vq: CompositionalVQ, embed, count=None, usage=None) -> None:
    """Put the quantizer in a known state (codebook, N_k, f_k = e_k N_k, usage)."""
    e = torch.nn.functional.normalize(torch.as_tensor(embed, dtype=torch.float32), dim=-1)
    n = torch.ones(e.shape[0]) if count is None else torch.as_tensor(count, dtype=torch.float32)
    vq.embed.copy_(e)
    vq.ema_count.copy_(n)
    vq.ema_sum.copy_(e * n[:, None])
    vq.usage_ema.copy_(torch.full((e.shape[0],), 1.0 / e.shape[0]) if usage is None else torch.as_tensor(usage))
    vq.initialized = True


def _clusters(centres: torch.Tensor, per: int, noise: float, m: int) -> torch.Tensor:
    """(len(centres)*per, m*d) vectors whose sub-vectors are noisy copies of random centres."""
    idx = torch.randint(len(centres), (len(centres) * per, m))
    sub = centres[idx] + noise * torch.randn(len(centres) * per, m, centres.shape[1])
    return sub.flatten(1)


def _signed_basis(d: int) -> torch.Tensor:
    """2d well-separated unit centres ±e_i (cosine 0 or -1 between any two)."""
    eye = torch.eye(d)
    return torch.cat([eye, -eye])


# ---- assignment -------------------------------------------------------------------------------
@pytest.mark.parametrize("budget", [Q._SIM_BUDGET, 40])  # 40: forces the chunked path
def test_codes_equal_brute_force_argmin(monkeypatch, budget):
    monkeypatch.setattr(Q, "_SIM_BUDGET", budget)
    vq = CompositionalVQ(dim=24, codebook_size=10, sub_dim=4).eval()
    z = torch.randn(7, 5, 24) * 3.0
    codes = vq.encode(z)
    assert codes.shape == (7, 5, 6) and codes.dtype == torch.int64
    book = vq.codebook.numpy().astype(np.float64)
    subs = z.numpy().astype(np.float64).reshape(7, 5, 6, 4)
    expected = np.zeros((7, 5, 6), dtype=np.int64)
    for idx in np.ndindex(7, 5, 6):
        u = _unit_np(subs[idx])
        expected[idx] = int(np.argmin([np.sum((u - e) ** 2) for e in book]))
    np.testing.assert_array_equal(codes.numpy(), expected)
    np.testing.assert_array_equal(vq(z).codes.numpy(), expected)


def test_encode_deterministic_and_decode_equals_quantized():
    vq = CompositionalVQ(dim=32, codebook_size=16, sub_dim=8)
    vq.kmeans_init(torch.randn(64, 32))
    vq.eval()
    z = torch.randn(9, 32)
    c1, c2 = vq.encode(z), vq.encode(z.clone())
    assert torch.equal(c1, c2)
    out = vq(z)
    assert torch.equal(out.codes, c1)
    torch.testing.assert_close(vq.decode(c1), out.quantized, atol=1e-6, rtol=0)
    # every decoded sub-vector is a unit codevector
    torch.testing.assert_close(vq.decode(c1).view(9, 4, 8).norm(dim=-1), torch.ones(9, 4))


@pytest.mark.parametrize("training", [False, True])
def test_straight_through_gradient_is_the_normalisation_jacobian(training):
    """q = z̄ + sg(e - z̄) (official §6.7): d<q, w>/dz = (I - z̄z̄ᵀ) w / ||z|| per sub-vector."""
    vq = CompositionalVQ(dim=16, codebook_size=8, sub_dim=4).train(training)
    z = torch.randn(5, 16, dtype=torch.float64)
    w = torch.randn(5, 16, dtype=torch.float64)
    zz = z.clone().requires_grad_(True)
    (vq(zz.float()).quantized.double() * w).sum().backward()
    sub, ws = z.view(5, 4, 4).numpy(), w.view(5, 4, 4).numpy()
    expected = np.empty_like(sub)
    for i in range(5):
        for h in range(4):
            n = np.linalg.norm(sub[i, h])
            u = sub[i, h] / n
            expected[i, h] = (np.eye(4) - np.outer(u, u)) @ ws[i, h] / n
    np.testing.assert_allclose(zz.grad.view(5, 4, 4).numpy(), expected, atol=1e-5)  # float32 forward


def test_quantized_value_is_the_raw_codevector_and_commit_is_the_element_mean():
    vq = CompositionalVQ(dim=12, codebook_size=5, sub_dim=3).eval()
    raw = torch.randn(5, 3) * torch.tensor([[0.2], [0.5], [0.9], [1.0], [0.4]])  # non-unit codevectors
    vq.embed.copy_(raw)
    vq.initialized = True
    z = torch.randn(4, 12, requires_grad=True)
    out = vq(z)
    assert out.sub_vectors.shape == (4, 4, 3)
    u = _unit_np(z.detach().numpy().reshape(4, 4, 3).astype(np.float64))
    book = raw.numpy().astype(np.float64)
    codes = np.argmax(u @ _unit_np(book).T, axis=-1)          # cosine to the unit codebook
    assert np.array_equal(out.codes.numpy(), codes)
    np.testing.assert_allclose(out.quantized.detach().numpy().reshape(4, 4, 3), book[codes], atol=1e-6)
    expected = np.mean((book[codes] - u) ** 2)                # mean over all B·m·d* elements
    assert abs(out.commit_loss.item() - expected) < 1e-6
    out.commit_loss.backward()  # the gradient reaches z through the sub-vectors only
    assert z.grad is not None and z.grad.abs().sum() > 0


# ---- EMA (Eq. 9) --------------------------------------------------------------------------------
def _laplace_codebook(n: np.ndarray, f: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    total = n.sum()
    return f / ((n + eps) / (total + len(n) * eps) * total)[:, None]


def test_ema_step_equals_eq9_with_laplace_smoothing_by_hand():
    g = 0.9
    vq = CompositionalVQ(dim=4, codebook_size=3, sub_dim=2, decay=g, reinit=False).train()
    e0 = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    n0 = np.array([2.0, 0.5, 1.0])
    _set_state(vq, e0, n0)
    z = torch.tensor([[2.0, 0.2, 0.1, 3.0], [1.0, 0.1, -0.2, -1.0]])
    vq(z)
    subs = _unit_np(z.numpy().astype(np.float64).reshape(4, 2))
    assign = [int(np.argmax(e0 @ s)) for s in subs]
    assert assign == [0, 1, 0, 2]
    n1, f1 = n0.copy(), e0 * n0[:, None]
    for k in range(3):
        members = [s for s, a in zip(subs, assign) if a == k]
        n1[k] = g * n0[k] + (1 - g) * len(members)
        f1[k] = g * f1[k] + (1 - g) * np.sum(members, axis=0)
    np.testing.assert_allclose(vq.ema_count.numpy(), n1, rtol=1e-6)
    np.testing.assert_allclose(vq.ema_sum.numpy(), f1, rtol=1e-6, atol=1e-7)
    # e_k = f_k / Ñ_k, not renormalised (official §7)
    np.testing.assert_allclose(vq.codebook.numpy(), _laplace_codebook(n1, f1), rtol=1e-5, atol=1e-7)


def test_code_empty_at_kmeans_and_never_hit_becomes_zero():
    vq = CompositionalVQ(dim=2, codebook_size=3, sub_dim=2, reinit=False).train()
    e0 = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]) / np.array([[1.0], [1.0], [np.sqrt(2)]])
    vq.embed.copy_(torch.tensor(e0, dtype=torch.float32))
    vq.ema_count.copy_(torch.tensor([1.0, 1.0, 0.0]))
    vq.ema_sum.copy_(torch.tensor(e0 * np.array([[1.0], [1.0], [0.0]]), dtype=torch.float32))
    vq.initialized = True
    vq(torch.tensor([[1.0, 0.05]]))
    assert torch.equal(vq.codebook[2], torch.zeros(2))         # f = 0: a zero vector
    torch.testing.assert_close(torch.nn.functional.normalize(vq.codebook[1], dim=0), torch.tensor([0.0, 1.0]))
    assert torch.isfinite(vq.codebook).all()


# ---- reinit (Eq. 10) ----------------------------------------------------------------------------
def test_reinit_is_soft_on_every_code_and_transient():
    k, g = 4, 0.99
    vq = CompositionalVQ(dim=2, codebook_size=k, sub_dim=2, decay=g).train()
    plain = CompositionalVQ(dim=2, codebook_size=k, sub_dim=2, decay=g, reinit=False).train()
    e0 = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    p0 = np.array([0.5, 0.4, 1e-4, 0.0])
    for q in (vq, plain):
        _set_state(q, e0, count=[1.0, 1.0, 1.0, 1.0], usage=p0)
    u = _unit_np(np.array([0.9, 0.1]))
    z = torch.tensor([[0.9, 0.1]] * 6)   # 6 sub-vectors > K: anchors drawn from them, all equal u
    vq(z)
    plain(z)
    p1 = g * p0 + (1 - g) * np.array([1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(vq.usage_ema.numpy(), p1, rtol=1e-6)
    alpha = np.exp(-10 * k * p1 / (1 - g) - 1e-3)
    assert alpha[3] > 0.99 and 0.5 < alpha[2] < 0.8 and alpha[0] < 1e-100  # dead, rare, busy
    e_ema = plain.codebook.numpy().astype(np.float64)
    expected = (1 - alpha[:, None]) * e_ema + alpha[:, None] * u
    np.testing.assert_allclose(vq.codebook.numpy(), expected, atol=1e-6)
    # N and f are not touched by the reinit (official §9): the next EMA step overwrites e
    assert torch.equal(vq.ema_count, plain.ema_count) and torch.equal(vq.ema_sum, plain.ema_sum)


def test_reinit_anchors_with_few_sub_vectors_are_them_in_order_then_noise():
    k = 8
    vq = CompositionalVQ(dim=4, codebook_size=k, sub_dim=2)
    flat = torch.nn.functional.normalize(torch.randn(3, 2), dim=-1)
    anchors = vq._anchors(flat)
    assert anchors.shape == (k, 2)
    assert torch.equal(anchors[:3], flat)
    assert anchors[3:].abs().max() <= 1.0 / k                  # U(-1, 1) / K, not normalised


@pytest.mark.parametrize("reinit", [True, False])
def test_usage_reaches_full_on_k_clusters_after_training(reinit):
    """16 clusters, 16 codes: 4 codes on 4 clusters, 12 dead codes on the far side of the sphere.
    The reinit (Eq. 10) revives the dead codes; with EMA alone they stay unused."""
    d = 9
    axes = torch.eye(d)
    centres = torch.nn.functional.normalize(1.5 * axes[0] + torch.cat([axes[1:], -axes[1:]]), dim=-1)
    far = -axes[0] + 0.1 * torch.randn(12, d)
    vq = CompositionalVQ(dim=4 * d, codebook_size=16, sub_dim=d, reinit=reinit)
    _set_state(vq, torch.cat([centres[:4], far]), usage=torch.zeros(16))
    data = _clusters(centres, 32, 0.03, 4)
    vq.eval()(data)
    assert vq.usage() == 0.25
    steps = 1 if reinit else 5
    for _ in range(steps):
        vq.train()(data[torch.randperm(len(data))[:128]])
    vq.eval().reset_usage_stats()
    vq(data)
    if reinit:  # one step: every dead code now sits on the data and is used
        assert vq.usage() == 1.0
        assert vq.perplexity() > 8.0
        assert (vq.codebook[4:] @ centres.T).max(dim=1).values.min() > 0.9
    else:
        assert vq.usage() == 0.25


# ---- k-means ------------------------------------------------------------------------------------
@pytest.mark.parametrize("method,codes_per_centre", [("kmeans++", 1), ("random", 2)])
def test_kmeans_init_lands_on_mixture_centres(method, codes_per_centre):
    centres = _signed_basis(6)                            # 12 centres in d* = 6
    k = len(centres) * codes_per_centre
    vq = CompositionalVQ(dim=18, codebook_size=k, sub_dim=6, kmeans_iters=20, kmeans_method=method)
    points = centres[torch.randint(12, (600, 3))] + 0.05 * torch.randn(600, 3, 6)  # (N, m, d*)
    vq.kmeans_init(points)
    assert vq.initialized
    cos = centres @ vq.codebook.T
    assert (1.0 - cos.max(dim=1).values).max() < 0.05
    torch.testing.assert_close(vq.codebook.norm(dim=-1), torch.ones(k))
    # N_k^0 = the last k-means assignment's counts, f_k^0 = e_k N_k^0 (official §7)
    assert float(vq.ema_count.sum()) == 600 * 3
    codes = (points.reshape(-1, 6) @ vq.codebook.T).argmax(-1)
    assert abs(float(vq.ema_count.max()) - float(torch.bincount(codes, minlength=k).max())) <= 600 * 3 * 0.01
    torch.testing.assert_close(vq.ema_sum, vq.codebook * vq.ema_count[:, None])


def test_kmeans_init_with_fewer_points_than_codes():
    vq = CompositionalVQ(dim=8, codebook_size=64, sub_dim=8)
    vq.kmeans_init(torch.randn(5, 8))
    assert torch.isfinite(vq.codebook).all()
    torch.testing.assert_close(vq.codebook.norm(dim=-1), torch.ones(64))


def test_training_forward_initialises_from_first_batch():
    centres = _signed_basis(4)
    vq = CompositionalVQ(dim=8, codebook_size=8, sub_dim=4).train()
    assert not vq.initialized
    vq(_clusters(centres, 40, 0.02, 2))
    assert vq.initialized
    assert (centres @ vq.codebook.T).max(dim=1).values.min() > 0.99


# ---- usage statistics ---------------------------------------------------------------------------
def test_usage_and_perplexity_by_hand():
    vq = CompositionalVQ(dim=8, codebook_size=10, sub_dim=4)
    assert vq.usage() == 0.0 and vq.perplexity() == 0.0
    vq.record_usage(torch.tensor([[1, 1], [1, 2], [7, 2]]))
    p = np.array([3, 2, 1]) / 6
    assert vq.usage() == pytest.approx(0.3)
    assert vq.perplexity() == pytest.approx(math.exp(-(p * np.log(p)).sum()))
    vq.reset_usage_stats()
    assert vq.usage() == 0.0


def test_state_dict_round_trip_resumes_exactly():
    vq = CompositionalVQ(dim=16, codebook_size=8, sub_dim=4, reinit=False).train()
    vq(torch.randn(32, 16))
    other = CompositionalVQ(dim=16, codebook_size=8, sub_dim=4, reinit=False).train()
    other.load_state_dict(vq.state_dict())
    assert other.initialized
    z = torch.randn(16, 16)
    a, b = vq(z), other(z)
    assert torch.equal(a.codes, b.codes)
    assert torch.equal(vq.codebook, other.codebook) and torch.equal(vq.ema_sum, other.ema_sum)


# ---- bad input ----------------------------------------------------------------------------------
def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="multiple"):
        CompositionalVQ(dim=10, sub_dim=4)
    with pytest.raises(ValueError, match="decay"):
        CompositionalVQ(dim=8, decay=1.0)
    with pytest.raises(ValueError, match="kmeans_method"):
        CompositionalVQ(dim=8, kmeans_method="spectral")
    vq = CompositionalVQ(dim=8, codebook_size=4, sub_dim=4)
    with pytest.raises(ValueError, match="shape"):
        vq.encode(torch.randn(3, 9))
    with pytest.raises(ValueError, match="NaN"):
        vq(torch.full((2, 8), float("nan")))
    with pytest.raises(ValueError, match="floating"):
        vq.encode(torch.ones(2, 8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        vq.decode(torch.tensor([[0, 4]]))
    with pytest.raises(ValueError, match="integer"):
        vq.decode(torch.zeros(1, 2))
    with pytest.raises(ValueError, match="empty"):
        vq.train()(torch.zeros(0, 8))
    with pytest.raises(ValueError, match="kmeans_init"):
        vq.kmeans_init(torch.randn(4, 5))
    assert vq.eval()(torch.zeros(0, 8)).codes.shape == (0, 2)


# ---- DDP ----------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, start_state: dict, halves: list, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.manual_seed(100 + rank)  # ranks draw different random numbers
        ema = CompositionalVQ(dim=16, codebook_size=8, sub_dim=4, reinit=False).train()
        ema.load_state_dict(start_state)
        for batch in halves[rank]:
            ema(batch)
        fresh = CompositionalVQ(dim=16, codebook_size=8, sub_dim=4).train()  # k-means + reinit
        for batch in halves[rank]:
            fresh(batch)
        torch.save({"ema": ema.state_dict(), "fresh": fresh.state_dict()}, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_ranks_stay_identical_and_match_single_process(tmp_path):
    ref = CompositionalVQ(dim=16, codebook_size=8, sub_dim=4, reinit=False).train()
    ref(torch.randn(64, 16))
    start = copy.deepcopy(ref.state_dict())
    batches = [torch.randn(24, 16) for _ in range(3)]
    halves = [[b[:12] for b in batches], [b[12:] for b in batches]]
    mp.spawn(_ddp_worker, args=(2, _free_port(), start, halves, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for part in ("ema", "fresh"):
        for key in r0[part]:
            assert torch.equal(r0[part][key], r1[part][key]), (part, key)
    for batch in batches:  # one process seeing both halves: the same EMA state
        ref(batch)
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(r0["ema"][key], value, atol=1e-6, rtol=1e-5)
