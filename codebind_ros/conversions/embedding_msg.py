"""codebind_core Embedding <-> codebind_ros/Embedding message.

The message names the codebook set (paper §3.4) ``path``, its wire name; this module is the one
place that maps it to and from ``codebook_set``, the name everywhere else.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from codebind_ros.conversions.results import roi_to_box
from codebind_ros.msg import Embedding as EmbeddingMsg
from codebind_ros.perception.placement import SensorProposal

MAX_CODE = np.iinfo(np.uint16).max


def _codes(codes, what: str) -> bytes:
    array = np.asarray(codes.detach().cpu() if hasattr(codes, "detach") else codes).reshape(-1)
    if array.size and (array.min() < 0 or array.max() > MAX_CODE):
        raise ValueError(f"{what} out of the uint16 range 0..{MAX_CODE}")
    return array.astype(np.uint16)


def _floats(tensor) -> np.ndarray:
    return np.asarray(tensor.detach().float().cpu(), dtype=np.float32).reshape(-1)


def to_msg(embedding, index: int, header, modality: str, model_id: str) -> EmbeddingMsg:
    """Row ``index`` of a core :class:`codebind_core.Embedding` as a message with ``header``."""
    if not 0 <= index < len(embedding):
        raise ValueError(f"index {index} outside the batch of {len(embedding)}")
    msg = EmbeddingMsg()
    msg.header = header
    msg.modality = modality
    msg.model_id = model_id
    msg.path = embedding.codebook_set  # the wire name of the codebook set
    msg.shared = _floats(embedding.shared[index])
    if embedding.specific is not None:
        msg.specific = _floats(embedding.specific[index])
    msg.codes = _codes(embedding.codes[index], "shared codes")
    if embedding.specific_codes is not None:
        msg.specific_codes = _codes(embedding.specific_codes[index], "specific codes")
    return msg


@dataclass(frozen=True)
class EmbeddingArrays:
    """The content of an Embedding message besides its header, modality and model id."""

    codebook_set: str                    # the message's ``path``
    shared: np.ndarray                   # (D,) float32
    specific: Optional[np.ndarray]       # (Ds,) float32 or None
    codes: np.ndarray                    # (m,) uint16
    specific_codes: Optional[np.ndarray]  # (ms,) uint16 or None


def from_msg(msg: EmbeddingMsg) -> EmbeddingArrays:
    """Arrays of an Embedding message (empty optional parts become None)."""
    shared = np.asarray(msg.shared, dtype=np.float32)
    if shared.size == 0:
        raise ValueError("embedding message has an empty shared part")
    specific = np.asarray(msg.specific, dtype=np.float32)
    spec_codes = np.asarray(msg.specific_codes, dtype=np.uint16)
    return EmbeddingArrays(msg.path, shared, specific if specific.size else None,
                           np.asarray(msg.codes, dtype=np.uint16),
                           spec_codes if spec_codes.size else None)


def proposals_from_msg(msg) -> Tuple[List[SensorProposal], List[str]]:
    """The proposals of a ProposalArray (embedding + geometry in the sensor frame), and why each
    one that could not be read was left out."""
    items, errors = [], []
    for geo in msg.proposals:
        try:
            arrays = from_msg(geo.embedding)
        except ValueError as exc:
            errors.append(f"proposal: {exc}")
            continue
        has = geo.has_position
        items.append(SensorProposal(geo.embedding.modality, arrays.codebook_set, arrays.codes, arrays.shared,
                                    roi_to_box(geo.box),
                                    (geo.position.x, geo.position.y, geo.position.z) if has else None,
                                    (geo.size.x, geo.size.y, geo.size.z) if has else None,
                                    arrays.specific_codes, geo.embedding.model_id))
    return items, errors
