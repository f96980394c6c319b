"""Compositional vector quantization with an EMA codebook (paper §3.3, App. A.2).

A D-dim vector is cut into m = D / d* sub-vectors; every sub-vector is unit-normalised and snapped
to the codevector of ONE codebook of K codevectors (shared by all m positions) with the highest
cosine, so a vector is represented by m codes out of K^m combinations (§3.3, Fig. 3c).

This module computes what the official CodeBind code computes (the code behind the paper's
tables; ``shared/codebind-official-numerics.md`` §6-9), which departs from the printed equations:

* Assignment by cosine against the unit-normalised codebook ``ê_k`` (:attr:`unit_codebook`), but
  the quantized output is the **raw** EMA codevector ``e_k`` (:attr:`codebook`, norm <= 1; a code
  never hit is a zero vector). Callers normalise once over the concatenation.
* Straight-through through the sub-vector normalisation: ``q = z̄ + sg(e - z̄)`` with
  ``z̄ = z / ||z||`` per sub-vector, so d q / d z is the normalisation's Jacobian.
* k-means initialisation (§8): at the first training call, from the [CLS] sub-vectors of that
  batch only, random seeding (with replacement when there are fewer points than K), 10
  spherical Lloyd iterations; ``N_k^0`` = the last assignment's counts, ``f_k^0 = e_k N_k^0``.
* EMA update, Eq. 9 (§7): ``N <- γN + (1-γ)n``, ``f <- γf + (1-γ)S`` and ``e_k = f_k / Ñ_k`` with
  Laplace smoothing ``Ñ_k = (N_k + ε) / (Σ N + Kε) · Σ N``; no renormalisation.
* Low-usage reinit, Eq. 10 / CVQ (§9): every call, for all codes,
  ``e_k <- (1 - α_k) e_k + α_k a_k`` with ``α_k = exp(-10 K p_k / (1 - γ) - 1e-3)`` and anchors
  from this call's sub-vectors. Only ``e`` changes (not N, f): the next EMA step overwrites it.
* Commitment (Eq. 5, §5): the element mean of ``(sg(e_k) - z̄)²`` with the pre-update codevector
  (β is applied by the caller).

Under DDP (``torch.distributed`` initialised) cluster counts and sums are all-reduced, and the
k-means initialisation and reinit anchors are broadcast from rank 0, so every rank keeps the same
codebook.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from .finite import all_finite

# Rows of the (rows, K) similarity matrix computed at once: bounds memory to ~rows*K floats.
_SIM_BUDGET = 1 << 24
# k-means sees at most this many sub-vectors per codevector (subsampled beyond; faiss's rule).
_KMEANS_POINTS_PER_CODE = 256


@dataclass
class VQOutput:
    """Result of :meth:`CompositionalVQ.forward` for an input ``z`` of shape (..., D)."""

    quantized: Tensor    # (..., D) concatenated raw codevectors (value); gradient through z̄ (ST)
    codes: Tensor        # (..., m) int64 codevector indices
    sub_vectors: Tensor  # (..., m, d*) unit-normalised input sub-vectors (carry gradients)
    commit_loss: Tensor  # scalar: element mean of (sg(e_k) - z̄)², Eq. 5 without β
    assign_book: Tensor  # (K, d*) unit codebook the codes were assigned with (before the update)


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _unit(x: Tensor) -> Tensor:
    return F.normalize(x, dim=-1)


@torch.no_grad()
def _nearest(sub: Tensor, book: Tensor) -> Tensor:
    """Index of the max inner product with a row of ``book`` for each row of ``sub`` (n, d*).

    With a unit ``book`` this is the highest cosine (the rows need no normalisation). One
    matmul + argmax per chunk of rows, into one reused buffer; ties take the lowest index."""
    n, k = sub.shape[0], book.shape[0]
    out = torch.empty(n, dtype=torch.long, device=sub.device)
    if n == 0:
        return out
    book_t = book.to(sub.dtype).T.contiguous()
    rows = max(1, min(n, _SIM_BUDGET // k))
    if rows == n:
        return torch.argmax(sub @ book_t, dim=1)
    sims = torch.empty(rows, k, dtype=sub.dtype, device=sub.device)
    for start in range(0, n, rows):
        chunk = sub[start:start + rows]
        block = sims[:chunk.shape[0]]
        torch.mm(chunk, book_t, out=block)
        out[start:start + chunk.shape[0]] = block.argmax(dim=1)
    return out


def _seed_random(points: Tensor, k: int, generator: Optional[torch.Generator]) -> Tensor:
    """k data points: distinct (randperm) when n >= k, else drawn with replacement (official)."""
    n = points.shape[0]
    if n >= k:
        idx = torch.randperm(n, generator=generator, device="cpu")[:k]
    else:
        idx = torch.randint(n, (k,), generator=generator, device="cpu")
    return points[idx.to(points.device)]


def _seed_kmeans_pp(points: Tensor, k: int, generator: Optional[torch.Generator]) -> Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007) with squared chord distance 2 - 2cos."""
    n = points.shape[0]
    first = int(torch.randint(n, (1,), generator=generator, device="cpu"))
    centres = [points[first]]
    min_d2 = (2.0 - 2.0 * points @ points[first]).clamp_min(0.0)
    for _ in range(1, k):
        weights = min_d2.double().cpu()
        if float(weights.sum()) <= 0.0:  # every point already is a centre: pick uniformly
            weights = torch.ones_like(weights)
        nxt = int(torch.multinomial(weights, 1, generator=generator))
        centres.append(points[nxt])
        min_d2 = torch.minimum(min_d2, (2.0 - 2.0 * points @ points[nxt]).clamp_min(0.0))
    return torch.stack(centres)


