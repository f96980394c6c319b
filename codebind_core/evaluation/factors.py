"""Modality-unique factors of SynthBind: what only one sensor sees (paper §4.3 "fine-grained
details" and App. C.2, with known ground truth instead of VLM labels).

Each target modality gets one factor its bridges (image, and category-level text prompts) do not
determine; continuous factors are cut into quantile bins computed on the training split.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional

import numpy as np

Factors = Dict[str, np.ndarray]


@dataclass(frozen=True)
class UniqueFactor:
    """A named labelling of samples by a factor only `modality` observes."""

    name: str
    value: Callable[[Factors], np.ndarray]   # raw per-sample value
    bins: Optional[int] = None               # quantile bins for continuous values, None = categorical

    def edges(self, train: Factors) -> Optional[np.ndarray]:
        if self.bins is None:
            return None
        return np.quantile(self.value(train), np.linspace(0, 1, self.bins + 1)[1:-1])

    def labels(self, factors: Factors, edges: Optional[np.ndarray]) -> np.ndarray:
        v = self.value(factors)
        return (np.digitize(v, edges) if edges is not None else v).astype(np.int64)


UNIQUE_FACTORS: Dict[str, UniqueFactor] = {
    "depth": UniqueFactor("wall distance", lambda f: f["wall_distance"], bins=4),
    "thermal": UniqueFactor("temperature above ambient", lambda f: f["temperature"] - f["ambient_temperature"], bins=4),
    "tactile": UniqueFactor("material", lambda f: f["material"]),
    "audio": UniqueFactor("material", lambda f: f["material"]),
    "pointcloud": UniqueFactor("object size", lambda f: f["scale"], bins=4),
    "video": UniqueFactor("spin direction", lambda f: (f["video_speed"] > 0)),
    "eeg": UniqueFactor("subject", lambda f: f["subject"]),
    "image": UniqueFactor("background", lambda f: f["background"]),
}


def unique_factor(modality: str) -> UniqueFactor:
    if modality not in UNIQUE_FACTORS:
        raise ValueError(f"no modality-unique factor defined for {modality!r}; known: {sorted(UNIQUE_FACTORS)}")
    return UNIQUE_FACTORS[modality]
