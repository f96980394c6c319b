"""Every loss of the paper's App. A.1, and the per-modality weights of App. B.2 Table 1.

All losses are pure functions returning a scalar tensor. Conventions fixed here:

* Embedding-level losses (Eq. 1, 3, 4) L2-normalise their inputs, so a quantized concatenation of
  m unit sub-vectors (norm √m) and its normalised version give the same loss.
* Codebook-level losses (Eq. 6, 7, 8) take sub-vectors and codevectors as given (the quantizer
  hands out unit sub-vectors and a unit codebook); Eq. 8 normalises like Eq. 4.
* Bad shapes or values raise ValueError naming the problem.

Where the official CodeBind code (which produced the paper's tables) computes differently from
the printed equations, both forms are here: ``*_official`` functions are what the default objective
uses (``loss.numerics: official``), the printed forms stay for ``loss.numerics: paper``
(``shared/codebind-official-numerics.md`` §1-5, §10-11 says what differs).

The weights (Table 1, official configs) live in :mod:`codebind_core.loss_weights` (re-exported
here); the adaptive balancing of §3.4 in :mod:`codebind_core.balancer`; the objectives that
combine these losses per numerics in :mod:`codebind_core.objectives`.
"""
from __future__ import annotations

import math
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor

# the weights of Table 1 and the official configs (re-exported: callers use losses.weights_for, ...)
from .loss_weights import (DEFAULT_TEMPERATURE, LOSS_NAMES, OFFICIAL_ROWS, OFFICIAL_TEMPERATURES,  # noqa: F401
                           OFFICIAL_WEIGHT_PRESETS, TABLE1_COLUMNS, TABLE1_ROWS, WEIGHT_PRESETS, LossWeights,
                           _non_negative, official_temperature, official_weights_for, weights_for)


# ---- validation helpers -------------------------------------------------------------------
def _tensor(x: object, name: str, min_ndim: int = 1) -> Tensor:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {x.dtype}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} needs at least {min_ndim} dims, got shape {tuple(x.shape)}")
    return x


def _same_shape(a: Tensor, b: Tensor, names: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def _positive(value: Union[float, Tensor], name: str) -> None:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got shape {tuple(value.shape)}")
        value = value.detach()
        ok = bool(torch.isfinite(value).all()) and float(value) > 0
    else:
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and value > 0
    if not ok:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _sq_dists(x: Tensor, y: Tensor) -> Tensor:
    """(n, d), (k, d) -> (n, k) squared Euclidean distances (clamped at 0 against rounding)."""
    return (x.pow(2).sum(-1, keepdim=True) + y.pow(2).sum(-1)[None, :] - 2.0 * x @ y.T).clamp_min(0.0)


def _log_mean_gaussian_potential(x: Tensor, t: float) -> Tensor:
    """log( 1/(N(N-1)) Σ_{i≠j} exp(-t ||x_i - x_j||²) ) on L2-normalised rows of x (N, D)."""
    n = x.shape[0]
    if n < 2:
        return x.sum() * 0.0  # no pair: zero, still attached to the graph
    x = F.normalize(x, dim=-1)
    sq = _sq_dists(x, x)
    off = ~torch.eye(n, dtype=torch.bool, device=x.device)
    return torch.logsumexp(-t * sq[off], dim=0) - math.log(n * (n - 1))


# ---- Eq. 1 --------------------------------------------------------------------------------
def info_nce(a: Tensor, b: Tensor, temperature: Union[float, Tensor]) -> Tensor:
    """Symmetric InfoNCE, App. A.1 Eq. 1: ``L_align = L(a->b) + L(b->a)`` with

    ``L(a->b) = -1/B Σ_i log( exp(a_i·b_i/η) / Σ_j exp(a_i·b_j/η) )``

    on L2-normalised (B, D) inputs; row i of ``a`` and ``b`` is a positive pair, every j ≠ i a
    negative. ``temperature`` η > 0 (float or scalar tensor, e.g. 1 / learnable logit scale).
    B = 1 gives 0 (no negatives)."""
    _tensor(a, "a", 2)
    _tensor(b, "b", 2)
    if a.ndim != 2:
        raise ValueError(f"info_nce expects (B, D) inputs, got {tuple(a.shape)}")
    _same_shape(a, b, "a and b")
    if a.shape[0] == 0:
        raise ValueError("info_nce needs a non-empty batch")
    _positive(temperature, "temperature")
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)


