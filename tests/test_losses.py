"""Every loss of App. A.1 against a direct numpy/loop computation of its equation, plus the
Table 1 weight presets of App. B.2."""
from __future__ import annotations

import math
from statistics import median

import numpy as np
import pytest
import torch

from codebind_core import losses as L
from codebind_core.quantize import CompositionalVQ


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().astype(np.float64)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max()
    return x - math.log(np.exp(x).sum())


# ---- Eq. 1 InfoNCE ------------------------------------------------------------------------------
def _info_nce_loops(a: np.ndarray, b: np.ndarray, eta: float) -> float:
    a, b = _unit(a), _unit(b)
    n = len(a)
    total = 0.0
    for x, y in ((a, b), (b, a)):  # L(A->T) + L(T->A)
        for i in range(n):
            den = sum(math.exp(x[i] @ y[j] / eta) for j in range(n))
            total += -math.log(math.exp(x[i] @ y[i] / eta) / den) / n
    return total


def test_info_nce_matches_eq1():
    a, b = torch.randn(6, 5), torch.randn(6, 5)
    got = L.info_nce(a, b, 0.3)
    assert got.item() == pytest.approx(_info_nce_loops(_np(a), _np(b), 0.3), rel=1e-5)


def test_info_nce_known_values():
    eye = torch.eye(4)
    assert L.info_nce(eye, eye, 0.01).item() < 1e-6                       # identical pairs, tiny η
    assert L.info_nce(torch.randn(1, 8), torch.randn(1, 8), 0.07).item() == 0.0  # no negative
    a, b = torch.eye(6)[:3], torch.eye(6)[3:]                             # a_i ⊥ b_j: all logits 0
    assert L.info_nce(a, b, 0.05).item() == pytest.approx(2 * math.log(3), rel=1e-6)
    scaled = L.info_nce(3.0 * eye, eye, 0.5)                              # inputs are normalised
    assert scaled.item() == pytest.approx(L.info_nce(eye, eye, 0.5).item(), rel=1e-6)


def test_info_nce_tensor_temperature_gets_gradient():
    eta = torch.tensor(0.2, requires_grad=True)
    a, b = torch.randn(4, 3), torch.randn(4, 3)
    loss = L.info_nce(a, b, eta)
    loss.backward()
    assert loss.item() == pytest.approx(_info_nce_loops(_np(a), _np(b), 0.2), rel=1e-5)
    assert eta.grad is not None and torch.isfinite(eta.grad)


def test_info_nce_bad_input():
    with pytest.raises(ValueError, match="temperature"):
        L.info_nce(torch.randn(2, 3), torch.randn(2, 3), 0.0)
    with pytest.raises(ValueError, match="same shape"):
        L.info_nce(torch.randn(2, 3), torch.randn(3, 3), 0.1)
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        L.info_nce(torch.randn(2, 3, 4), torch.randn(2, 3, 4), 0.1)


# ---- Eq. 2 reconstruction -----------------------------------------------------------------------
def test_reconstruction_loss_matches_eq2():
    x, y = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    assert L.reconstruction_loss(x, y).item() == pytest.approx(np.mean((_np(x) - _np(y)) ** 2), rel=1e-6)
    assert L.reconstruction_loss(x, x).item() == 0.0
    mask = torch.tensor([[1, 0, 1], [0, 0, 1]], dtype=torch.bool)        # (B, L) patch mask
    sel = [((_np(x)[i, j] - _np(y)[i, j]) ** 2) for i in range(2) for j in range(3) if mask[i, j]]
    got = L.reconstruction_loss(x, y, mask)
    assert got.item() == pytest.approx(np.mean(np.concatenate(sel)), rel=1e-6)
    full = mask[..., None].expand(2, 3, 4).float()                       # full-shape weights
    assert L.reconstruction_loss(x, y, full).item() == pytest.approx(got.item(), rel=1e-6)


