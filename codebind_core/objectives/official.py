"""The objective with the official CodeBind code's numerics (``loss.numerics: official``, the
default; ``shared/codebind-official-numerics.md`` §1-5, §10-11)."""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
from torch import Tensor

from .. import losses as L
from ..features import Quantized
from ..quantize import VQOutput
from .base import Objective, mean_or


class OfficialObjective(Objective):
    """Eq. 1 averaged over the paths (§1); Eq. 3 as the Frobenius norm of the all-token Gram
    matrix (§2); Eq. 4 over distinct pairs (§3); Eq. 2 summed over modalities (§4); Eq. 5 as
    β·element mean (§5); Eq. 6-8 from detached cosines and the pre-update codebooks, so they carry
    no gradient, ctr and cuni summed over the VQ calls (§10-11). On steps whose losses are not
    reported those three are skipped (0, same gradient) unless the adaptive balancer sets its
    weights at that step."""

    numerics = "official"

    def reduce_paths(self, aligns: Tensor) -> Tensor:
        return aligns.mean()

    def commitment(self, o: VQOutput) -> Tensor:
        return L.commitment_loss(o.sub_vectors, o.quantized.unflatten(-1, o.sub_vectors.shape[-2:]),
                                 self.config.beta)

    def orthogonal(self, shared: Tensor, specific: Tensor) -> Tensor:
        return L.orthogonal_loss_official(shared, specific)

    def uniform(self, specific_cls: Tensor) -> Tensor:
        return L.uniform_loss(specific_cls)

    def reduce_recon(self, recons: Tensor) -> Tensor:
        return recons.sum()

    def skips_codebook_losses(self, step: Optional[int], report: bool) -> bool:
        return not report and not (self.balancer is not None and self.balancer.updates_at(step))

    def codebook_losses(self, q: Dict[str, Quantized], calls: List[VQOutput], target: str,
                        zero: Tensor) -> Dict[str, Tensor]:
        def cos(m: str) -> Tensor:  # (B, m, K) [CLS] sub-vector cosines to the unit codebook
            o = q[m].shared
            return o.sub_vectors[:, 0].detach() @ o.assign_book.T

        pairs = [(a, b) for a, b in (("image", target), ("text", target), ("image", "text")) if a in q and b in q]
        cm = mean_or([L.cmcm_loss_official(cos(a), cos(b)) for a, b in pairs], zero)
        ctr = torch.stack([L.codevector_contrastive_official(o.sub_vectors, o.assign_book) for o in calls]).sum()
        cuni = torch.stack([L.codevector_uniform_loss(o.assign_book) for o in calls]).sum()
        return {"cm": cm, "ctr": ctr, "cuni": cuni}
