"""What the memory stores and returns: an observation and a ranked search hit."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

Vec3 = Tuple[float, float, float]
Box = Tuple[float, float, float, float]


def finite_tuple(name: str, value: Optional[Sequence[float]], n: int):
    if value is None:
        return None
    try:
        t = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {n} numbers, got {value!r}") from None
    if len(t) != n:
        raise ValueError(f"{name} must have {n} values, got {len(t)}")
    if not all(math.isfinite(v) for v in t):
        raise ValueError(f"{name} has NaN or inf: {t}")
    return t


@dataclass
class Observation:
    """One embedded sensor observation with where and when it was seen.

    Attributes:
        modality: sensor modality that produced it ("camera", "depth", "audio", ...).
        codebook_set: codebook set that decodes ``codes`` (paper §3.4).
        codes: (m,) shared-codebook index per sub-vector of the shared embedding.
        stamp_ns: time of the sensor data, nanoseconds.
        frame_id: frame of ``position`` and ``size``.
        position, size: 3-D centre and extent in metres (None when unknown).
        box: (x0, y0, x1, y1) pixel box in the camera image (None when unknown).
        specific_codes: optional specific-codebook indices (kept for intra-modal use).
        model_id: identifies the checkpoint that produced the codes.
    """

    modality: str
    codebook_set: str
    codes: np.ndarray
    stamp_ns: int
    frame_id: str = ""
    position: Optional[Vec3] = None
    size: Optional[Vec3] = None
    box: Optional[Box] = None
    specific_codes: Optional[np.ndarray] = None
    model_id: str = ""

    def validated(self) -> "Observation":
        """A checked copy (ValueError naming the problem otherwise)."""
        if not isinstance(self.modality, str) or not self.modality:
            raise ValueError("observation modality must be a non-empty string")
        if not isinstance(self.codebook_set, str) or not self.codebook_set:
            raise ValueError("observation codebook_set must be a non-empty string")
        stamp = int(self.stamp_ns)
        if stamp < 0:
            raise ValueError(f"observation stamp must be >= 0 ns, got {stamp}")
        box = finite_tuple("box", self.box, 4)
        if box is not None and (box[2] < box[0] or box[3] < box[1]):
            raise ValueError(f"box must be (x0, y0, x1, y1) with x0 <= x1 and y0 <= y1, got {box}")
        size = finite_tuple("size", self.size, 3)
        if size is not None and min(size) < 0:
            raise ValueError(f"size must be non-negative, got {size}")
        codes = np.asarray(self.codes).reshape(-1)
        spec = None if self.specific_codes is None else np.asarray(self.specific_codes).reshape(-1)
        if spec is not None and spec.size == 0:
            spec = None
        if spec is not None and (not np.issubdtype(spec.dtype, np.integer) or spec.min() < 0 or spec.max() > 65535):
            raise ValueError("specific_codes must be integers in [0, 65535]")
        return Observation(self.modality, self.codebook_set, codes, stamp, str(self.frame_id),
                           finite_tuple("position", self.position, 3), size, box,
                           None if spec is None else spec.astype(np.uint16), str(self.model_id))


@dataclass
class SearchHit:
    """A ranked result: the stored observation, its row id and its cosine score to the query."""

    id: int
    score: float
    observation: Observation