# ---- Eq. 2 --------------------------------------------------------------------------------
def reconstruction_loss(x: Tensor, x_hat: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """Reconstruction, App. A.1 Eq. 2: mean squared error ``||x - x̂||²`` over all elements.

    ``mask`` (optional, bool or float weights) has the leading shape of ``x`` (e.g. (B, L) for
    (B, L, P) patch targets) or its full shape; the loss is then the weighted mean over the
    selected elements: Σ mask·(x - x̂)² / Σ mask."""
    _tensor(x, "x")
    _tensor(x_hat, "x_hat")
    _same_shape(x, x_hat, "x and x_hat")
    if x.numel() == 0:
        raise ValueError("reconstruction_loss needs a non-empty target")
    err = (x - x_hat).pow(2)
    if mask is None:
        return err.mean()
    if not isinstance(mask, Tensor) or mask.ndim > x.ndim or tuple(mask.shape) != tuple(x.shape[:mask.ndim]):
        shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"mask must have a leading shape of x {tuple(x.shape)}, got {shape}")
    weight = mask.to(err.dtype).reshape(*mask.shape, *([1] * (x.ndim - mask.ndim))).expand_as(err)
    if bool((weight < 0).any()):
        raise ValueError("mask weights must be >= 0")
    denom = weight.sum()
    if float(denom) <= 0:
        raise ValueError("mask selects no element")
    return (err * weight).sum() / denom


# ---- Eq. 3 --------------------------------------------------------------------------------
def orthogonal_loss(shared: Tensor, specific: Tensor) -> Tensor:
    """Orthogonality, App. A.1 Eq. 3: ``1/N Σ_i <s_i, p_i>²`` on L2-normalised inputs (..., D).

    The paper uses equal shared/specific sizes. If they differ, both are normalised in their own
    space and the shorter one is zero-padded (it is embedded in the larger space by its leading
    coordinates), i.e. the inner product runs over the first min(D_s, D_p) coordinates."""
    _tensor(shared, "shared")
    _tensor(specific, "specific")
    if shared.shape[:-1] != specific.shape[:-1]:
        raise ValueError(f"shared and specific need the same leading shape, got "
                         f"{tuple(shared.shape)} and {tuple(specific.shape)}")
    if shared.numel() == 0 or specific.numel() == 0:
        raise ValueError("orthogonal_loss needs at least one pair")
    d = min(shared.shape[-1], specific.shape[-1])
    s = F.normalize(shared, dim=-1)[..., :d]
    p = F.normalize(specific, dim=-1)[..., :d]
    return (s * p).sum(-1).pow(2).mean()


def orthogonal_loss_official(shared: Tensor, specific: Tensor) -> Tensor:
    """Orthogonality as the official code computes it (Eq. 3, official §2):
    ``mean_b || Q^sh_b (Q^sp_b)ᵀ ||_F`` over (B, T, D) token matrices whose rows are
    L2-normalised here, i.e. ``sqrt(Σ_{n,m} <q^sh_{b,n}, q^sp_{b,m}>²)`` over all T×T token pairs
    (not squared; for T = 1 it is |<s, p>|). Different D_s, D_p use the leading min(D_s, D_p)
    coordinates, as :func:`orthogonal_loss`."""
    _tensor(shared, "shared", 3)
    _tensor(specific, "specific", 3)
    if shared.ndim != 3 or shared.shape[:2] != specific.shape[:2]:
        raise ValueError(f"orthogonal_loss_official expects (B, T, D) inputs with the same B, T, got "
                         f"{tuple(shared.shape)} and {tuple(specific.shape)}")
    if shared.shape[0] == 0 or shared.shape[1] == 0:
        raise ValueError("orthogonal_loss_official needs at least one token")
    d = min(shared.shape[-1], specific.shape[-1])
    s = F.normalize(shared, dim=-1)[..., :d]
    p = F.normalize(specific, dim=-1)[..., :d]
    gram = s @ p.transpose(1, 2)
    # sqrt of a sum of squares; the clamp keeps the gradient finite at an exact 0
    return gram.pow(2).sum((1, 2)).clamp_min(1e-24).sqrt().mean()


