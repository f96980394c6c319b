"""Value types shared by the model, the runtime backends and the ROS layer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


@dataclass
class Embedding:
    """The output of :meth:`CodeBind.encode` for a batch of B inputs.

    Attributes:
        shared: (B, D) quantized shared embedding, L2-normalised (paper Eq. 1 aligns these).
        specific: (B, Ds) quantized specific embedding, L2-normalised, or None (text has none,
            and inference may skip it).
        codes: (B, m) shared-codebook indices, one per sub-vector of dim d* (m = D / d*).
        specific_codes: (B, ms) specific-codebook indices, or None.
        modality: the modality name that produced it ("depth", "text", ...).
        codebook_set: the codebook set it was quantized with ("depth" for the image-text-depth
            path, or "unified"). Shared parts quantized with different sets are not comparable
            (:meth:`codebind_core.CodeBind.similarity` refuses them).
    """

    shared: torch.Tensor
    specific: Optional[torch.Tensor]
    codes: torch.Tensor
    specific_codes: Optional[torch.Tensor]
    modality: str
    codebook_set: str

    def __len__(self) -> int:
        return int(self.shared.shape[0])

    def to(self, device) -> "Embedding":
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Embedding(mv(self.shared), mv(self.specific), mv(self.codes), mv(self.specific_codes),
                         self.modality, self.codebook_set)

    def concat(self) -> torch.Tensor:
        """[shared, specific] re-normalised: the full embedding for intra-modal retrieval (§4.3)."""
        if self.specific is None:
            return self.shared
        return torch.nn.functional.normalize(torch.cat([self.shared, self.specific], dim=-1), dim=-1)
