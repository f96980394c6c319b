"""The interface every runtime backend implements (:mod:`.runtime` builds them)."""
from __future__ import annotations

from ..types import Embedding


class Embedder:
    """Callable: a preprocessed batch tensor (or list of str for text) -> :class:`Embedding`.

    ``codebook_set`` is the codebook set (§3.4) it quantizes with; every backend takes it as
    ``codebook_set=``."""

    modality: str
    codebook_set: str

    def __call__(self, batch) -> Embedding:  # pragma: no cover - interface
        raise NotImplementedError

    def warmup(self, batch_size: int = 1) -> None:
        """Run once on an example batch so the first real message is not slow."""
        self(self.example(batch_size))

    def example(self, batch_size: int = 1):  # pragma: no cover - interface
        raise NotImplementedError
