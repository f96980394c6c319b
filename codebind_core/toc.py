"""Training-free Optimization of the Codebook (TOC), fcid-toc paper §4.1.

Given a codebook e (H, D) of L2-normalised codewords, TOC scores every feature dimension k by

    S_k = 1/H^2 * sum_{i != j} e_k^i e_k^j        code similarity, Eq. 7 (lower is better)
    V_k = 1/H   * sum_i (e_k^i - mean_k)^2        code variance,   Eq. 8 (higher is better)
    U_k = lambda * V_k - (1 - lambda) * S_k        combined,        Eq. 9

and keeps the Q dimensions with the largest U_k (lambda = 0.3 in the paper, App. A). Embeddings
are then compared on the kept dimensions only.

For a compositional codebook (K, d*) the D-dim "codewords" are compositions of sub-codevectors;
:func:`effective_codebook` collects the distinct quantized embeddings a model actually produces,
which plays the role of the paper's pretrained codebook (each one a semantic cluster centre).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

PAPER_LAMBDA = 0.3


def _check_codebook(codebook: torch.Tensor) -> torch.Tensor:
    e = torch.as_tensor(codebook)
    if e.dim() != 2 or e.shape[0] < 2 or e.shape[1] < 1:
        raise ValueError(f"codebook must be (H >= 2, D >= 1), got shape {tuple(e.shape)}")
    if not torch.isfinite(e).all():
        raise ValueError("codebook contains NaN or inf")
    return F.normalize(e.double(), dim=-1)


def code_similarity(codebook: torch.Tensor) -> torch.Tensor:
    """S_k of Eq. 7 for every dimension k: (D,). Uses sum_{i!=j} a_i a_j = (sum a)^2 - sum a^2."""
    e = _check_codebook(codebook)
    h = e.shape[0]
    return (e.sum(0) ** 2 - (e ** 2).sum(0)) / h ** 2


def code_variance(codebook: torch.Tensor) -> torch.Tensor:
    """V_k of Eq. 8 for every dimension k: (D,)."""
    e = _check_codebook(codebook)
    return e.var(dim=0, unbiased=False)


def toc_scores(codebook: torch.Tensor, lam: float = PAPER_LAMBDA) -> torch.Tensor:
    """U_k = lambda V_k - (1 - lambda) S_k (Eq. 9): (D,), larger = more useful."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must lie in [0, 1], got {lam}")
    return lam * code_variance(codebook) - (1.0 - lam) * code_similarity(codebook)


def select_dimensions(codebook: torch.Tensor, keep: int, lam: float = PAPER_LAMBDA) -> torch.Tensor:
    """Indices (sorted ascending) of the `keep` dimensions with the largest U_k."""
    u = toc_scores(codebook, lam)
    if not 1 <= keep <= u.numel():
        raise ValueError(f"keep must lie in [1, {u.numel()}], got {keep}")
    return torch.sort(torch.topk(u, keep).indices).values


def random_dimensions(dim: int, keep: int, generator: torch.Generator) -> torch.Tensor:
    """A uniformly random choice of `keep` of `dim` dimensions (the baseline TOC is compared to)."""
    if not 1 <= keep <= dim:
        raise ValueError(f"keep must lie in [1, {dim}], got {keep}")
    return torch.sort(torch.randperm(dim, generator=generator)[:keep]).values


def keep_dimensions(x: torch.Tensor, dims: torch.Tensor) -> torch.Tensor:
    """x restricted to `dims` and re-normalised, so cosine scores use the kept dimensions only."""
    return F.normalize(x[..., dims], dim=-1)


def effective_codebook(quantized: torch.Tensor, decimals: int = 5) -> torch.Tensor:
    """Distinct rows of a batch of quantized embeddings (N, D): the codewords actually in use."""
    q = torch.as_tensor(quantized).float()
    if q.dim() != 2 or q.shape[0] < 2:
        raise ValueError(f"quantized must be (N >= 2, D), got shape {tuple(q.shape)}")
    uniq = torch.unique(torch.round(q, decimals=decimals), dim=0)
    if uniq.shape[0] < 2:
        raise ValueError("fewer than 2 distinct codewords: TOC statistics are undefined")
    return uniq


@dataclass(frozen=True)
class TOCSelection:
    """The outcome of TOC for one kept fraction: which dimensions, and their scores."""

    dims: torch.Tensor
    scores: torch.Tensor

    @property
    def keep(self) -> int:
        return int(self.dims.numel())


def toc(codebook: torch.Tensor, fraction: float, lam: float = PAPER_LAMBDA) -> TOCSelection:
    """Keep round(fraction * D) dimensions (at least 1) of the codebook by TOC."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    d = torch.as_tensor(codebook).shape[-1]
    keep = max(1, int(round(fraction * d)))
    return TOCSelection(select_dimensions(codebook, keep, lam), toc_scores(codebook, lam))
