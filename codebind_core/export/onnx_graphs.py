"""The ONNX graph modules: encoder -> heads -> compositional VQ, as plain nn.Modules.

:class:`EncoderGraph` computes exactly what :meth:`CodeBind.encode` returns at inference (paper
§3.4: encoder, heads and codebooks; no decoder), with only ops ONNX Runtime and TensorRT support:
the [CLS] token of the trunk, then the step both share (:func:`codebind_core.inference.embed_cls`:
decoupled heads, clip average, VQ), with the compositional VQ of §3.3 written as one matmul +
ArgMax + Gather per codebook (:class:`QuantizerGraph`). Data-dependent Python checks of the
training modules (finite inputs, code ranges) are left out: the runtime validates inputs before
they reach the graph.
"""
from __future__ import annotations

import copy as _copy
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..encoders.lora import has_lora
from ..encoders.lora import merge_lora as _merge_lora
from ..inference import check_modality, embed_cls
from ..quantize import CompositionalVQ, shared_book
from .. import modalities


class QuantizerGraph(nn.Module):
    """Compositional VQ (§3.3) for export: (B, D) -> (unit quantized (B, D), codes (B, m)).

    As :meth:`CompositionalVQ.encode`: codes by cosine against the unit codebook, the output the
    normalised concatenation of the raw codevectors ``vq.codebook``. Both are float32 copies, so
    a half-precision trunk still quantizes in full precision."""

    def __init__(self, vq: CompositionalVQ):
        super().__init__()
        self.sub_dim = int(vq.sub_dim)
        self.register_buffer("codebook", vq.codebook.detach().clone().float())
        self.register_buffer("unit_codebook", vq.unit_codebook.detach().clone().float())

    def forward(self, z: Tensor) -> Tuple[Tensor, Tensor]:
        sub = z.float().unflatten(-1, (-1, self.sub_dim))
        codes = torch.matmul(sub, self.unit_codebook.T).argmax(dim=-1)
        quantized = F.embedding(codes, self.codebook).flatten(-2)
        return F.normalize(quantized, dim=-1), codes


@dataclass(frozen=True)
class GraphSpec:
    """What an exported graph consumes and produces.

    Attributes:
        modality: the modality it encodes ("text" takes int64 token ids).
        codebook_set: the codebook set (§3.4) it quantizes with.
        input_shape: per-sample input shape (no batch axis; audio keeps its clip axis first).
        input_dtype: "float32" or "int64".
        clip_axis: True when axis 1 of the input holds clips averaged into one embedding.
        outputs: output names in graph order.
    """

    modality: str
    codebook_set: str
    input_shape: Tuple[int, ...]
    input_dtype: str
    clip_axis: bool
    outputs: Tuple[str, ...]


def has_clip_axis(model, modality: str) -> bool:
    """Whether ``modality``'s preprocessed sample carries a clip axis before the encoder's
    expected shape (audio: (clips, 1, mel, frames) for an encoder of (1, mel, frames))."""
    if modality in ("text", "image"):
        return False

    expected = tuple(model.encoders[modality].expected_shape)
    per_sample = tuple(modalities.get(modality).DEFAULTS.output_shape())
    return len(per_sample) == len(expected) + 1


def input_shape(model, modality: str, clips: int = 1) -> Tuple[int, ...]:
    """Per-sample input shape of ``modality``'s graph for ``model``."""
    if modality == "text":
        return (int(model.bridge.context_length),)
    if modality == "image":
        s = int(model.bridge.image_size)
        return (3, s, s)
    if modality not in model.encoders:
        raise ValueError(f"this model has no {modality!r} encoder; it has {sorted(model.encoders)}")
    expected = tuple(int(d) for d in model.encoders[modality].expected_shape)
    return ((clips,) + expected) if has_clip_axis(model, modality) else expected


class EncoderGraph(nn.Module):
    """One modality of a CodeBind model as a pure tensor function.

    Inputs: a float batch (B, *input_shape) or, for text, int64 token ids (B, context_length).
    Outputs: ``shared`` (B, D) unit, quantized; then ``specific`` (B, Ds) when requested and the
    model has a specific part; then ``codes`` (B, m) and ``specific_codes`` (B, ms) when the model
    is quantized. ``half=True`` runs the trunk and heads in float16 and the VQ in float32
    (the fp16 export variant). ``merge_lora=True`` folds LoRA adapters into their base layers
    (same function, fewer ops). The trunk and head are the model's own modules unless they are
    merged, halved or ``copy=True`` (then copies, and the model is never modified).
    ``codebook_set`` picks the codebook set (§3.4) as in :meth:`CodeBind.encode`."""

    def __init__(self, model, modality: str, codebook_set: Optional[str] = None, specific: bool = True,
                 half: bool = False, merge_lora: bool = True, copy: bool = False):
        super().__init__()
        self.modality = check_modality(model, modality)
        self.codebook_set = model.config.codebook_set_for(modality, codebook_set)
        self.quantized = bool(model.quantized)
        self.half = half
        trunk = model.bridge if modality in ("text", "image") else model.encoders[modality]
        head = model.heads[modality]
        if copy or half or (merge_lora and has_lora(trunk)):
            trunk, head = _copy.deepcopy(trunk), _copy.deepcopy(head)
        if merge_lora and has_lora(trunk):
            trunk = _merge_lora(trunk)
        if half:
            trunk, head = trunk.half(), head.half()
        self.trunk: nn.Module = trunk
        self.head: nn.Module = head
        self.specific = bool(specific and modality != "text" and self.head.specific is not None)
        self.clip_axis = has_clip_axis(model, modality)
        if self.quantized:
            books = model.codebooks[self.codebook_set]
            self.vq_shared = QuantizerGraph(shared_book(books, modality))
            self.vq_specific = QuantizerGraph(books[modality]) if self.specific else None

    def spec(self, model) -> GraphSpec:
        return GraphSpec(self.modality, self.codebook_set, input_shape(model, self.modality),
                         "int64" if self.modality == "text" else "float32", self.clip_axis,
                         tuple(self.output_names()))

    def output_names(self) -> List[str]:
        names = ["shared"] + (["specific"] if self.specific else [])
        if self.quantized:
            names += ["codes"] + (["specific_codes"] if self.specific else [])
        return names

    def _cls(self, x: Tensor) -> Tensor:
        """(B, width) [CLS]/pooled token of the trunk (clips folded into the batch)."""
        if self.modality == "text":
            return self.trunk.encode_text(x)
        if self.half:
            x = x.half()
        if self.modality == "image":
            return self.trunk.image_tokens(x)[:, 0]
        return self.trunk(x)[:, 0]

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        batch = x.shape[0] if self.clip_axis else None
        if self.clip_axis:
            x = x.flatten(0, 1)
        vq_shared, vq_specific = (self.vq_shared, self.vq_specific) if self.quantized else (None, None)
        # heads, [shared; specific] normalised, clips averaged, VQ: the same function as CodeBind.encode
        shared, spec, codes, spec_codes = embed_cls(self.head, self._cls(x), vq_shared, vq_specific,
                                                    specific=self.specific, batch=batch, dtype=torch.float32)
        return tuple(t for t in (shared, spec, codes, spec_codes) if t is not None)