# ---- Eq. 4 --------------------------------------------------------------------------------
def uniform_loss(specific: Tensor, t: float = 1.0, printed: bool = False) -> Tensor:
    """Uniformity, App. A.1 Eq. 4, over the L2-normalised (N, D) specific [CLS] embeddings.

    Default (official §3, ``torch.pdist``): the mean over the distinct pairs,
    ``L_uni = log( 2/(N(N-1)) Σ_{i<j} exp(-t ||ẑ_i - ẑ_j||²) )``: 0 for identical embeddings,
    -4t for two antipodal ones. ``printed=True``: the printed form
    ``log( 1/N Σ_{i,j} exp(-t ||ẑ_i - ẑ_j||²) )`` (diagonal included) = log(1 + (N-1)·exp(L_uni)).
    N = 1 has no pair: 0 (the official code gives NaN there)."""
    _tensor(specific, "specific", 2)
    if specific.ndim != 2:
        raise ValueError(f"uniform_loss expects (N, D), got {tuple(specific.shape)}")
    _positive(t, "t")
    value = _log_mean_gaussian_potential(specific, float(t))
    n = specific.shape[0]
    if printed and n >= 2:
        return torch.log1p((n - 1) * value.exp())
    return value


# ---- Eq. 5 --------------------------------------------------------------------------------
COMMIT_BETA = 0.25  # the official VectorQuantizer's β (never overridden in its configs)


def commitment_loss(z: Tensor, z_q: Tensor, beta: float = COMMIT_BETA, printed: bool = False) -> Tensor:
    """Commitment, App. A.1 Eq. 5, for sub-vectors (..., d*); no gradient reaches ``z_q``.

    Default (official §5): ``β · mean over all elements of (z - sg[z_q])²``, i.e. β/d* times the
    mean per-sub-vector squared distance (with the quantizer's unit sub-vectors and codevectors
    this is ``β · VQOutput.commit_loss``). ``printed=True``: ``β ||z - sg[z_q]||²`` summed over
    d* and averaged over sub-vectors (d* times larger)."""
    _tensor(z, "z")
    _tensor(z_q, "z_q")
    _same_shape(z, z_q, "z and z_q")
    if z.numel() == 0:
        raise ValueError("commitment_loss needs a non-empty input")
    err = (z - z_q.detach()).pow(2)
    return _non_negative(beta, "beta") * (err.sum(-1).mean() if printed else err.mean())


# ---- Eq. 6 --------------------------------------------------------------------------------
def _check_subs(sub: Tensor, codebook: Tensor, name: str) -> None:
    _tensor(sub, name)
    _tensor(codebook, "codebook", 2)
    if codebook.ndim != 2 or codebook.shape[0] < 1:
        raise ValueError(f"codebook must be (K, d*), got {tuple(codebook.shape)}")
    if sub.shape[-1] != codebook.shape[1]:
        raise ValueError(f"{name} sub-vector size {sub.shape[-1]} != codevector size {codebook.shape[1]}")