def test_reconstruction_loss_bad_input():
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match="same shape"):
        L.reconstruction_loss(x, torch.randn(3, 2))
    with pytest.raises(ValueError, match="no element"):
        L.reconstruction_loss(x, x, torch.zeros(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="leading shape"):
        L.reconstruction_loss(x, x, torch.ones(3))


# ---- Eq. 3 orthogonal ---------------------------------------------------------------------------
def test_orthogonal_loss_matches_eq3():
    s, p = torch.randn(5, 6), torch.randn(5, 6) * 4
    su, pu = _unit(_np(s)), _unit(_np(p))
    expected = sum((su[i] @ pu[i]) ** 2 for i in range(5)) / 5
    assert L.orthogonal_loss(s, p).item() == pytest.approx(expected, rel=1e-5)


def test_orthogonal_loss_known_values():
    v = torch.randn(3, 4)
    assert L.orthogonal_loss(v, v).item() == pytest.approx(1.0, rel=1e-6)     # identical
    assert L.orthogonal_loss(v, -2 * v).item() == pytest.approx(1.0, rel=1e-6)
    eye = torch.eye(4)
    assert L.orthogonal_loss(eye[:2], eye[2:]).item() == 0.0                 # orthogonal
    one = L.orthogonal_loss(torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 0.0]]))
    assert one.item() == pytest.approx(0.5, rel=1e-6)                         # batch of 1: cos² 45°


def test_orthogonal_loss_unequal_dims_pads_the_shorter():
    s, p = torch.randn(4, 6), torch.randn(4, 3)
    su, pu = _unit(_np(s)), _unit(_np(p))
    expected = np.mean([(su[i, :3] @ pu[i]) ** 2 for i in range(4)])
    assert L.orthogonal_loss(s, p).item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="leading shape"):
        L.orthogonal_loss(torch.randn(4, 6), torch.randn(3, 6))


# ---- Eq. 4 / Eq. 8 uniformity -------------------------------------------------------------------
def _uniform_loops(x: np.ndarray, t: float, diagonal: bool = False) -> float:
    """Documented form: mean over i≠j. ``diagonal=True``: the printed Eq. 4, (1/N) Σ_{i,j}."""
    x = _unit(x)
    n = len(x)
    terms = [math.exp(-t * np.sum((x[i] - x[j]) ** 2)) for i in range(n) for j in range(n)
             if diagonal or i != j]
    return math.log(sum(terms) / (n if diagonal else n * (n - 1)))


@pytest.mark.parametrize("t", [1.0, 2.0])
def test_uniform_loss_matches_eq4(t):
    x = torch.randn(7, 5)
    got = L.uniform_loss(x, t)
    assert got.item() == pytest.approx(_uniform_loops(_np(x), t), rel=1e-5)
    printed = _uniform_loops(_np(x), t, diagonal=True)                    # documented relation
    assert printed == pytest.approx(math.log(1 + 6 * math.exp(got.item())), rel=1e-5)


def test_uniform_loss_known_values():
    same = torch.ones(5, 3)
    assert L.uniform_loss(same).item() == pytest.approx(0.0, abs=1e-6)        # identical -> 0
    anti = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    assert L.uniform_loss(anti, t=2.0).item() == pytest.approx(-8.0, rel=1e-6)  # -4t
    eye = torch.eye(4)                                                       # orthogonal: d² = 2
    assert L.uniform_loss(eye).item() == pytest.approx(-2.0, rel=1e-6)
    single = torch.randn(1, 4, requires_grad=True)                           # batch of 1
    loss = L.uniform_loss(single)
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(single.grad, torch.zeros(1, 4))
    identical = torch.ones(3, 4, requires_grad=True)                         # finite gradient
    L.uniform_loss(identical).backward()
    assert torch.isfinite(identical.grad).all()


def test_codevector_uniform_loss_matches_eq8():
    book = torch.nn.functional.normalize(torch.randn(12, 8), dim=-1)
    assert L.codevector_uniform_loss(book).item() == pytest.approx(_uniform_loops(_np(book), 1.0), rel=1e-5)
    assert L.codevector_uniform_loss(torch.ones(4, 8)).item() == pytest.approx(0.0, abs=1e-6)
    assert L.codevector_uniform_loss(torch.eye(8), t=0.5).item() == pytest.approx(-1.0, rel=1e-6)