SEEDERS: Dict[str, Callable[[Tensor, int, Optional[torch.Generator]], Tensor]] = {
    "kmeans++": _seed_kmeans_pp,
    "random": _seed_random,
}


def spherical_kmeans(points: Tensor, k: int, iters: int = 10, method: str = "random",
                     generator: Optional[torch.Generator] = None):
    """Spherical k-means of unit vectors ``points`` (n, d): seeding by ``method`` (a key of
    :data:`SEEDERS`), then ``iters`` Lloyd iterations (assign by max cosine, centre =
    normalised member mean; an empty cluster keeps its centre). Returns ((k, d) unit centres,
    (k,) float counts of the last iteration's assignment). Duplicate seeds stay duplicates (official §8)."""
    if method not in SEEDERS:
        raise ValueError(f"unknown k-means seeding {method!r}; choose one of {sorted(SEEDERS)}")
    centres = _unit(SEEDERS[method](points, k, generator))
    counts = torch.zeros(k, dtype=centres.dtype, device=centres.device)
    for _ in range(iters):
        assign = _nearest(points, centres)
        counts = torch.bincount(assign, minlength=k).to(centres.dtype)
        sums = torch.zeros_like(centres).index_add_(0, assign, points)
        centres = torch.where(counts[:, None] > 0, _unit(sums), centres)
    return centres, counts


