"""Codes for any backend from a post-hoc codebook (``codebind-codebook fit``).

A model trained without codebooks carries its post-hoc codebook beside the weights; the torch
backend encodes codes inside the model, but the exported graphs (ONNX Runtime, TensorRT) end at the
float shared embedding. :class:`PosthocCodes` wraps such a backend and quantizes its shared
embedding with the same codebook (per sub-vector, the codevector of highest cosine), so the memory's
code-table search serves every backend alike.
"""
from __future__ import annotations

import torch

from ..types import Embedding
from .embedder import Embedder


def needs_posthoc_codes(model) -> bool:
    """True for a model without trained codebooks that has a post-hoc codebook attached."""
    return not getattr(model, "quantized", False) and getattr(model, "posthoc_codebook", None) is not None


class PosthocCodes(Embedder):
    """``inner``'s embeddings with codes from the model's post-hoc codebook."""

    def __init__(self, inner: Embedder, model):
        if not needs_posthoc_codes(model):
            raise ValueError("PosthocCodes needs a model without trained codebooks and with a post-hoc codebook")
        self.inner = inner
        self.codebook = model.posthoc_codebook
        self.modality = inner.modality
        self.codebook_set = inner.codebook_set
        if self.codebook_set not in self.codebook.books:
            raise ValueError(f"the post-hoc codebook has no set {self.codebook_set!r}; "
                             f"it has {sorted(self.codebook.books)}")

    def __getattr__(self, name):  # the backend's own attributes (graph, session, paths)
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __call__(self, batch) -> Embedding:
        e = self.inner(batch)
        codes = self.codebook.quantize(self.codebook_set, e.shared.detach().float().cpu().numpy())
        return Embedding(e.shared, e.specific, torch.from_numpy(codes.astype("int64")), e.specific_codes,
                         e.modality, e.codebook_set)

    def example(self, batch_size: int = 1):
        return self.inner.example(batch_size)