# ---- Eq. 5 commitment ---------------------------------------------------------------------------
def test_commitment_loss_matches_eq5_and_stops_gradient():
    z = torch.randn(3, 4, 2, requires_grad=True)
    zq = torch.randn(3, 4, 2, requires_grad=True)
    got = L.commitment_loss(z, zq, beta=0.25, printed=True)      # the printed Eq. 5
    d = _np(z) - _np(zq)
    expected = 0.25 * np.mean([np.sum(d[i, h] ** 2) for i in range(3) for h in range(4)])
    assert got.item() == pytest.approx(expected, rel=1e-6)
    got.backward()
    assert zq.grad is None
    torch.testing.assert_close(z.grad, 0.25 * 2 * (z - zq).detach() / 12)
    assert L.commitment_loss(z, z).item() == 0.0
    # official (default): β · mean over all 3·4·2 elements = printed / d*
    official = L.commitment_loss(z, zq)
    assert official.item() == pytest.approx(0.25 * np.mean(d ** 2), rel=1e-6)
    assert official.item() == pytest.approx(got.item() / 2, rel=1e-6)


def test_commitment_loss_equals_quantizer_commit_loss():
    vq = CompositionalVQ(dim=16, codebook_size=8, sub_dim=4).eval()
    out = vq(torch.randn(5, 16))
    q_sub = vq.decode(out.codes).view(5, 4, 4)
    assert L.commitment_loss(out.sub_vectors, q_sub, beta=1.0).item() == pytest.approx(out.commit_loss.item(), rel=1e-6)
    with pytest.raises(ValueError, match="beta"):
        L.commitment_loss(out.sub_vectors, q_sub, beta=-1.0)


# ---- Eq. 6 CMCM ---------------------------------------------------------------------------------
def _cmcm_loops(a: np.ndarray, t: np.ndarray, book: np.ndarray) -> float:
    n, m, _ = a.shape

    def log_p(z):  # log P(e_k | z) = log softmax_k(-||z - e_k||²)
        return _log_softmax(np.array([-np.sum((z - e) ** 2) for e in book]))

    def s_code(x, y):
        lx, ly = log_p(x), log_p(y)
        return float(np.sum(np.exp(lx) * ly) + np.sum(np.exp(ly) * lx))

    total = 0.0
    for i in range(n):
        for h in range(m):
            scores = np.array([s_code(a[i, h], t[j, h]) for j in range(n)])
            total += -_log_softmax(scores)[i]
    return total / (n * m)


def test_cmcm_loss_matches_eq6():
    book = torch.nn.functional.normalize(torch.randn(6, 3), dim=-1)
    a = torch.nn.functional.normalize(torch.randn(4, 2, 3), dim=-1)
    t = torch.nn.functional.normalize(torch.randn(4, 2, 3), dim=-1)
    got = L.cmcm_loss(a, t, book)
    assert got.item() == pytest.approx(_cmcm_loops(_np(a), _np(t), _np(book)), rel=1e-5)


def test_cmcm_loss_known_values_and_gradients():
    book = torch.eye(4) * 3.0                        # far-apart codevectors: peaked P(e_k|z)
    a = (torch.eye(4) * 3.0).unsqueeze(1).requires_grad_(True)        # (4, 1, 4): z_i = e_i
    loss = L.cmcm_loss(a, a.detach().clone(), book)   # identical pairs, distinct samples
    assert loss.item() < 1e-3
    loss.backward()
    assert torch.isfinite(a.grad).all()
    single = torch.randn(1, 3, 4)
    assert L.cmcm_loss(single, torch.randn(1, 3, 4), book).item() == 0.0  # batch of 1
    with pytest.raises(ValueError, match="codevector size"):
        L.cmcm_loss(torch.randn(2, 3, 5), torch.randn(2, 3, 5), book)
    with pytest.raises(ValueError, match="same shape"):
        L.cmcm_loss(torch.randn(2, 3, 4), torch.randn(3, 3, 4), book)


