"""One ``Embedder`` interface (:mod:`.embedder`) over several runtime backends (torch here; ONNX Runtime
and TensorRT register themselves in :data:`BACKENDS`)."""
from __future__ import annotations

from typing import Callable, Dict, Optional

import torch

from ..inference import check_modality
from ..types import Embedding
from .embedder import Embedder
from .posthoc_codes import PosthocCodes, needs_posthoc_codes


class TorchEmbedder(Embedder):
    """Eager (optionally ``torch.compile``d) PyTorch inference on CPU or CUDA, fp32/bf16/fp16."""

    def __init__(self, model, modality: str, codebook_set: Optional[str] = None, device: str = "cpu",
                 dtype: str = "fp32", compile: bool = False, specific: bool = True):
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        self.model = model.to(device).eval()
        self.modality = check_modality(model, modality)
        self.codebook_set = model.config.codebook_set_for(self.modality, codebook_set)
        self.device = torch.device(device)
        self.dtype = DTYPES[dtype]
        self.specific = specific
        self._fn = self._encode
        if compile:
            self._fn = torch.compile(self._encode)

    def _encode(self, batch) -> Embedding:
        return self.model.encode(self.modality, batch, codebook_set=self.codebook_set, specific=self.specific)

    @torch.inference_mode()
    def __call__(self, batch) -> Embedding:
        if torch.is_tensor(batch):
            batch = batch.to(self.device)
        autocast = self.dtype != torch.float32
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=autocast):
            emb = self._fn(batch)
        return _float(emb)

    def example(self, batch_size: int = 1):
        return example_batch(self.model, self.modality, batch_size)


def example_batch(model, modality: str, batch_size: int = 1):
    """A random, correctly shaped preprocessed batch for ``modality``."""
    if modality == "text":
        return ["an example"] * batch_size
    if modality == "image":
        s = model.bridge.image_size
        return torch.randn(batch_size, 3, s, s)
    shape = model.encoders[modality].expected_shape
    return torch.randn(batch_size, *shape)


def _float(e: Embedding) -> Embedding:
    f = lambda t: None if t is None else t.float()  # noqa: E731
    return Embedding(f(e.shared), f(e.specific), e.codes, e.specific_codes, e.modality, e.codebook_set)


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

BACKENDS: Dict[str, Callable[..., Embedder]] = {"torch": TorchEmbedder}


def create_embedder(model, modality: str, backend: str = "torch", **options) -> Embedder:
    """Build an Embedder for ``modality`` with the named backend (see :data:`BACKENDS`)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; available: {sorted(BACKENDS)}")
    embedder = BACKENDS[backend](model, modality, **options)
    if backend != "torch" and needs_posthoc_codes(model):  # the graphs end at the float embedding
        return PosthocCodes(embedder, model)
    return embedder
