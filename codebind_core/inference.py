"""The one inference path after a trunk: [CLS] token -> heads -> clip mean -> VQ (§3.4).

:meth:`codebind_core.CodeBind.encode` and the export graph
(:class:`codebind_core.export.onnx_graphs.EncoderGraph`) both call :func:`embed_cls`; they differ
only in the quantizers they pass (the model's read-only :class:`~codebind_core.quantize.CompositionalVQ`,
the export's matmul + ArgMax + Gather :class:`~codebind_core.export.onnx_graphs.QuantizerGraph`).
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from .pooling import pool_clips

# (B, D) -> (unit quantized (B, D), codes (B, m))
Quantizer = Callable[[Tensor], Tuple[Tensor, Tensor]]
# shared, specific (or None), codes (or None when unquantized), specific codes (or None)
Embedded = Tuple[Tensor, Optional[Tensor], Optional[Tensor], Optional[Tensor]]


def embed_cls(head: nn.Module, cls: Tensor, quantize_shared: Optional[Quantizer] = None,
              quantize_specific: Optional[Quantizer] = None, specific: bool = True, clips: int = 1,
              batch: Optional[int] = None, dtype=None) -> Embedded:
    """(N·clips, width) [CLS] tokens of one modality -> per sample unit shared / specific parts
    and their codes.

    The decoupled head (App. A.3) splits each token, ``[shared; specific]`` is normalised and
    averaged over a sample's clips (:func:`~codebind_core.pooling.pool_clips`; ``clips`` or
    ``batch``), then each part is quantized (``quantize_*``; None: unquantized, unit vectors and
    no codes). ``specific=False`` (or a shared-only head) leaves the specific part out.
    ``dtype`` casts the head outputs first (the export's fp16 trunk, fp32 VQ)."""
    shared, spec = head(cls)
    if dtype is not None:
        shared, spec = shared.to(dtype), (None if spec is None else spec.to(dtype))
    shared, spec = pool_clips(shared, spec, clips, batch=batch)
    if not specific:
        spec = None
    if quantize_shared is None:
        return F.normalize(shared, dim=-1), (None if spec is None else F.normalize(spec, dim=-1)), None, None
    q_shared, codes = quantize_shared(shared)
    if spec is None:
        return q_shared, None, codes, None
    q_spec, spec_codes = quantize_specific(spec)
    return q_shared, q_spec, codes, spec_codes


def encodable_modalities(model) -> list:
    """What ``model`` encodes: the two bridges, then its target modalities."""
    return ["text", "image", *sorted(model.encoders)]


def check_modality(model, modality: str) -> str:
    """``modality`` if ``model`` encodes it; else a ValueError naming what it encodes. The core
    speaks only its own modality names: ROS's ``camera`` sensor is the ``image`` modality."""
    known = encodable_modalities(model)
    if modality not in known:
        raise ValueError(f"this model has no {modality!r} encoder; it has {known}{ros_name_hint(modality)}")
    return modality


def ros_name_hint(modality: str) -> str:
    """The note errors add for a ROS sensor name given where the core wants a modality."""
    return " ('camera' is the ROS sensor name; the core modality is 'image')" if modality == "camera" else ""


def check_modalities(names: Sequence[str], known: Sequence[str]) -> None:
    """Every name is in ``known`` (the exportable modalities); else a ValueError naming them."""
    unknown = [m for m in names if m not in known]
    if unknown:
        hint = "".join(sorted({ros_name_hint(m) for m in unknown}))
        raise ValueError(f"this model cannot encode {unknown}; it encodes {list(known)}{hint}")