def cmcm_loss(sub_a: Tensor, sub_t: Tensor, codebook: Tensor) -> Tensor:
    """Cross-modal code matching (CMCM, Liu et al. 2022), App. A.1 Eq. 6.

    ``sub_a``, ``sub_t``: (N, m, d*) sub-vectors of paired bridge/target embeddings; ``codebook``
    (K, d*). With ``P(e_k|z) = softmax_k(-||z - e_k||²)`` and

    ``S(a, t) = Σ_k P(e_k|a) log P(e_k|t) + Σ_k P(e_k|t) log P(e_k|a)``,

    ``L_cm = -1/(N·m) Σ_{i,h} log( exp S(a_ih, t_ih) / Σ_j exp S(a_ih, t_jh) )``:
    the sub-vectors at the same position h of the other samples j are the negatives. The printed
    normaliser 1/(N+m) is read as the mean over the N·m (i, h) terms. N = 1 gives 0."""
    _check_subs(sub_a, codebook, "sub_a")
    _check_subs(sub_t, codebook, "sub_t")
    if sub_a.ndim != 3:
        raise ValueError(f"cmcm_loss expects (N, m, d*) sub-vectors, got {tuple(sub_a.shape)}")
    _same_shape(sub_a, sub_t, "sub_a and sub_t")
    n, m, d = sub_a.shape
    if n == 0 or m == 0:
        raise ValueError("cmcm_loss needs a non-empty batch")
    book = codebook.to(sub_a.dtype)
    log_pa = F.log_softmax(-_sq_dists(sub_a.reshape(-1, d), book), dim=-1).view(n, m, -1)
    log_pt = F.log_softmax(-_sq_dists(sub_t.reshape(-1, d), book), dim=-1).view(n, m, -1)
    return _code_matching_ce(log_pa.exp(), log_pa, log_pt.exp(), log_pt)


def _code_matching_ce(pa: Tensor, log_pa: Tensor, pb: Tensor, log_pb: Tensor) -> Tensor:
    """CE of Eq. 6's symmetric cross-entropy scores: (N, m, K) code distributions of paired
    a and b, ``S[h,i,j] = Σ_k P^a_ihk log P^b_jhk + Σ_k log P^a_ihk P^b_jhk``, row i's positive j = i."""
    n, m, _ = pa.shape
    scores = torch.einsum("ihk,jhk->hij", pa, log_pb) + torch.einsum("ihk,jhk->hij", log_pa, pb)
    target = torch.arange(n, device=pa.device).repeat(m)
    return F.cross_entropy(scores.reshape(m * n, n), target)


def cmcm_loss_official(cos_a: Tensor, cos_b: Tensor) -> Tensor:
    """CMCM as the official code computes it (Eq. 6, official §10), from the cosines
    (N, m, K) of paired [CLS] sub-vectors to the unit codebook (no gradient: the official inputs
    are detached). ``P = softmax_k(cos)`` (temperature 1),
    ``S[h,i,j] = Σ_k P^a_ihk log(P^b_jhk + 1e-10) + Σ_k log(P^a_ihk + 1e-10) P^b_jhk`` and
    ``L = 1/(N·m) Σ_{h,i} -log softmax_j(S[h,i,:])_i`` (one direction: rows a, columns b)."""
    _tensor(cos_a, "cos_a", 3)
    _tensor(cos_b, "cos_b", 3)
    if cos_a.ndim != 3:
        raise ValueError(f"cmcm_loss_official expects (N, m, K) cosines, got {tuple(cos_a.shape)}")
    _same_shape(cos_a, cos_b, "cos_a and cos_b")
    if cos_a.shape[0] == 0 or cos_a.shape[1] == 0:
        raise ValueError("cmcm_loss_official needs a non-empty batch")
    with torch.no_grad():
        pa, pb = cos_a.float().softmax(-1), cos_b.float().softmax(-1)
        return _code_matching_ce(pa, (pa + 1e-10).log(), pb, (pb + 1e-10).log())


# ---- Eq. 7 --------------------------------------------------------------------------------
def _count(frac: float, k: int, name: str) -> int:
    if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0.0 < frac <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {frac!r}")
    return max(1, int(math.floor(frac * k + 1e-9)))


