"""What the object memory takes and gives: a proposal, a persistent object, a ranked object hit.

A *proposal* is one sighting of something in one frame: its embedding (float vector or shared
codes of a codebook set), 3-D centre and extent in the fixed frame, stamp, modality and source.
An *object* is what the memory keeps of many sightings of the same physical thing: fused codes,
fused position and extent, first / last seen, number of views, observing modalities, and whether
its place was seen empty (``gone``) or it was re-found elsewhere (``moves``, ``previous_position``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..observations.types import Vec3, finite_tuple

PRESENT, GONE = "present", "gone"
STATUSES = (PRESENT, GONE)


@dataclass
class ObjectProposal:
    """One sighting of an object (e.g. a localisation proposal), in ``frame_id``.

    Give the embedding as ``embedding`` (D,) float (fused exactly, then quantized) or as ``codes``
    (m,) of ``codebook_set``'s shared codebook.
    """

    codebook_set: str
    stamp_ns: int
    position: Vec3
    codes: Optional[np.ndarray] = None
    embedding: Optional[np.ndarray] = None
    size: Optional[Vec3] = None
    modality: str = "camera"
    source: str = ""
    label: str = ""
    frame_id: str = ""

    def validated(self) -> "ObjectProposal":
        if not isinstance(self.codebook_set, str) or not self.codebook_set:
            raise ValueError("proposal codebook_set must be a non-empty string")
        if not isinstance(self.modality, str) or not self.modality:
            raise ValueError("proposal modality must be a non-empty string")
        if int(self.stamp_ns) < 0:
            raise ValueError(f"proposal stamp must be >= 0 ns, got {self.stamp_ns}")
        if self.position is None:
            raise ValueError("a proposal needs a 3-D position")
        size = finite_tuple("size", self.size, 3)
        if size is not None and min(size) < 0:
            raise ValueError(f"size must be non-negative, got {size}")
        if (self.codes is None) == (self.embedding is None):
            raise ValueError("give a proposal exactly one of codes or embedding")
        emb = None
        if self.embedding is not None:
            emb = np.asarray(self.embedding, np.float32).reshape(-1)
            if not np.isfinite(emb).all() or not np.any(emb):
                raise ValueError("proposal embedding must be finite and non-zero")
        codes = None if self.codes is None else np.asarray(self.codes).reshape(-1)
        return replace(self, stamp_ns=int(self.stamp_ns), position=finite_tuple("position", self.position, 3),
                       size=size, codes=codes, embedding=emb, frame_id=str(self.frame_id).lstrip("/"))

    def transformed(self, transform, frame_id: str) -> "ObjectProposal":
        """This proposal in ``frame_id``, given ``transform`` = frame_id <- self.frame_id (a
        :class:`codebind_core.geometry.RigidTransform`); the extent becomes the axis-aligned box
        around the rotated one."""
        pos = tuple(float(v) for v in transform.apply(np.asarray(self.position, np.float64)))
        size = None if self.size is None else tuple(float(v) for v in transform.rotate_extent(self.size))
        return replace(self, position=pos, size=size, frame_id=frame_id)


@dataclass
class MemoryObject:
    """A persistent object of the memory; positions in the memory's fixed frame, stamps in ns."""

    id: int
    codebook_set: str
    codes: np.ndarray
    position: Vec3
    extent: Vec3
    first_seen_ns: int
    last_seen_ns: int
    views: int = 1
    modalities: Tuple[str, ...] = ()
    label: str = ""
    status: str = PRESENT
    misses: int = 0
    moves: int = 0
    previous_position: Optional[Vec3] = None
    moved_ns: Optional[int] = None
    weight: float = 1.0

    @property
    def radius(self) -> float:
        return 0.5 * float(max(self.extent))

    def to_dict(self) -> dict:
        return {"id": int(self.id), "label": self.label, "codebook_set": self.codebook_set, "status": self.status,
                "position": [float(v) for v in self.position], "extent": [float(v) for v in self.extent],
                "first_seen_ns": int(self.first_seen_ns), "last_seen_ns": int(self.last_seen_ns),
                "views": int(self.views), "modalities": list(self.modalities), "misses": int(self.misses),
                "moves": int(self.moves),
                "previous_position": None if self.previous_position is None else list(self.previous_position),
                "moved_ns": self.moved_ns, "weight": float(self.weight),
                "codes": np.asarray(self.codes, np.uint16).tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "MemoryObject":
        """Inverse of :meth:`to_dict` (ValueError naming a missing or malformed field)."""
        try:
            status = d.get("status", PRESENT)
            if status not in STATUSES:
                raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
            codes = np.asarray(d["codes"])
            if codes.ndim != 1 or codes.size == 0 or not np.issubdtype(codes.dtype, np.integer):
                raise ValueError("codes must be a non-empty list of integers")
            prev = d.get("previous_position")
            obj = cls(int(d["id"]), str(d["codebook_set"]), codes.astype(np.int64),
                      finite_tuple("position", d["position"], 3), finite_tuple("extent", d["extent"], 3),
                      int(d["first_seen_ns"]), int(d["last_seen_ns"]), int(d["views"]),
                      tuple(str(m) for m in d.get("modalities", ())), str(d.get("label", "")), status,
                      int(d.get("misses", 0)), int(d.get("moves", 0)),
                      None if prev is None else finite_tuple("previous_position", prev, 3),
                      None if d.get("moved_ns") is None else int(d["moved_ns"]), float(d.get("weight", 1.0)))
        except KeyError as e:
            raise ValueError(f"object entry lacks field {e.args[0]!r}") from None
        except (TypeError, ValueError) as e:
            raise ValueError(f"object entry {d.get('id', '?')!r} is malformed: {e}") from None
        if obj.views < 1 or obj.last_seen_ns < obj.first_seen_ns or min(obj.extent) < 0:
            raise ValueError(f"object {obj.id}: need views >= 1, last_seen >= first_seen, extent >= 0")
        return obj


@dataclass
class ObjectHit:
    """A ranked object: cosine score of its fused (quantized) embedding to the query."""

    score: float
    object: MemoryObject


@dataclass
class ObserveResult:
    """What one :meth:`ObjectMemory.observe` call did (all of it committed)."""

    object_ids: List[int] = field(default_factory=list)   # per proposal, in order
    created: List[int] = field(default_factory=list)
    moved: List[int] = field(default_factory=list)
    missed: List[int] = field(default_factory=list)       # place seen empty this frame
    gone: List[int] = field(default_factory=list)         # became gone this frame
    evicted: List[int] = field(default_factory=list)
    merged: Dict[int, int] = field(default_factory=dict)  # removed id -> the (moved) object it joined
