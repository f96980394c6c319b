"""Post-hoc product quantization: codebooks fitted on a trained model's embeddings.

A model trained without codebooks (hard alignment, ``decouple: false``, or
``quantizer.enabled: false``) still needs codes for the memory's code-table search. A post-hoc
codebook is fitted on its shared embeddings by spherical k-means and stored next to the weights
(``posthoc_codebook.safetensors``, read with safetensors, never unpickled). ``codebind_core.load``
attaches it, after which :meth:`CodeBind.encode` returns codes and
:meth:`~codebind_core.memory.CodebookSet.from_model` serves it like trained codebooks.

Two layouts (``kind``):

* ``shared``: ONE (K, d*) table used by every one of the m = D/d* sub-vector positions, as
  CodeBind's compositional VQ (paper §3.3): m·log2(K) bits per embedding, K·d* floats of table.
* ``per_position``: classic product quantization (Jégou et al.), one (K, d*) table per position:
  the same m·log2(K) bits per embedding, m·K·d* floats of tables.

Encoding is the memory's: each sub-vector takes the codevector of highest cosine (App. A.2);
codevectors are unit k-means centres. The shared part that ``encode`` returns stays the float
unit vector (asymmetric distance: only the stored side is compressed).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Mapping, Optional, Union

import numpy as np

from .nearest import lloyd, unit_rows
from .atomic import atomic_write
from .memory.codebooks import FIT_COMMAND, CodebookSet

POSTHOC_FILE = "posthoc_codebook.safetensors"
KINDS = ("shared", "per_position")
_MAX_POINTS_PER_CODE = 256  # k-means sees at most 256·K points per table (faiss's rule)


@dataclass
class PosthocCodebook:
    """Post-hoc shared codebooks, one per codebook set: (K, d*) (``shared``) or (m, K, d*)."""

    kind: str
    books: Dict[str, np.ndarray]
    model_digest: str = ""
    info: Dict[str, object] = field(default_factory=dict)  # seed, data, fitted modalities ...

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"post-hoc codebook kind must be one of {KINDS}, got {self.kind!r}")
        if not self.books:
            raise ValueError("a post-hoc codebook needs at least one codebook set")
        want = 2 if self.kind == "shared" else 3
        for name, b in self.books.items():
            b = self.books[name] = np.ascontiguousarray(np.asarray(b, np.float32))
            if b.ndim != want or min(b.shape) < 1 or not np.isfinite(b).all():
                raise ValueError(f"post-hoc codebook {name!r} ({self.kind}) must be a finite "
                                 f"{'(K, d*)' if want == 2 else '(m, K, d*)'} array, got shape {b.shape}")

    def size(self) -> int:
        return next(iter(self.books.values())).shape[-2]

    def sub_dim(self) -> int:
        return next(iter(self.books.values())).shape[-1]

    def sub_vectors(self, embed_dim: int) -> int:
        return embed_dim // self.sub_dim()

    def quantize(self, name: str, vectors: np.ndarray) -> np.ndarray:
        """(N, D) -> (N, m) uint16 codes: per sub-vector the codevector of highest cosine."""
        return CodebookSet({name: self.books[name]}).quantize(name, vectors)

    def quantizer(self, name: str):
        """An ``embed_cls`` quantizer: (B, D) torch -> (unit float vector, (B, m) int64 codes)."""
        import torch
        import torch.nn.functional as F

        if name not in self.books:
            raise ValueError(f"the post-hoc codebook has no set {name!r}; it has {sorted(self.books)}")

        def quantize(z):
            codes = self.quantize(name, z.detach().float().cpu().numpy())
            return F.normalize(z, dim=-1), torch.from_numpy(codes.astype(np.int64)).to(z.device)
        return quantize


def bits_per_embedding(m: int, size: int) -> int:
    """Bits of one stored embedding: m codes of ceil(log2 K) bits."""
    return m * max(1, math.ceil(math.log2(size)))


def storage(embed_dim: int, sub_dim: int, size: int, kind: str) -> Dict[str, float]:
    """Bytes per stored embedding (packed and as the memory stores them, uint16) and table bytes."""
    m = embed_dim // sub_dim
    tables = 1 if kind == "shared" else m
    return {"m": m, "K": size, "sub_dim": sub_dim, "bits": bits_per_embedding(m, size),
            "bytes_packed": bits_per_embedding(m, size) / 8.0, "bytes_uint16": 2 * m,
            "float32_bytes": 4 * embed_dim, "table_bytes": 4 * tables * size * sub_dim}


def spherical_kmeans(points: np.ndarray, k: int, iters: int, rng: np.random.Generator) -> np.ndarray:
    """(k, d) unit centres of unit ``points``: distinct random seeds, Lloyd iterations by cosine;
    an empty cluster is re-seeded with the point worst served by its centre."""
    x = unit_rows(np.asarray(points, np.float32))
    if x.shape[0] > _MAX_POINTS_PER_CODE * k:
        x = x[np.sort(rng.choice(x.shape[0], _MAX_POINTS_PER_CODE * k, replace=False))]
    n = x.shape[0]
    return lloyd(x, x[rng.choice(n, k, replace=n < k)], iters)


def fit_book(vectors: np.ndarray, sub_dim: int, size: int, kind: str = "shared", seed: int = 0,
             iters: int = 20) -> np.ndarray:
    """Fit one codebook set on (N, D) shared embeddings: (K, d*) or (m, K, d*) unit codevectors."""
    x = np.asarray(vectors, np.float32)
    if x.ndim != 2 or x.shape[0] < 1 or not np.isfinite(x).all():
        raise ValueError(f"post-hoc fitting needs finite (N, D) embeddings, got shape {x.shape}")
    if sub_dim < 1 or x.shape[1] % sub_dim:
        raise ValueError(f"sub-vector dim {sub_dim} does not divide the embedding dim {x.shape[1]}")
    if not 2 <= size <= 65536:
        raise ValueError(f"codebook size must be in [2, 65536] (codes are uint16), got {size}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    sub = unit_rows(x.reshape(x.shape[0], -1, sub_dim))
    rng = np.random.default_rng(seed)
    if kind == "shared":
        return spherical_kmeans(sub.reshape(-1, sub_dim), size, iters, rng)
    return np.stack([spherical_kmeans(sub[:, h], size, iters, rng) for h in range(sub.shape[1])])


def fit(vectors: Mapping[str, np.ndarray], sub_dim: int = 8, size: int = 256, kind: str = "shared",
        seed: int = 0, iters: int = 20, model_digest: str = "", info: Optional[dict] = None) -> PosthocCodebook:
    """A :class:`PosthocCodebook` with one book per codebook set, fitted on that set's embeddings
    (set name -> (N, D)). Deterministic given ``seed``."""
    books = {name: fit_book(v, sub_dim, size, kind, seed + i, iters)
             for i, (name, v) in enumerate(sorted(vectors.items()))}
    meta = {"sub_dim": sub_dim, "size": size, "seed": seed, "iters": iters, **(info or {})}
    return PosthocCodebook(kind, books, model_digest, meta)


def save(directory: Union[str, Path], codebook: PosthocCodebook) -> Path:
    """Write ``posthoc_codebook.safetensors`` into the model directory (atomically)."""
    from safetensors.numpy import save_file

    path = Path(directory) / POSTHOC_FILE
    meta = {"format": "codebind-posthoc-codebook", "kind": codebook.kind, "model_sha256": codebook.model_digest,
            "info": json.dumps(codebook.info, sort_keys=True)}
    tensors = {name: np.ascontiguousarray(b) for name, b in codebook.books.items()}
    atomic_write(path, lambda p: save_file(tensors, p, metadata=meta))
    return path


def _refit(directory: Path) -> str:
    return FIT_COMMAND.format(model_dir=directory)


def load(directory: Union[str, Path], weights_digest: Optional[str] = None) -> Optional[PosthocCodebook]:
    """The model directory's post-hoc codebook, or None when it has none. ValueError for a damaged
    file, or with ``weights_digest`` (``checkpoint_format.model_digest``) for one fitted on other
    weights (the model was retrained: refit)."""
    from safetensors import SafetensorError, safe_open

    directory = Path(directory)
    path = directory / POSTHOC_FILE
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
            books = {k: f.get_tensor(k) for k in f.keys()}
        info = json.loads(meta.get("info", "{}"))
        codebook = PosthocCodebook(meta.get("kind", ""), books, meta.get("model_sha256", ""), info)
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a valid post-hoc codebook ({e}); refit with `{_refit(directory)}`") from e
    if weights_digest is not None and codebook.model_digest != weights_digest:
        raise ValueError(f"{path} was fitted on other weights than {directory / 'model.safetensors'} "
                         f"(the model changed); refit with `{_refit(directory)}`")
    return codebook


def attach(model, codebook: PosthocCodebook) -> None:
    """Let ``model`` (trained without codebooks) encode codes with ``codebook``."""
    if getattr(model, "quantized", False):
        raise ValueError("this model has trained codebooks; a post-hoc codebook is for models without them")
    missing = [s for s in model.config.codebook_sets() if s not in codebook.books]
    if missing:
        raise ValueError(f"the post-hoc codebook lacks codebook sets {missing} of the model")
    if model.config.embed_dim % codebook.sub_dim():
        raise ValueError(f"post-hoc sub-vector dim {codebook.sub_dim()} does not divide "
                         f"embed_dim {model.config.embed_dim}")
    m = model.config.embed_dim // codebook.sub_dim()
    if codebook.kind == "per_position" and any(b.shape[0] != m for b in codebook.books.values()):
        raise ValueError(f"per-position post-hoc tables must number m = {m}")
    model.posthoc_codebook = codebook
