"""Batched encoding of a whole evaluation split into plain tensors."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import torch

from ..types import Embedding


@dataclass
class EmbeddedSplit:
    """Concatenated :class:`Embedding` fields of a split (rows in dataset order)."""

    shared: torch.Tensor
    specific: Optional[torch.Tensor]
    codes: torch.Tensor
    specific_codes: Optional[torch.Tensor]

    def concat(self) -> torch.Tensor:
        """[shared, specific] re-normalised (§4.3 "concatenated"), or shared alone without specific."""
        return Embedding(self.shared, self.specific, self.codes, self.specific_codes, "", "").concat()


@torch.no_grad()
def embed(model, modality: str, inputs: Union[torch.Tensor, Sequence[str]], batch_size: int = 256,
          codebook_set: Optional[str] = None) -> EmbeddedSplit:
    """Encode `inputs` (a preprocessed tensor, or a list of strings for text) in batches, on
    ``codebook_set`` (the model's default for the modality when None)."""
    if len(inputs) == 0:
        raise ValueError(f"nothing to embed for {modality!r}")
    was_training = model.training
    model.eval()
    parts: List[Embedding] = []
    device = next(model.parameters()).device
    for i in range(0, len(inputs), batch_size):
        x = inputs[i:i + batch_size]
        if torch.is_tensor(x):
            x = x.to(device)
        parts.append(model.encode(modality, x, codebook_set=codebook_set).to("cpu"))
    model.train(was_training)
    cat = lambda xs: None if xs[0] is None else torch.cat(xs)  # noqa: E731
    return EmbeddedSplit(torch.cat([p.shared for p in parts]), cat([p.specific for p in parts]),
                         torch.cat([p.codes for p in parts]), cat([p.specific_codes for p in parts]))