class CompositionalVQ(nn.Module):
    """One codebook of K codevectors of dim d*, shared by all m = D/d* sub-vector positions.

    Args:
        dim: D, the size of the vectors to quantize (a multiple of ``sub_dim``).
        codebook_size: K.
        sub_dim: d*, the codevector size (paper default 8, App. C.3).
        decay: γ of the EMA update (Eq. 9) and of the running code usage.
        eps: ε of the Laplace smoothing of N_k.
        reinit: run the low-usage reinitialisation (Eq. 10) at every training call.
        kmeans_iters: Lloyd iterations of the k-means initialisation.
        kmeans_method: seeding of the k-means initialisation, a key of :data:`SEEDERS`
            (``random``, as the official code).

    Buffers (saved in the state dict except the usage counts): ``embed`` (K, d*) raw codevectors
    e_k, ``ema_count`` N_k, ``ema_sum`` f_k, ``usage_ema`` p_k (CVQ's running code usage),
    ``_initialized``. ``code_counts`` (not persistent) counts codes seen by :meth:`forward` /
    :meth:`record_usage` since :meth:`reset_usage_stats`.
    """

    def __init__(self, dim: int, codebook_size: int = 1024, sub_dim: int = 8, decay: float = 0.99,
                 eps: float = 1e-5, reinit: bool = True, kmeans_iters: int = 10,
                 kmeans_method: str = "random"):
        super().__init__()
        for name, value in (("dim", dim), ("codebook_size", codebook_size), ("sub_dim", sub_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if dim % sub_dim:
            raise ValueError(f"dim {dim} is not a multiple of sub_dim {sub_dim}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        if not eps > 0.0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if isinstance(kmeans_iters, bool) or not isinstance(kmeans_iters, int) or kmeans_iters < 0:
            raise ValueError(f"kmeans_iters must be an int >= 0, got {kmeans_iters!r}")
        if kmeans_method not in SEEDERS:
            raise ValueError(f"unknown kmeans_method {kmeans_method!r}; choose one of {sorted(SEEDERS)}")
        self.dim, self.codebook_size, self.sub_dim = dim, codebook_size, sub_dim
        self.num_sub = dim // sub_dim
        self.decay, self.eps, self.reinit = float(decay), float(eps), bool(reinit)
        self.kmeans_iters, self.kmeans_method = kmeans_iters, kmeans_method
        embed = _unit(torch.randn(codebook_size, sub_dim))
        self.register_buffer("embed", embed)                                # e_k
        self.register_buffer("ema_count", torch.zeros(codebook_size))       # N_k
        self.register_buffer("ema_sum", embed.clone())                      # f_k
        self.register_buffer("usage_ema", torch.zeros(codebook_size))       # p_k
        self.register_buffer("_initialized", torch.tensor(False))
        self.register_buffer("code_counts", torch.zeros(codebook_size, dtype=torch.long), persistent=False)

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, codebook_size={self.codebook_size}, sub_dim={self.sub_dim}, "
                f"decay={self.decay}, reinit={self.reinit}")

    # ---- state ----------------------------------------------------------------------------
    @property
    def codebook(self) -> Tensor:
        """(K, d*) raw codevectors e_k: the values a quantized sub-vector takes (no gradient)."""
        return self.embed

    @property
    def unit_codebook(self) -> Tensor:
        """(K, d*) ê_k = e_k / ||e_k||: what codes are assigned with (a zero code stays zero)."""
        return _unit(self.embed)

    @property
    def initialized(self) -> bool:
        """Whether the codebook has been k-means initialised (or loaded)."""
        return bool(self._initialized)

    @initialized.setter
    def initialized(self, value: bool) -> None:
        self._initialized.fill_(bool(value))

    # ---- shape helpers --------------------------------------------------------------------
    def _split(self, z: Tensor) -> Tensor:
        """(..., D) -> (..., m, d*), validating shape and values."""
        if not isinstance(z, Tensor):
            raise ValueError(f"expected a torch.Tensor, got {type(z).__name__}")
        if z.ndim < 1 or z.shape[-1] != self.dim:
            raise ValueError(f"expected input of shape (..., {self.dim}), got {tuple(z.shape)}")
        if not z.is_floating_point():
            raise ValueError(f"expected a floating-point input, got {z.dtype}")
        if not all_finite(z):
            raise ValueError("input contains NaN or inf")
        return z.unflatten(-1, (self.num_sub, self.sub_dim))

    def _sub_vectors_of(self, z: Tensor) -> Tensor:
        """(N, D), (N, m, d*) or (..., d*) -> (n, d*) unit sub-vectors."""
        if not isinstance(z, Tensor) or not z.is_floating_point():
            raise ValueError("kmeans_init expects a floating-point tensor")
        if z.ndim >= 1 and z.shape[-1] == self.dim:
            sub = self._split(z)
        elif z.ndim >= 2 and z.shape[-1] == self.sub_dim:
            if not all_finite(z):
                raise ValueError("input contains NaN or inf")
            sub = z
        else:
            raise ValueError(f"kmeans_init expects (N, {self.dim}) vectors or (N, {self.num_sub}, "
                             f"{self.sub_dim}) sub-vectors, got {tuple(z.shape)}")
        sub = sub.reshape(-1, self.sub_dim)
        if sub.shape[0] == 0:
            raise ValueError("kmeans_init needs at least one vector")
        return _unit(sub.detach().float())

    # ---- quantisation ---------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, z: Tensor) -> Tensor:
        """(..., D) -> (..., m) int64 codes: the codevector of highest cosine per sub-vector.

        An all-zero sub-vector (no direction) maps to code 0."""
        sub = self._split(z)
        return _nearest(sub.reshape(-1, self.sub_dim), self.unit_codebook).view(sub.shape[:-1])

    def decode(self, codes: Tensor) -> Tensor:
        """(..., m) integer codes -> (..., D) concatenated raw codevectors (not normalised)."""
        if not isinstance(codes, Tensor) or codes.dtype.is_floating_point or codes.dtype == torch.bool:
            raise ValueError("codes must be an integer tensor")
        if codes.ndim < 1 or codes.shape[-1] != self.num_sub:
            raise ValueError(f"expected codes of shape (..., {self.num_sub}), got {tuple(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(f"codes must lie in [0, {self.codebook_size})")
        return F.embedding(codes.long(), self.embed).flatten(-2)

    def forward(self, z: Tensor, update: Optional[bool] = None, record: bool = True) -> VQOutput:
        """Quantize ``z`` (..., D); (B, T, D) token inputs have the [CLS] token at index 0.

        ``update`` (default: ``self.training``) runs, in the official order: k-means
        initialisation on the [CLS] sub-vectors if the codebook is not initialised, assignment
        with the current codebook, the EMA update (Eq. 9), the reinit (Eq. 10). The output and
        the commitment use the codevectors of before the update."""
        update = self.training if update is None else bool(update)
        sub = _unit(self._split(z))
        flat = sub.detach().reshape(-1, self.sub_dim)
        if update:
            if flat.shape[0] == 0:
                raise ValueError("cannot run a training step on an empty batch")
            if not self.initialized:
                cls = sub.detach()[:, 0] if sub.ndim >= 4 else sub.detach()
                self.kmeans_init(cls)
        with torch.no_grad():
            book = self.unit_codebook.clone()
            codes_flat = _nearest(flat, book)
            q_sub = F.embedding(codes_flat, self.embed).view(sub.shape).to(z.dtype)
        codes = codes_flat.view(sub.shape[:-1])
        commit = (q_sub - sub).pow(2).mean() if flat.shape[0] else sub.sum() * 0.0
        quantized = (sub + (q_sub - sub).detach()).flatten(-2)
        if update:
            self._update(flat.float(), codes_flat)
        if record:
            self.record_usage(codes_flat)
        return VQOutput(quantized=quantized, codes=codes, sub_vectors=sub, commit_loss=commit,
                        assign_book=book)

    # ---- codebook learning ----------------------------------------------------------------
    @torch.no_grad()
    def kmeans_init(self, z: Tensor, method: Optional[str] = None,
                    generator: Optional[torch.Generator] = None) -> None:
        """Initialise the codebook by spherical k-means (App. A.2, official §8) of the
        sub-vectors of ``z``: (N, D) vectors or (N, m, d*) sub-vectors. ``method`` is a key of
        :data:`SEEDERS` (default: the constructor's). At most 256·K sub-vectors are used (random
        subsample beyond). Sets e = the unit centres, N^0 = the k-means counts, f^0 = e·N^0, and
        clears the running usage."""
        points = self._sub_vectors_of(z).to(self.embed.device)
        cap = _KMEANS_POINTS_PER_CODE * self.codebook_size
        if points.shape[0] > cap:
            keep = torch.randperm(points.shape[0], generator=generator, device="cpu")[:cap]
            points = points[keep.to(points.device)]
        centres, counts = spherical_kmeans(points, self.codebook_size, self.kmeans_iters,
                                           method or self.kmeans_method, generator)
        if _distributed():
            dist.broadcast(centres, src=0)
            dist.broadcast(counts, src=0)
        self.embed.copy_(centres)
        self.ema_count.copy_(counts)
        self.ema_sum.copy_(centres * counts[:, None])
        self.usage_ema.zero_()
        self._initialized.fill_(True)

    @torch.no_grad()
    def _update(self, flat: Tensor, codes: Tensor) -> None:
        """One training call of Eq. 9 (EMA, Laplace-smoothed), the running usage and Eq. 10."""
        k, g = self.codebook_size, self.decay
        counts = torch.bincount(codes, minlength=k).to(self.ema_count.dtype)
        sums = torch.zeros_like(self.ema_sum).index_add_(0, codes, flat.to(self.ema_sum.dtype))
        if _distributed():
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        self.ema_count.mul_(g).add_(counts, alpha=1.0 - g)
        self.ema_sum.mul_(g).add_(sums, alpha=1.0 - g)
        total = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (total + k * self.eps) * total
        self.embed.copy_(self.ema_sum / smoothed[:, None])
        self.usage_ema.mul_(g).add_(counts / counts.sum(), alpha=1.0 - g)
        if self.reinit:
            self._reinit(flat)

    def _anchors(self, flat: Tensor) -> Tensor:
        """K reinit anchors from this call's unit sub-vectors: drawn with replacement when there
        are more than K, else all of them in order followed by U(-1, 1)/K noise (official §9)."""
        k, n = self.codebook_size, flat.shape[0]
        if n > k:
            return flat[torch.randint(n, (k,), device=flat.device)]
        noise = (torch.rand(k - n, self.sub_dim, device=flat.device, dtype=flat.dtype) * 2 - 1) / k
        return torch.cat([flat, noise])

    def _reinit(self, flat: Tensor) -> None:
        """Eq. 10 (CVQ): ``e_k <- (1 - α_k) e_k + α_k a_k`` for every code, with
        ``α_k = exp(-10 K p_k / (1 - γ) - 1e-3)`` (≈1 for a dead code, ≈0 at uniform usage).
        Transient, as in the official code: N and f are kept, so the next EMA step recomputes e
        and the reinit only changes the next call's assignments and outputs."""
        k, g = self.codebook_size, self.decay
        alpha = torch.exp(-self.usage_ema * (k * 10.0 / (1.0 - g)) - 1e-3)[:, None]
        anchors = self._anchors(flat).to(self.embed.dtype)
        if _distributed():
            dist.broadcast(anchors, src=0)
        self.embed.mul_(1.0 - alpha).add_(alpha * anchors)

    # ---- usage statistics (App. C.3, Table 8) ---------------------------------------------
    @torch.no_grad()
    def record_usage(self, codes: Tensor) -> None:
        """Add the codes of a batch to the usage counts (forward() calls this itself)."""
        if codes.numel():
            self.code_counts += torch.bincount(codes.reshape(-1), minlength=self.codebook_size)

    def usage(self) -> float:
        """Fraction of the K codes used at least once since :meth:`reset_usage_stats`
        (0.0 when nothing has been recorded)."""
        return float((self.code_counts > 0).sum()) / self.codebook_size

    def perplexity(self) -> float:
        """exp(entropy) of the code distribution recorded since :meth:`reset_usage_stats`
        (K for perfectly uniform usage, 1 for a single code; 0.0 when nothing recorded)."""
        total = int(self.code_counts.sum())
        if total == 0:
            return 0.0
        p = self.code_counts[self.code_counts > 0].double() / total
        return math.exp(float(-(p * p.log()).sum()))

    def reset_usage_stats(self) -> None:
        """Clear the usage counts behind :meth:`usage` and :meth:`perplexity`."""
        self.code_counts.zero_()


def shared_book(books: Mapping[str, CompositionalVQ], modality: str) -> CompositionalVQ:
    """The codebook quantizing `modality`'s shared part in one path's codebook set: the set's
    shared codebook, or the modality's own when ``quantizer.shared_codebook`` is off (the
    separate-codebook ablation, Tab. 7)."""
    if "shared" in books:
        return books["shared"]
    name = f"shared_{modality}"
    if name not in books:
        raise ValueError(f"this codebook set has no shared codebook for {modality!r} "
                         f"(separate shared codebooks: {sorted(k for k in books if k.startswith('shared'))})")
    return books[name]
