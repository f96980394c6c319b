"""The training objective shared by both numerics: which losses a step has and how they are
weighted into ``total``. Each numerics (official.py, paper.py) fills in the forms that differ.

Paper §3.4 and App. A.1: InfoNCE (Eq. 1) on the quantized [CLS] shared parts over the paths
target-text, target-image and image-text; reconstruction (Eq. 2), orthogonality (Eq. 3),
uniformity (Eq. 4), commitment (Eq. 5), CMCM (Eq. 6), codevector contrastive (Eq. 7) and
uniform (Eq. 8); weighted by Table 1 (App. B.2), the official configs, explicit λ or the
adaptive balancer (§3.4).
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import losses as L
from ..balancer import AdaptiveBalancer
from ..config import LossConfig
from ..features import Quantized, TrainFeatures
from ..pooling import pool_clips
from ..quantize import VQOutput

ALIGN_PATHS = (("target", "text"), ("target", "image"), ("image", "text"))


def unit(x: Tensor) -> Tensor:
    return F.normalize(x, dim=-1)


def mean_or(xs: List[Tensor], zero: Tensor) -> Tensor:
    return torch.stack(xs).mean() if xs else zero


class Objective:
    """Named scalar losses and ``total`` from a :class:`~codebind_core.features.TrainFeatures`.

    ``balancer``: the adaptive balancer (``loss.weights: adaptive``), else the fixed weights of
    ``loss.weights``."""

    numerics: str = ""

    def __init__(self, config: LossConfig, balancer: Optional[AdaptiveBalancer] = None):
        self.config = config
        self.balancer = balancer

    def __call__(self, f: TrainFeatures, step: Optional[int] = None, report: bool = True) -> Dict[str, Tensor]:
        out = self.quantized_losses(f, step, report) if f.quantized else self.continuous_losses(f)
        return self.with_total(out, f.target, step)

    # ---- the forms each numerics sets ------------------------------------------------------
    def reduce_paths(self, aligns: Tensor) -> Tensor:
        """Eq. 1 over the (P,) path losses."""
        raise NotImplementedError

    def commitment(self, o: VQOutput) -> Tensor:
        """Eq. 5 of one VQ call."""
        raise NotImplementedError

    def orthogonal(self, shared: Tensor, specific: Tensor) -> Tensor:
        """Eq. 3 of one modality from its unit (B, T, D) quantized shared / specific tokens."""
        raise NotImplementedError

    def uniform(self, specific_cls: Tensor) -> Tensor:
        """Eq. 4 over the unit (B, Ds) specific [CLS] parts of one modality."""
        raise NotImplementedError

    def reduce_recon(self, recons: Tensor) -> Tensor:
        """Eq. 2 over the (M,) per-modality reconstruction losses."""
        raise NotImplementedError

    def codebook_losses(self, q: Dict[str, Quantized], calls: List[VQOutput], target: str,
                        zero: Tensor) -> Dict[str, Tensor]:
        """CMCM (Eq. 6), codevector contrastive (Eq. 7) and uniform (Eq. 8)."""
        raise NotImplementedError

    def skips_codebook_losses(self, step: Optional[int], report: bool) -> bool:
        """Whether this step may report cm/ctr/cuni as 0 (they would carry no gradient)."""
        return False

    # ---- the step ----------------------------------------------------------------------------
    def align(self, cls: Dict[str, Tensor], f: TrainFeatures) -> Tensor:
        """Eq. 1 on the unit [CLS] shared parts over the paths present."""
        names = {"target": f.target, "text": "text", "image": "image"}
        pairs = [(names[a], names[b]) for a, b in ALIGN_PATHS]
        aligns = [L.info_nce(cls[a], cls[b], f.temperature) for a, b in pairs if a in cls and b in cls]
        if not aligns:
            raise ValueError("a training batch needs the target and at least one bridge (text or image)")
        return self.reduce_paths(torch.stack(aligns))

    def quantized_losses(self, f: TrainFeatures, step: Optional[int], report: bool) -> Dict[str, Tensor]:
        q = {m: mf.vq for m, mf in f.modalities.items()}
        zero = next(iter(q.values())).shared.quantized.new_zeros(())
        cls = {m: unit(qm.shared.quantized[:, 0]) for m, qm in q.items()}
        out = {"align": self.align(cls, f)}
        calls = f.vq_calls()
        out["vq"] = torch.stack([self.commitment(o) for o in calls]).sum()
        spec_mods = [m for m in q if q[m].specific is not None]
        sh_tok = {m: unit(q[m].shared.quantized) for m in spec_mods}
        sp_tok = {m: unit(q[m].specific.quantized) for m in spec_mods}
        out["orth"] = mean_or([self.orthogonal(sh_tok[m], sp_tok[m]) for m in spec_mods], zero)
        out["uni"] = mean_or([self.uniform(sp_tok[m][:, 0]) for m in spec_mods], zero)
        recons = [L.reconstruction_loss(mf.recon.target, mf.recon.prediction)
                  for mf in f.modalities.values() if mf.recon is not None]
        out["recon"] = self.reduce_recon(torch.stack(recons)) if recons else zero
        if self.skips_codebook_losses(step, report):
            out.update(cm=zero, ctr=zero, cuni=zero)
        else:
            out.update(self.codebook_losses(q, calls, f.target, zero))
        return out

    def continuous_losses(self, f: TrainFeatures) -> Dict[str, Tensor]:
        """The hard-alignment baseline (``decouple=False``) or an unquantized decoupled model:
        Eq. 1 on the continuous [CLS] shared parts, plus orth/uni when there is a specific part."""
        cls, spec = {}, {}
        for m, mf in f.modalities.items():
            t = mf.tokens
            s, p = pool_clips(t.shared[:, 0], None if t.specific is None else t.specific[:, 0], t.clips)
            cls[m] = unit(s)
            if p is not None:
                spec[m] = unit(p)
        out = {"align": self.align(cls, f)}
        zero = out["align"].new_zeros(())
        out["orth"] = mean_or([L.orthogonal_loss(cls[m], p) for m, p in spec.items()], zero)
        out["uni"] = mean_or([self.uniform(p) for p in spec.values()], zero)
        out.update(recon=zero, vq=zero, cm=zero, ctr=zero, cuni=zero)
        return out

    # ---- weighting ---------------------------------------------------------------------------
    def weights(self, target: str) -> L.LossWeights:
        """λ of ``loss.weights``: explicit, the official configs' or Table 1's for the target."""
        w = self.config.weights
        if isinstance(w, dict):
            return L.LossWeights(**w)
        if w == "official":
            return L.official_weights_for(target)
        return L.weights_for(target)

    def with_total(self, out: Dict[str, Tensor], target: str, step: Optional[int]) -> Dict[str, Tensor]:
        """Add ``total``: the balancer's weighting, or the fixed weights."""
        if self.balancer is not None:
            out["total"], _ = self.balancer(out, step)
        else:
            w = self.weights(target)
            out["total"] = sum(getattr(w, k) * out[k] for k in L.LOSS_NAMES)
        return out
