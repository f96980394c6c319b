"""Loss weights: App. B.2 Table 1 per target modality, the official per-modality configs
(official §13) and the official InfoNCE temperatures (official §1)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import median
from typing import Dict, Mapping, Tuple

from torch import Tensor

LOSS_NAMES: Tuple[str, ...] = ("align", "recon", "orth", "uni", "vq", "cm", "ctr", "cuni")


def _non_negative(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


# ---- weights (App. B.2 Table 1) -----------------------------------------------------------
@dataclass(frozen=True)
class LossWeights:
    """λ of each loss in the weighted sum ``Σ λ_name · L_name`` (all finite and >= 0)."""

    vq: float
    ctr: float
    cuni: float
    cm: float
    orth: float
    uni: float
    recon: float
    align: float = 1.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            _non_negative(value, f"LossWeights.{name}")

    def as_dict(self) -> Dict[str, float]:
        """{name: λ} in the order of :data:`LOSS_NAMES`."""
        return {name: float(getattr(self, name)) for name in LOSS_NAMES}

    def total(self, losses: Mapping[str, Tensor]) -> Tensor:
        """Σ λ_name · losses[name] over the names present in ``losses`` (all must be known)."""
        unknown = sorted(set(losses) - set(LOSS_NAMES))
        if unknown:
            raise ValueError(f"unknown loss names {unknown}; known: {list(LOSS_NAMES)}")
        if not losses:
            raise ValueError("no loss to weight")
        return sum(getattr(self, name) * value for name, value in losses.items())


# Table 1 of App. B.2, column order Image, Video, Depth, Audio, Thermal, Tactile, EEG.
TABLE1_COLUMNS: Tuple[str, ...] = ("image", "video", "depth", "audio", "thermal", "tactile", "eeg")
TABLE1_ROWS: Dict[str, Tuple[float, ...]] = {
    "vq": (10, 10, 1000, 50, 1000, 1000, 10),
    "ctr": (0.01, 0.01, 0.01, 0.01, 0.05, 0.01, 0.01),   # one column "L_cctr, L_cuni" ...
    "cuni": (0.01, 0.01, 0.01, 0.01, 0.05, 0.01, 0.01),  # ... shared by both losses
    "cm": (0.05, 0.05, 0.1, 1.0, 1.0, 0.1, 0.1),
    "orth": (0.1, 0.1, 0.1, 0.1, 1.0, 0.05, 0.05),
    "uni": (1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.1),
    "recon": (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
}


def _table1_presets() -> Dict[str, LossWeights]:
    presets = {col: LossWeights(**{row: float(vals[i]) for row, vals in TABLE1_ROWS.items()})
               for i, col in enumerate(TABLE1_COLUMNS)}
    # Point clouds are not in Table 1: like depth they are geometry-only, so they take its column.
    presets["pointcloud"] = presets["depth"]
    # Any other target: the per-row median of Table 1.
    presets["default"] = LossWeights(**{row: float(median(vals)) for row, vals in TABLE1_ROWS.items()})
    return presets


WEIGHT_PRESETS: Dict[str, LossWeights] = _table1_presets()


def weights_for(modality: str) -> LossWeights:
    """The Table 1 weights for a target modality (``"default"`` for others)."""
    if modality not in WEIGHT_PRESETS:
        raise ValueError(f"no loss-weight preset for {modality!r}; choose one of {sorted(WEIGHT_PRESETS)}")
    return WEIGHT_PRESETS[modality]


# ---- the official per-modality configs (official §13), where they differ from Table 1 --------
# Same rows as Table 1; tactile (orth, uni) and LLVIP thermal (vq, reg, cm, orth) differ.
OFFICIAL_ROWS: Dict[str, Dict[str, float]] = {
    "image": dict(vq=10, ctr=0.01, cuni=0.01, cm=0.05, orth=0.1, uni=1.0, recon=1.0),
    "video": dict(vq=10, ctr=0.01, cuni=0.01, cm=0.05, orth=0.1, uni=1.0, recon=1.0),
    "depth": dict(vq=1000, ctr=0.01, cuni=0.01, cm=0.1, orth=0.1, uni=1.0, recon=1.0),
    "audio": dict(vq=50, ctr=0.01, cuni=0.01, cm=1.0, orth=0.1, uni=1.0, recon=1.0),
    "thermal": dict(vq=1000, ctr=0.05, cuni=0.05, cm=1.0, orth=1.0, uni=1.0, recon=1.0),        # FLIR
    "thermal_llvip": dict(vq=100, ctr=0.01, cuni=0.01, cm=0.5, orth=0.5, uni=1.0, recon=1.0),
    "tactile": dict(vq=1000, ctr=0.01, cuni=0.01, cm=0.1, orth=0.1, uni=1.0, recon=1.0),
    "eeg": dict(vq=10, ctr=0.01, cuni=0.01, cm=0.1, orth=0.05, uni=0.1, recon=1.0),
}
OFFICIAL_WEIGHT_PRESETS: Dict[str, LossWeights] = {m: LossWeights(**w) for m, w in OFFICIAL_ROWS.items()}
OFFICIAL_WEIGHT_PRESETS["pointcloud"] = OFFICIAL_WEIGHT_PRESETS["depth"]
OFFICIAL_WEIGHT_PRESETS["default"] = WEIGHT_PRESETS["default"]

# Fixed InfoNCE temperature τ of the official configs (official §1): 0.05 audio, 0.1 thermal.
OFFICIAL_TEMPERATURES: Dict[str, float] = {"audio": 0.05, "thermal": 0.1, "thermal_llvip": 0.1}
DEFAULT_TEMPERATURE = 0.07


def official_weights_for(modality: str) -> LossWeights:
    """The weights of the official per-modality config (``"default"`` for others)."""
    return OFFICIAL_WEIGHT_PRESETS.get(modality, OFFICIAL_WEIGHT_PRESETS["default"])


def official_temperature(modality: str) -> float:
    """The fixed τ of the official config of a target modality (0.07 where none is given)."""
    return OFFICIAL_TEMPERATURES.get(modality, DEFAULT_TEMPERATURE)
