"""World-frame placement of what the memory stores (no rclpy): one proposal frame's proposals, in
the sensor frame they were seen in, become observations and object proposals in the fixed frame.

A proposal with a 3-D centre is moved by the sensor pose at the frame's stamp (fixed <- sensor;
its extent becomes the axis-aligned box around the rotated one) and stored with its image box; one
without a centre is stored with its box only. A proposal that does not fit the memory (another
model, codes outside the codebooks, bad geometry) is left out with the reason, the others of the
frame are kept. With no pose source (``pose`` None: a fixed sensor whose frame is the fixed frame)
positions stay as they are and the observations keep the sensor's frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from codebind_core.geometry import RigidTransform
from codebind_core.memory import CodebookSet, ObjectProposal, Observation

Vec3 = Tuple[float, float, float]


@dataclass(frozen=True)
class SensorProposal:
    """One proposal as the localiser sent it: its embedding and geometry in the sensor frame."""

    modality: str
    codebook_set: str
    codes: np.ndarray                      # (m,) shared codes
    shared: np.ndarray                     # (D,) shared embedding
    box: Optional[Tuple[float, float, float, float]] = None   # pixels (x0, y0, x1, y1)
    position: Optional[Vec3] = None        # centre (m), sensor frame; None: unknown
    size: Optional[Vec3] = None            # extent (m), sensor frame
    specific_codes: Optional[np.ndarray] = None
    model_id: str = ""


@dataclass
class PlacedFrame:
    """What one proposal frame gives the memory."""

    observations: List[Observation] = field(default_factory=list)
    proposals: List[ObjectProposal] = field(default_factory=list)  # those with a centre, for ObjectMemory
    dropped: List[str] = field(default_factory=list)               # why each left-out proposal was left out


def checked_observation(obs: Observation, codebooks: CodebookSet, model_id: Optional[str] = None) -> Observation:
    """``obs`` validated against the memory (ValueError naming the problem): its fields, its codes
    against the codebooks and, when ``model_id`` is given, the model that produced it."""
    if model_id is not None and obs.model_id != model_id:
        raise ValueError(f"embedding of model {obs.model_id!r}; this memory uses {model_id!r}")
    obs = obs.validated()
    codebooks.check_codes(obs.codebook_set, obs.codes)
    return obs


def place_point(position, pose: Optional[RigidTransform]) -> np.ndarray:
    """A point of the sensor frame in the fixed frame (unchanged without a pose source)."""
    p = np.asarray(position, np.float64)
    return p if pose is None else pose.apply(p)


def place_frame(items: Sequence[SensorProposal], stamp_ns: int, sensor_frame: str, fixed_frame: str,
                pose: Optional[RigidTransform], codebooks: CodebookSet, model_id: Optional[str] = None,
                objects: bool = True) -> PlacedFrame:
    """The observations (and, with ``objects``, the object proposals) of one proposal frame.

    Args:
        items: the frame's proposals.
        stamp_ns, sensor_frame: the frame's stamp and the frame its geometry is in.
        fixed_frame: the frame the memory keeps positions in.
        pose: fixed <- sensor at ``stamp_ns``; None when there is no pose source.
        codebooks: the memory's codebooks (codes are checked against them).
        model_id: accepted model id (None: any).
    """
    out = PlacedFrame()
    frame = sensor_frame if pose is None else fixed_frame
    for item in items:
        where = {"box": item.box}
        try:
            if item.position is not None:
                pos = np.asarray(item.position, np.float64)
                size = np.abs(np.asarray(item.size or (0.0, 0.0, 0.0), np.float64))
                if pose is not None:
                    pos, size = pose.apply(pos), pose.rotate_extent(size)
                where["position"], where["size"] = tuple(map(float, pos)), tuple(map(float, size))
            obs = checked_observation(Observation(item.modality, item.codebook_set, item.codes, stamp_ns, frame,
                                                  specific_codes=item.specific_codes, model_id=item.model_id,
                                                  **where), codebooks, model_id)
        except ValueError as exc:
            out.dropped.append(f"proposal: {exc}")
            continue
        out.observations.append(obs)
        if objects and item.position is not None:
            out.proposals.append(ObjectProposal(obs.codebook_set, stamp_ns, obs.position, size=obs.size,
                                                embedding=item.shared, modality=obs.modality,
                                                source="localisation", frame_id=fixed_frame))
    return out
