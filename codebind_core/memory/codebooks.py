"""The model's shared codebooks as numpy arrays: decode codes, build query lookup tables.

Compositional VQ (paper §3.3, App. A.2): a D-dim shared embedding is cut into m = D / d*
sub-vectors, each replaced by a codevector of its codebook set's shared codebook (K, d*). A stored
observation is therefore fully described by its m codes, and the inner product of a query q with
the decoded vector x is sum_h <q_h, e_{codes[h]}> = sum_h LUT[h, codes[h]] (asymmetric distance,
as in product-quantization search).
"""
from __future__ import annotations

import hashlib
from typing import Dict, Iterable, Mapping, Optional

import numpy as np

from ..nearest import unit_rows
from .kernels import lookup_table

CODE_DTYPE = np.uint16
# how a model without codebooks gets the codes the memory stores (:mod:`codebind_core.posthoc_codebook`)
FIT_COMMAND = "codebind-codebook fit {model_dir} --data <training config YAML or SynthBind set folder>"
MAX_CODEBOOK_SIZE = int(np.iinfo(CODE_DTYPE).max) + 1


class CodebookMismatchError(ValueError):
    """A memory database was written with other codebooks than the ones given."""


class CodebookSet:
    """Shared codebooks per codebook set ("depth", "audio", "unified", ...), each (K, d*) float32: one
    table for every sub-vector position (CodeBind, §3.3), or (m, K, d*): one table per position
    (classic product quantization, e.g. a post-hoc codebook, :mod:`codebind_core.posthoc_codebook`).

    ``sub_vectors`` (optional, codebook_set -> m) fixes how many codes an embedding of that set has;
    codes of another length are then refused."""

    def __init__(self, books: Mapping[str, np.ndarray], sub_vectors: Optional[Mapping[str, int]] = None):
        if not books:
            raise ValueError("CodebookSet needs at least one codebook set's shared codebook")
        self.books: Dict[str, np.ndarray] = {}
        for name, book in books.items():
            arr = np.ascontiguousarray(np.asarray(book, dtype=np.float32))
            if not isinstance(name, str) or not name:
                raise ValueError(f"codebook set names must be non-empty strings, got {name!r}")
            if arr.ndim not in (2, 3) or min(arr.shape) < 1:
                raise ValueError(f"codebook {name!r} must be (K, d*) or (m, K, d*), got shape {arr.shape}")
            if arr.shape[-2] > MAX_CODEBOOK_SIZE:
                raise ValueError(f"codebook {name!r} has {arr.shape[-2]} codevectors; "
                                 f"codes are uint16 (<= {MAX_CODEBOOK_SIZE})")
            if not np.isfinite(arr).all():
                raise ValueError(f"codebook {name!r} has NaN or inf entries")
            self.books[name] = arr
        self.sq_norms = {p: (b.astype(np.float64) ** 2).sum(-1) for p, b in self.books.items()}
        self.sub_vectors: Dict[str, int] = {p: int(m) for p, m in (sub_vectors or {}).items()}
        for p, b in self.books.items():
            if b.ndim == 3 and self.sub_vectors.setdefault(p, b.shape[0]) != b.shape[0]:
                raise ValueError(f"codebook {p!r} has {b.shape[0]} per-position tables, "
                                 f"sub_vectors says {self.sub_vectors[p]}")
        unknown = set(self.sub_vectors) - set(self.books)
        if unknown or any(m < 1 for m in self.sub_vectors.values()):
            raise ValueError(f"sub_vectors must give m >= 1 for known codebook sets, got {dict(self.sub_vectors)}")

    @classmethod
    def from_model(cls, model) -> "CodebookSet":
        """The shared codebook of every codebook set of a quantized :class:`codebind_core.CodeBind`, or
        the post-hoc codebook attached to a model trained without codebooks."""
        books = getattr(model, "codebooks", None)
        posthoc = getattr(model, "posthoc_codebook", None)
        if not books and posthoc is not None:
            m = posthoc.sub_vectors(int(model.config.embed_dim))
            return cls(dict(posthoc.books), {name: m for name in posthoc.books})
        if not books:
            raise ValueError("the model has no codebooks (trained without a quantizer, e.g. hard alignment) and no "
                             "post-hoc codebook: the memory stores codebook indices. Fit one with "
                             f"`{FIT_COMMAND.format(model_dir='<model_dir>')}` and load the model again")
        separate = [name for name, vqs in books.items() if "shared" not in vqs]
        if separate:
            raise ValueError(f"the memory searches one shared codebook per codebook set; codebook sets {separate} "
                             "quantize each modality's shared part with its own codebook "
                             "(quantizer.shared_codebook: false)")
        arrays = {name: vqs["shared"].codebook.detach().cpu().float().numpy() for name, vqs in books.items()}
        dim = int(model.config.embed_dim)
        return cls(arrays, {name: dim // a.shape[1] for name, a in arrays.items() if dim % a.shape[1] == 0})

    @property
    def codebook_sets(self) -> Iterable[str]:
        return self.books.keys()

    def size(self, codebook_set: str) -> int:
        return self.book(codebook_set).shape[-2]

    def sub_dim(self, codebook_set: str) -> int:
        return self.book(codebook_set).shape[-1]

    def per_position(self, codebook_set: str) -> bool:
        """Whether the codebook set has one table per sub-vector position (m, K, d*)."""
        return self.book(codebook_set).ndim == 3

    def book(self, codebook_set: str) -> np.ndarray:
        try:
            return self.books[codebook_set]
        except KeyError:
            raise ValueError(f"unknown codebook set {codebook_set!r}; known: {sorted(self.books)}") from None

    def fingerprint(self) -> str:
        """sha256 over codebook set names, shapes and values: identifies the codebooks a memory was built with."""
        h = hashlib.sha256()
        for name in sorted(self.books):
            b = self.books[name]
            h.update(name.encode() + b"\0" + np.asarray(b.shape, np.int64).tobytes() + b.tobytes())
        return h.hexdigest()

    def check_codes(self, codebook_set: str, codes: np.ndarray) -> np.ndarray:
        """Validate (..., m) integer codes against the codebook set's codebook size; returns uint16."""
        codes = np.asarray(codes)
        if codes.size == 0 or codes.ndim < 1:
            raise ValueError(f"codes for codebook set {codebook_set!r} are empty")
        if not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(f"codes must be integers, got dtype {codes.dtype}")
        k = self.size(codebook_set)
        m = self.sub_vectors.get(codebook_set)
        if m is not None and codes.shape[-1] != m:
            raise ValueError(f"codebook set {codebook_set!r} has {m} codes per embedding, got {codes.shape[-1]}")
        if codes.min() < 0 or codes.max() >= k:
            raise ValueError(f"codes for codebook set {codebook_set!r} must be in [0, {k}), "
                             f"got range [{codes.min()}, {codes.max()}]")
        return codes.astype(CODE_DTYPE, copy=False)

    def decode(self, codebook_set: str, codes: np.ndarray) -> np.ndarray:
        """(N, m) codes -> (N, m * d*) concatenated codevectors (not re-normalised)."""
        codes = np.atleast_2d(codes).astype(np.int64)
        book = self.book(codebook_set)
        if book.ndim == 3:
            return book[np.arange(codes.shape[1]), codes].reshape(codes.shape[0], -1)
        return book[codes].reshape(codes.shape[0], -1)

    def inverse_norms(self, codebook_set: str, codes: np.ndarray) -> np.ndarray:
        """1 / ||decode(codes)|| per row, float32 (sqrt(m) for unit codevectors)."""
        codes = np.atleast_2d(codes).astype(np.int64)
        table = self.sq_norms[codebook_set]
        sq = (table[np.arange(codes.shape[1]), codes] if table.ndim == 2 else table[codes]).sum(1)
        return (1.0 / np.sqrt(np.maximum(sq, 1e-30))).astype(np.float32)

    def lookup_table(self, codebook_set: str, query: np.ndarray) -> np.ndarray:
        """(m, K) table LUT[h, k] = <q_h, e_k> for a (D,) query (D = m * d*)."""
        book = self.book(codebook_set)
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        d = book.shape[-1]
        if q.size % d:
            raise ValueError(f"query dim {q.size} is not a multiple of the sub-vector dim {d} "
                             f"of codebook set {codebook_set!r}")
        if not np.isfinite(q).all():
            raise ValueError("query has NaN or inf entries")
        if book.ndim == 3:
            if q.size != book.shape[0] * d:
                raise ValueError(f"query dim {q.size} != {book.shape[0]} positions x {d} "
                                 f"of codebook set {codebook_set!r}")
            return np.einsum("hd,hkd->hk", q.reshape(-1, d), book, optimize=False).astype(np.float32)
        return lookup_table(q.reshape(-1, d), book)

    def query_tables(self, queries: Mapping[str, np.ndarray], stores: Mapping[str, object], stored: str):
        """For each (codebook set, query) whose codes are stored (``stores[set]``: non-empty, with the
        sub-vector count ``m``): (codebook set, query, lookup table, store, |query|). Every query's
        table is built (a malformed query fails even with nothing stored); see :meth:`query_norm`."""
        for codebook_set, q in queries.items():
            lut = self.lookup_table(codebook_set, q)
            store = stores.get(codebook_set)
            if store is None or not len(store):
                continue
            yield codebook_set, q, lut, store, self.query_norm(codebook_set, q, lut, store.m, stored)

    @staticmethod
    def query_norm(codebook_set: str, query: np.ndarray, lut: np.ndarray, m: int, stored: str) -> float:
        """|query|, which divides the LUT scores into cosines; the query's table ``lut`` must
        have the ``m`` sub-vectors of the codes it scores (``stored`` names them), and the query
        must not be the zero vector."""
        if lut.shape[0] != m:
            raise ValueError(f"query for codebook set {codebook_set!r} has {lut.shape[0]} sub-vectors, "
                             f"{stored} have {m}")
        norm = float(np.linalg.norm(np.asarray(query, np.float64)))
        if norm == 0.0:
            raise ValueError(f"query for codebook set {codebook_set!r} is the zero vector")
        return norm

    def quantize(self, codebook_set: str, vectors: np.ndarray) -> np.ndarray:
        """(N, D) vectors -> (N, m) codes: each sub-vector's nearest codevector by cosine (App. A.2)."""
        book = self.book(codebook_set)
        v = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        sub = v.reshape(v.shape[0], -1, book.shape[-1])
        unit_book = unit_rows(book)
        if book.ndim == 3:
            if sub.shape[1] != book.shape[0]:
                raise ValueError(f"vectors have {sub.shape[1]} sub-vectors, codebook set {codebook_set!r} "
                                 f"has {book.shape[0]} tables")
            return np.argmax(np.einsum("nhd,hkd->nhk", sub, unit_book), axis=-1).astype(CODE_DTYPE)
        return np.argmax(sub @ unit_book.T, axis=-1).astype(CODE_DTYPE)