# ---- Eq. 7 codevector contrastive ---------------------------------------------------------------
def _ctr_loops(sub: np.ndarray, book: np.ndarray, n_pos: int, n_neg: int) -> float:
    ratios = []
    for z in sub.reshape(-1, sub.shape[-1]):
        d = sorted(float(np.linalg.norm(e - z)) for e in book)
        ratios.append((sum(d[:n_pos]) / n_pos) / sum(d[-n_neg:]))
    return float(np.mean(ratios))


def test_codevector_contrastive_loss_matches_eq7():
    book = torch.nn.functional.normalize(torch.randn(20, 8), dim=-1)
    sub = torch.nn.functional.normalize(torch.randn(3, 4, 8), dim=-1)
    got = L.codevector_contrastive_loss(sub, book)                   # 10% -> 2, 50% -> 10
    assert got.item() == pytest.approx(_ctr_loops(_np(sub), _np(book), 2, 10), rel=1e-5)
    got = L.codevector_contrastive_loss(sub, book, pos_frac=0.3, neg_frac=0.25)  # floor: 6, 5
    assert got.item() == pytest.approx(_ctr_loops(_np(sub), _np(book), 6, 5), rel=1e-5)


def test_codevector_contrastive_loss_edge_cases():
    book = torch.eye(10)
    on_code = book[:1].clone().requires_grad_(True)   # sub-vector equal to a codevector
    loss = L.codevector_contrastive_loss(on_code, book)  # pos = 0 (1 closest), neg = 5·√2
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    loss.backward()
    assert torch.isfinite(on_code.grad).all()
    few = L.codevector_contrastive_loss(torch.randn(2, 3), torch.randn(3, 3))  # |C_pos| >= 1
    assert torch.isfinite(few)
    with pytest.raises(ValueError, match="pos_frac"):
        L.codevector_contrastive_loss(torch.randn(2, 3), torch.randn(4, 3), pos_frac=0.0)


# ---- Table 1 weights ----------------------------------------------------------------------------
def test_presets_follow_table1_columns():
    # (vq, cctr/cuni, cm, orth, uni, recon) per column of App. B.2 Table 1
    table = {
        "image": (10, 0.01, 0.05, 0.1, 1.0, 1.0), "video": (10, 0.01, 0.05, 0.1, 1.0, 1.0),
        "depth": (1000, 0.01, 0.1, 0.1, 1.0, 1.0), "audio": (50, 0.01, 1.0, 0.1, 1.0, 1.0),
        "thermal": (1000, 0.05, 1.0, 1.0, 1.0, 1.0), "tactile": (1000, 0.01, 0.1, 0.05, 0.1, 1.0),
        "eeg": (10, 0.01, 0.1, 0.05, 0.1, 1.0),
    }
    for modality, (vq, ctr, cm, orth, uni, recon) in table.items():
        w = L.weights_for(modality)
        assert (w.vq, w.ctr, w.cuni, w.cm, w.orth, w.uni, w.recon, w.align) == (vq, ctr, ctr, cm, orth, uni, recon, 1.0)
    assert L.weights_for("pointcloud") == L.weights_for("depth")
    default = L.weights_for("default")
    for row, idx in (("vq", 0), ("ctr", 1), ("cm", 2), ("orth", 3), ("uni", 4)):
        assert getattr(default, row) == median(v[idx] for v in table.values())


def test_loss_weights_validation_and_total():
    with pytest.raises(ValueError, match="LossWeights.orth"):
        L.LossWeights(vq=1, ctr=1, cuni=1, cm=1, orth=-0.1, uni=1, recon=1)
    with pytest.raises(ValueError, match="no loss-weight preset"):
        L.weights_for("sonar")
    w = L.weights_for("audio")
    assert list(w.as_dict()) == list(L.LOSS_NAMES)
    losses = {"align": torch.tensor(2.0), "vq": torch.tensor(0.1), "cm": torch.tensor(3.0)}
    assert w.total(losses).item() == pytest.approx(2.0 + 50 * 0.1 + 1.0 * 3.0)
    with pytest.raises(ValueError, match="unknown"):
        w.total({"bogus": torch.tensor(1.0)})