def codevector_contrastive_loss(sub: Tensor, codebook: Tensor, pos_frac: float = 0.1,
                                neg_frac: float = 0.5) -> Tensor:
    """Codevector contrastive loss, App. A.1 Eq. 7, averaged over all sub-vectors z (..., d*):

    ``L_ctr = mean_z [ (1/|C_pos|) Σ_{e∈C_pos} d(e, z) / Σ_{e∈C_neg} d(e, z) ]``

    with C_pos the ``pos_frac`` closest and C_neg the ``neg_frac`` furthest codevectors
    (|C| = max(1, floor(frac·K))) and d the Euclidean distance, computed as
    sqrt(max(||e - z||², 1e-12)) so the gradient stays finite when z sits on a codevector. The
    denominator is clamped at 1e-12 (all codevectors equal to z)."""
    _check_subs(sub, codebook, "sub")
    k = codebook.shape[0]
    n_pos, n_neg = _count(pos_frac, k, "pos_frac"), _count(neg_frac, k, "neg_frac")
    flat = sub.reshape(-1, sub.shape[-1])
    if flat.shape[0] == 0:
        raise ValueError("codevector_contrastive_loss needs at least one sub-vector")
    dist = _sq_dists(flat, codebook.to(flat.dtype)).clamp_min(1e-12).sqrt()
    pos = dist.topk(n_pos, dim=-1, largest=False).values.mean(-1)
    neg = dist.topk(n_neg, dim=-1, largest=True).values.sum(-1)
    return (pos / neg.clamp_min(1e-12)).mean()


def codevector_contrastive_official(sub: Tensor, unit_codebook: Tensor) -> Tensor:
    """Codevector contrastive loss as the official code computes it (Eq. 7, official §11), no
    gradient: with the cosines d (n, K) of every sub-vector (..., d*) to the unit codebook,
    ``ℓ = [mean of the ⌊K/10⌋ largest d, the ⌊K/2⌋ smallest d]``, ``π = softmax(ℓ)``
    (softmax(√ℓ) when every ℓ >= 0) and ``L = mean_r -log softmax(π_r)_0`` (CE over
    probabilities: the value stays near log(1 + K/2)). Rows are processed in chunks."""
    _check_subs(sub, unit_codebook, "sub")
    k = unit_codebook.shape[0]
    n_pos, n_neg = max(1, k // 10), max(1, k // 2)
    flat = sub.detach().reshape(-1, sub.shape[-1]).float()
    if flat.shape[0] == 0:
        raise ValueError("codevector_contrastive_official needs at least one sub-vector")
    book_t = unit_codebook.detach().float().T
    rows = max(1, (1 << 22) // k)
    with torch.no_grad():
        parts = []
        for start in range(0, flat.shape[0], rows):
            d = flat[start:start + rows] @ book_t
            pos = d.topk(n_pos, dim=-1).values.mean(-1, keepdim=True)
            parts.append(torch.cat([pos, d.topk(n_neg, dim=-1, largest=False).values], dim=-1))
        logits = torch.cat(parts)
        if bool((logits >= 0).all()):  # the official branch tests the whole batch
            logits = logits.sqrt()
        return -F.log_softmax(logits.softmax(-1), dim=-1)[:, 0].mean()


# ---- Eq. 8 --------------------------------------------------------------------------------
def codevector_uniform_loss(codebook: Tensor, t: float = 1.0) -> Tensor:
    """Codevector uniformity, App. A.1 Eq. 8, the Eq. 4 form applied to the codevectors:

    ``L_cuni = log( 1/(K(K-1)) Σ_{m≠n} exp(-t ||e_m - e_n||²) )`` on unit codevectors.

    Same reading of the normaliser as :func:`uniform_loss`. Note: an EMA codebook is a buffer,
    so this loss only sends gradient where the codebook is a trainable tensor."""
    _tensor(codebook, "codebook", 2)
    if codebook.ndim != 2:
        raise ValueError(f"codebook must be (K, d*), got {tuple(codebook.shape)}")
    _positive(t, "t")
    return _log_mean_gaussian_potential(codebook, float(t))
