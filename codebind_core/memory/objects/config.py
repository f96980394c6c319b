"""Typed, self-validating settings of the object memory (association, change, bounds)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...config_base import Config


@dataclass
class ObjectConfig(Config):
    """How proposals become persistent objects in the fixed frame.

    Attributes:
        fixed_frame: frame of every object position (``map`` or ``odom``); proposals in another
            frame are refused (transform them first, :meth:`ObjectProposal.transformed`).
        gate_distance: a proposal joins an object only within this distance (m) of its centre.
        min_similarity: ... and only when the cosine of their embeddings is at least this.
        reid_similarity: a proposal beyond every gate re-identifies an object (the object moved)
            when the cosine is at least this, and the object is gone, missing, or was last seen at
            its place at least ``reid_min_age_ns`` before.
        reid_min_age_ns: see ``reid_similarity`` (keeps two look-alikes seen together apart).
        moved_similarity: an object whose place was seen empty (missing or gone) is re-identified
            by a proposal elsewhere, or by an object that appeared since it was last seen (which is
            merged into it), with a cosine of at least this, when it is that one's best match
            among all objects of its codebook set.
        miss_limit: an object whose place is seen empty this many times in a row is ``gone``.
        attach_radius: a non-visual observation (sound, touch) attaches to the nearest object
            within this distance (m).
        huber_delta: position fusion weight is 1 within this residual (m) and delta / residual
            beyond it (Huber's M-estimator weight), so a stray view moves an object little.
        max_fusion_weight: cap on the accumulated weight, so an object keeps following slow drift.
        max_objects: bound on stored objects; beyond it the longest-gone, then the least recently
            seen, are evicted (counted in ``ObjectMemory.evicted``).
    """

    fixed_frame: str = "map"
    gate_distance: float = 0.3
    min_similarity: float = 0.5
    reid_similarity: float = 0.8
    reid_min_age_ns: int = 2_000_000_000
    moved_similarity: float = 0.5
    miss_limit: int = 3
    attach_radius: float = 0.3
    huber_delta: float = 0.05
    max_fusion_weight: float = 50.0
    max_objects: int = 100_000

    error_prefix: ClassVar[str] = "ObjectConfig: "

    def validate(self) -> None:
        super().validate()  # types
        check = self.check
        check(bool(self.fixed_frame.strip("/")), f"fixed_frame must name a frame, got {self.fixed_frame!r}")
        check(self.gate_distance > 0, f"gate_distance must be > 0 m, got {self.gate_distance}")
        check(-1 <= self.min_similarity <= 1, f"min_similarity must be in [-1, 1], got {self.min_similarity}")
        check(self.min_similarity <= self.reid_similarity <= 1,
              f"reid_similarity must be in [min_similarity, 1], got {self.reid_similarity}")
        check(self.min_similarity <= self.moved_similarity <= 1,
              f"moved_similarity must be in [min_similarity, 1], got {self.moved_similarity}")
        check(self.reid_min_age_ns >= 0, f"reid_min_age_ns must be >= 0, got {self.reid_min_age_ns}")
        check(self.miss_limit >= 1, f"miss_limit must be >= 1, got {self.miss_limit}")
        check(self.attach_radius > 0, f"attach_radius must be > 0 m, got {self.attach_radius}")
        check(self.huber_delta > 0, f"huber_delta must be > 0 m, got {self.huber_delta}")
        check(self.max_fusion_weight >= 1, f"max_fusion_weight must be >= 1, got {self.max_fusion_weight}")
        check(self.max_objects >= 1, f"max_objects must be >= 1, got {self.max_objects}")
