"""What the CodeBind network hands the training objective for one batch (no loss is computed
here): per modality its tokens, its two VQ calls and the decoder's reconstruction."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import torch

from .quantize import VQOutput


@dataclass
class Tokens:
    """Per-token outputs of one modality's trunk and heads (clips folded into the batch)."""

    shared: torch.Tensor               # (N, T, D)
    specific: Optional[torch.Tensor]   # (N, T, Ds); None for text / no decoupling
    target: Optional[torch.Tensor]     # (N, P, patch_dim) reconstruction target
    clips: int                         # N = B * clips
    trunk: Optional[torch.Tensor]      # (N, T, width) trunk tokens for the decoder shortcut


@dataclass
class Quantized:
    """The two VQ calls of one modality in a training step (each carries its commitment)."""

    shared: VQOutput
    specific: Optional[VQOutput]


@dataclass
class Reconstruction:
    """Eq. 2's pair for one modality with a decoder: the (B, P, patch_dim) patch target (averaged
    over clips) and the decoder's prediction from the quantized [shared, specific] tokens."""

    target: torch.Tensor
    prediction: torch.Tensor


@dataclass
class ModalityFeatures:
    tokens: Tokens
    vq: Optional[Quantized] = None                 # None for a model without codebooks
    recon: Optional[Reconstruction] = None         # None where no decoder reconstructs it


@dataclass
class TrainFeatures:
    """The network's output for a training batch {"text", "image", <target>}.

    ``modalities`` is in the official order (text, target, image); ``temperature`` is the
    InfoNCE τ of the batch (from the model's logit scale or config, as open_clip hands the loss
    its logit scale)."""

    target: str
    modalities: Dict[str, ModalityFeatures]
    temperature: torch.Tensor
    quantized: bool

    def vq_calls(self) -> List[VQOutput]:
        """Every VQ call of the step in order: per modality shared, then specific."""
        return [o for f in self.modalities.values() if f.vq is not None
                for o in (f.vq.shared, f.vq.specific) if o is not None]
