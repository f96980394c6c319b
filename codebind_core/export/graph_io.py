"""Input checks and output assembly shared by the graph runtimes (ONNX Runtime, TensorRT).

Every backend takes what :meth:`CodeBind.encode` takes (a preprocessed batch tensor, or a list of
strings / token ids for text) and returns the same :class:`Embedding`.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch

from ..finite import all_finite
from ..types import Embedding
from .artifact import Manifest


def prepare_input(batch, manifest: Manifest, tokenize: Optional[Callable[[Sequence[str]], torch.Tensor]] = None,
                  max_batch: Optional[int] = None) -> torch.Tensor:
    """Validate ``batch`` against the graph's input and return a contiguous CPU tensor of the
    graph's dtype: (B, *input_shape); a clip-axis graph (audio) also accepts one clip per sample
    without the clip axis. Raises ValueError naming the problem."""
    if manifest.modality == "text":
        if isinstance(batch, (list, tuple)):
            if not batch or not all(isinstance(t, str) for t in batch):
                raise ValueError("text input must be a non-empty list of strings or (B, L) token ids")
            if tokenize is None:
                raise ValueError("this text runtime has no tokenizer; pass token ids")
            batch = tokenize(list(batch))
        x = torch.as_tensor(batch)
        if x.dtype.is_floating_point or x.dtype == torch.bool or x.ndim != 2:
            raise ValueError(f"token ids must be an integer (B, L) tensor, got {x.dtype} {tuple(x.shape)}")
        if x.shape[1] != manifest.input_shape[0]:
            raise ValueError(f"token ids have length {x.shape[1]}, the graph expects {manifest.input_shape[0]}")
        x = x.to(torch.int64)
    else:
        if not isinstance(batch, (torch.Tensor, np.ndarray)):
            raise ValueError(f"expected a preprocessed batch tensor for {manifest.modality}, "
                             f"got {type(batch).__name__}")
        x = torch.as_tensor(batch)
        if not x.is_floating_point():
            raise ValueError(f"expected a floating-point batch, got {x.dtype}")
        shape = tuple(manifest.input_shape)
        per_clip = shape[1:] if manifest.clip_axis else shape
        if manifest.clip_axis and tuple(x.shape[1:]) == per_clip:
            x = x.unsqueeze(1)  # one clip per sample
        ok = (x.ndim == len(shape) + 1 and tuple(x.shape[2:] if manifest.clip_axis else x.shape[1:]) == per_clip
              and (not manifest.clip_axis or x.shape[1] >= 1))
        if not ok:
            want = f"(B, clips, {', '.join(map(str, per_clip))})" if manifest.clip_axis else \
                f"(B, {', '.join(map(str, shape))})"
            raise ValueError(f"{manifest.modality} batch must have shape {want}, got {tuple(x.shape)}")
        if not all_finite(x):
            raise ValueError(f"{manifest.modality} batch contains NaN or inf")
        x = x.to(torch.float32)
    if x.shape[0] == 0:
        raise ValueError("empty batch")
    limit = max_batch or manifest.max_batch
    if x.shape[0] > limit:
        raise ValueError(f"batch of {x.shape[0]} exceeds the graph's max batch {limit}; split it")
    return x.detach().cpu().contiguous()


def to_embedding(outputs: Dict[str, torch.Tensor], manifest: Manifest) -> Embedding:
    """Graph outputs by name -> :class:`Embedding` (codes empty (B, 0) for an unquantized graph)."""
    shared = outputs["shared"].float()
    codes = outputs.get("codes")
    if codes is None:
        codes = torch.zeros(shared.shape[0], 0, dtype=torch.long, device=shared.device)
    spec = outputs.get("specific")
    spec_codes = outputs.get("specific_codes")
    return Embedding(shared, None if spec is None else spec.float(), codes.long(),
                     None if spec_codes is None else spec_codes.long(), manifest.modality,
                     manifest.codebook_set)
