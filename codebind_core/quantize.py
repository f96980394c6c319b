"""Compositional vector quantization with an EMA codebook (paper §3.3, App. A.2).

A D-dim vector is cut into m = D / d* sub-vectors; every sub-vector is unit-normalised and snapped
to its nearest codevector of ONE codebook of K unit codevectors (shared by all m positions), so a
vector is represented by m codes out of K^m combinations (§3.3, Fig. 3c).

Codebook learning (App. A.2):

* k-means initialisation (spherical k-means: k-means++ or random seeding + Lloyd iterations).
* EMA update, Eq. 9: ``N_k <- γ N_k + (1-γ)|Z_k|``, ``f_k <- γ f_k + (1-γ) Σ_{z∈Z_k} z`` and
  ``e_k = f_k / N_k``. "All sub-vectors and codevectors are normalised to unit magnitude": the
  sub-vectors entering the sums are unit vectors, and the codevector used for quantisation is
  ``e_k / ||e_k||`` (:attr:`CompositionalVQ.codebook`); the raw Eq. 9 value ``f_k / N_k`` stays
  available as :attr:`CompositionalVQ.raw_codebook`. Both share one direction, so normalising
  never fights the EMA. ``N_k`` is clamped at ``eps`` in the division (no Laplace smoothing).
* Dead-code reinitialisation, Eq. 10 (CVQ, Zheng & Vedaldi 2023): see :meth:`_reinit`.
* Straight-through estimator: ``quantized = z + sg[q - z]``, so d quantized / d z = identity.

Under DDP (``torch.distributed`` initialised) cluster counts and sums are all-reduced, and the
k-means initialisation and reinit anchors are broadcast from rank 0, so every rank keeps the same
codebook.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

# Rows of the (rows, K) similarity matrix computed at once: bounds memory to ~rows*K floats.
_SIM_BUDGET = 1 << 24
# k-means sees at most this many sub-vectors per codevector (subsampled beyond; faiss's rule).
_KMEANS_POINTS_PER_CODE = 256
# A code's EMA sum below this norm has no direction left (underflow): its codevector is kept.
_TINY = 1e-12


@dataclass
class VQOutput:
    """Result of :meth:`CompositionalVQ.forward` for an input ``z`` of shape (..., D)."""

    quantized: Tensor    # (..., D) straight-through: value = codevectors, gradient = identity to z
    codes: Tensor        # (..., m) int64 codevector indices
    sub_vectors: Tensor  # (..., m, d*) unit-normalised input sub-vectors (carry gradients)
    commit_loss: Tensor  # scalar, Eq. 5 without β: mean over sub-vectors of ||z_sub - sg[q_sub]||²


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


@torch.no_grad()
def _nearest(sub: Tensor, book: Tensor) -> Tensor:
    """Index of the most similar codevector (max inner product) for each row of ``sub`` (n, d*).

    For unit codevectors argmax <z, e_k> equals argmax cosine and argmin ||z/|z| - e_k||, so the
    rows need no normalisation. One matmul + argmax per chunk of rows, into one reused buffer."""
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
    """k distinct data points (with replacement when there are fewer than k)."""
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


def spherical_kmeans(points: Tensor, k: int, iters: int = 10, method: str = "kmeans++",
                     generator: Optional[torch.Generator] = None) -> Tensor:
    """Spherical k-means of unit vectors ``points`` (n, d): seeding by ``method`` (a key of
    :data:`SEEDERS`) then Lloyd iterations with cosine assignment and re-normalised means.
    Returns (k, d) unit centres; a centre whose cluster empties keeps its previous position.
    With fewer distinct points than k, duplicated seeds get a small jitter so they differ."""
    if method not in SEEDERS:
        raise ValueError(f"unknown k-means seeding {method!r}; choose one of {sorted(SEEDERS)}")
    centres = SEEDERS[method](points, k, generator)
    if points.shape[0] < k:
        noise = torch.randn(centres.shape, generator=generator, device="cpu").to(centres)
        centres = centres + 1e-2 * noise
    centres = F.normalize(centres, dim=-1)
    assign = None
    for _ in range(iters):
        new_assign = _nearest(points, centres)
        if assign is not None and torch.equal(new_assign, assign):
            break
        assign = new_assign
        sums = torch.zeros_like(centres).index_add_(0, assign, points)
        filled = torch.bincount(assign, minlength=k) > 0
        centres = torch.where(filled[:, None], F.normalize(sums, dim=-1), centres)
    return centres


class CompositionalVQ(nn.Module):
    """One codebook of K codevectors of dim d*, shared by all m = D/d* sub-vector positions.

    Args:
        dim: D, the size of the vectors to quantize (a multiple of ``sub_dim``).
        codebook_size: K.
        sub_dim: d*, the codevector size (paper default 8, App. C.3).
        decay: γ of the EMA update (Eq. 9) and of the running code usage.
        eps: lower clamp of N_k in e_k = f_k / N_k.
        reinit: run the dead-code reinitialisation (Eq. 10) at every training step.
        reinit_threshold: a code is "low-usage" when its running usage p_k is below
            ``reinit_threshold / K`` (i.e. below that fraction of the uniform usage 1/K); only
            those codes are reinitialised.
        kmeans_iters: Lloyd iterations of the k-means initialisation.
        kmeans_method: seeding of the k-means initialisation, a key of :data:`SEEDERS`.

    Buffers (all saved in the state dict except the usage counts): ``embed`` (K, d*) unit
    codebook, ``ema_count`` N_k, ``ema_sum`` f_k, ``usage_ema`` p_k (CVQ's running average code
    usage), ``_initialized``. ``code_counts`` (not persistent) counts codes seen by
    :meth:`forward` / :meth:`record_usage` since :meth:`reset_usage_stats`.
    """

    def __init__(self, dim: int, codebook_size: int = 1024, sub_dim: int = 8, decay: float = 0.99,
                 eps: float = 1e-5, reinit: bool = True, reinit_threshold: float = 1e-3,
                 kmeans_iters: int = 10, kmeans_method: str = "kmeans++"):
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
        if not 0.0 <= reinit_threshold <= 1.0:
            raise ValueError(f"reinit_threshold must be in [0, 1], got {reinit_threshold}")
        if isinstance(kmeans_iters, bool) or not isinstance(kmeans_iters, int) or kmeans_iters < 0:
            raise ValueError(f"kmeans_iters must be an int >= 0, got {kmeans_iters!r}")
        if kmeans_method not in SEEDERS:
            raise ValueError(f"unknown kmeans_method {kmeans_method!r}; choose one of {sorted(SEEDERS)}")
        self.dim, self.codebook_size, self.sub_dim = dim, codebook_size, sub_dim
        self.num_sub = dim // sub_dim
        self.decay, self.eps, self.reinit = float(decay), float(eps), bool(reinit)
        self.reinit_threshold = float(reinit_threshold)
        self.kmeans_iters, self.kmeans_method = kmeans_iters, kmeans_method
        embed = F.normalize(torch.randn(codebook_size, sub_dim), dim=-1)
        self.register_buffer("embed", embed)
        self.register_buffer("ema_count", torch.zeros(codebook_size))       # N_k, N_k^0 = 0
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
        """(K, d*) unit-normalised codevectors (EMA-updated buffer, no gradient)."""
        return self.embed

    @property
    def raw_codebook(self) -> Tensor:
        """(K, d*) Eq. 9's e_k = f_k / max(N_k, eps), before unit normalisation."""
        return self.ema_sum / self.ema_count.clamp_min(self.eps)[:, None]

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
        if not bool(torch.isfinite(z).all()):
            raise ValueError("input contains NaN or inf")
        return z.unflatten(-1, (self.num_sub, self.sub_dim))

    def _sub_vectors_of(self, z: Tensor) -> Tensor:
        """(N, D), (N, m, d*) or (..., d*) -> (n, d*) unit sub-vectors."""
        if not isinstance(z, Tensor) or not z.is_floating_point():
            raise ValueError("kmeans_init expects a floating-point tensor")
        if z.ndim >= 1 and z.shape[-1] == self.dim:
            sub = self._split(z)
        elif z.ndim >= 2 and z.shape[-1] == self.sub_dim:
            if not bool(torch.isfinite(z).all()):
                raise ValueError("input contains NaN or inf")
            sub = z
        else:
            raise ValueError(f"kmeans_init expects (N, {self.dim}) vectors or (N, {self.num_sub}, "
                             f"{self.sub_dim}) sub-vectors, got {tuple(z.shape)}")
        sub = sub.reshape(-1, self.sub_dim)
        if sub.shape[0] == 0:
            raise ValueError("kmeans_init needs at least one vector")
        return F.normalize(sub.detach().float(), dim=-1)

    # ---- quantisation ---------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, z: Tensor) -> Tensor:
        """(..., D) -> (..., m) int64 codes: nearest codevector by cosine of each sub-vector.

        An all-zero sub-vector (no direction) maps to code 0."""
        sub = self._split(z)
        return _nearest(sub.reshape(-1, self.sub_dim), self.embed).view(sub.shape[:-1])

    def decode(self, codes: Tensor) -> Tensor:
        """(..., m) integer codes -> (..., D) concatenated unit codevectors."""
        if not isinstance(codes, Tensor) or codes.dtype.is_floating_point or codes.dtype == torch.bool:
            raise ValueError("codes must be an integer tensor")
        if codes.ndim < 1 or codes.shape[-1] != self.num_sub:
            raise ValueError(f"expected codes of shape (..., {self.num_sub}), got {tuple(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(f"codes must lie in [0, {self.codebook_size})")
        return F.embedding(codes.long(), self.embed).flatten(-2)

    def forward(self, z: Tensor) -> VQOutput:
        """Quantize ``z`` (..., D). In training mode also runs the k-means initialisation on the
        first batch (if not initialised), then the EMA update (Eq. 9) and the low-usage reinit
        (Eq. 10). The returned codevectors are those of the codebook before this step's update."""
        sub = F.normalize(self._split(z), dim=-1)
        flat = sub.detach().reshape(-1, self.sub_dim)
        if self.training:
            if flat.shape[0] == 0:
                raise ValueError("cannot run a training step on an empty batch")
            if not self.initialized:
                self.kmeans_init(flat)
        with torch.no_grad():
            codes_flat = _nearest(flat, self.embed)
            q_sub = F.embedding(codes_flat, self.embed).view(sub.shape).to(z.dtype)
        codes = codes_flat.view(sub.shape[:-1])
        if flat.shape[0]:
            commit = ((sub - q_sub) ** 2).sum(-1).mean()
        else:
            commit = sub.sum() * 0.0
        quantized = z + (q_sub.flatten(-2) - z).detach()
        if self.training:
            self._update(flat.float(), codes_flat)
        self.record_usage(codes_flat)
        return VQOutput(quantized=quantized, codes=codes, sub_vectors=sub, commit_loss=commit)

    # ---- codebook learning ----------------------------------------------------------------
    @torch.no_grad()
    def kmeans_init(self, z: Tensor, method: Optional[str] = None,
                    generator: Optional[torch.Generator] = None) -> None:
        """Initialise the codebook by spherical k-means (App. A.2) of the sub-vectors of ``z``:
        (N, D) vectors or (N, m, d*) sub-vectors. ``method`` is a key of :data:`SEEDERS`
        (default: the constructor's ``kmeans_method``). At most 256·K sub-vectors are used
        (random subsample beyond). Sets the codebook, f_k^0 = the unit k-means centre and
        N_k^0 = 0 (Eq. 9's initial state), and clears the running usage."""
        points = self._sub_vectors_of(z).to(self.embed.device)
        cap = _KMEANS_POINTS_PER_CODE * self.codebook_size
        if points.shape[0] > cap:
            keep = torch.randperm(points.shape[0], generator=generator, device="cpu")[:cap]
            points = points[keep.to(points.device)]
        centres = spherical_kmeans(points, self.codebook_size, self.kmeans_iters,
                                   method or self.kmeans_method, generator)
        if _distributed():
            dist.broadcast(centres, src=0)
        self.embed.copy_(centres)
        self.ema_sum.copy_(centres)
        self.ema_count.zero_()
        self.usage_ema.zero_()
        self._initialized.fill_(True)

    @torch.no_grad()
    def _update(self, flat: Tensor, codes: Tensor) -> None:
        """One training step of Eq. 9 (EMA), the running usage and Eq. 10 (reinit)."""
        k, g = self.codebook_size, self.decay
        counts = torch.bincount(codes, minlength=k).to(self.ema_count.dtype)
        sums = torch.zeros_like(self.ema_sum).index_add_(0, codes, flat.to(self.ema_sum.dtype))
        if _distributed():
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        total = counts.sum()
        self.ema_count.mul_(g).add_(counts, alpha=1.0 - g)
        self.ema_sum.mul_(g).add_(sums, alpha=1.0 - g)
        self._refresh_codebook()
        self.usage_ema.mul_(g).add_(counts / total, alpha=1.0 - g)
        if self.reinit:
            self._reinit(flat)

    def _refresh_codebook(self) -> None:
        """codebook = e_k / ||e_k|| with e_k = f_k / N_k (Eq. 9); codes whose f_k has no direction
        left (underflow, or just reinitialised with N_k = 0) keep their codevector."""
        raw = self.raw_codebook
        norm = raw.norm(dim=-1, keepdim=True)
        self.embed.copy_(torch.where(norm > _TINY, raw / norm.clamp_min(_TINY), self.embed))

    def _reinit(self, flat: Tensor) -> None:
        """Eq. 10 (CVQ): e_k <- (1 - α_k) e_k + α_k ẑ_k for low-usage codes only.

        α_k = exp(-p_k · K · 10 / (1 - γ) - 1e-3) is CVQ's decay from the running usage p_k (EMA
        of the fraction of sub-vectors assigned to code k per step); a code is low-usage when
        p_k · K < ``reinit_threshold``; every other code is left exactly as it is. Anchors ẑ_k
        are sub-vectors drawn uniformly from the batch. The result is re-normalised to unit length
        and f_k is reset to e_k · N_k so that Eq. 9 continues from the new codevector."""
        k, g = self.codebook_size, self.decay
        low = self.usage_ema * k < self.reinit_threshold
        alpha = torch.exp(-self.usage_ema * (k * 10.0 / (1.0 - g)) - 1e-3) * low
        anchors = flat[torch.randint(flat.shape[0], (k,), device=flat.device)]
        if _distributed():
            dist.broadcast(anchors, src=0)
        mixed = self.embed * (1.0 - alpha[:, None]) + anchors * alpha[:, None]
        norm = mixed.norm(dim=-1, keepdim=True)
        mixed = torch.where(norm > 1e-6, mixed / norm.clamp_min(1e-6), self.embed)
        new = torch.where(low[:, None], mixed, self.embed)
        self.embed.copy_(new)
        self.ema_sum.copy_(torch.where(low[:, None], new * self.ema_count[:, None], self.ema_sum))

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
