"""The objective with the printed equations of App. A.1 (``loss.numerics: paper``)."""
from __future__ import annotations

from typing import Dict, List

from torch import Tensor

from .. import losses as L
from ..features import Quantized
from ..quantize import VQOutput
from .base import Objective, mean_or


class PaperObjective(Objective):
    """Eq. 1 summed over the paths; Eq. 3 squared on the [CLS] tokens; Eq. 4 with the diagonal
    (printed normaliser); Eq. 2 averaged over modalities; Eq. 5 summed over d*; CMCM and ctr
    carry gradient to the sub-vectors and, like cuni, are averaged over the VQ calls."""

    numerics = "paper"

    def reduce_paths(self, aligns: Tensor) -> Tensor:
        return aligns.sum()

    def commitment(self, o: VQOutput) -> Tensor:
        return L.commitment_loss(o.sub_vectors, o.quantized.unflatten(-1, o.sub_vectors.shape[-2:]),
                                 self.config.beta, printed=True)

    def orthogonal(self, shared: Tensor, specific: Tensor) -> Tensor:
        return L.orthogonal_loss(shared[:, 0], specific[:, 0])

    def uniform(self, specific_cls: Tensor) -> Tensor:
        return L.uniform_loss(specific_cls, printed=True)

    def reduce_recon(self, recons: Tensor) -> Tensor:
        return recons.mean()

    def codebook_losses(self, q: Dict[str, Quantized], calls: List[VQOutput], target: str,
                        zero: Tensor) -> Dict[str, Tensor]:
        tgt = q[target].shared.sub_vectors[:, 0]
        cm = mean_or([L.cmcm_loss(q[b].shared.sub_vectors[:, 0], tgt, q[target].shared.assign_book)
                      for b in ("text", "image") if b in q], zero)
        ctr = mean_or([L.codevector_contrastive_loss(o.sub_vectors[:, 0], o.assign_book) for o in calls], zero)
        cuni = mean_or([L.codevector_uniform_loss(o.assign_book) for o in calls], zero)
        return {"cm": cm, "ctr": ctr, "cuni": cuni}
