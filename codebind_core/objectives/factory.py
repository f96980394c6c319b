"""The one factory of training objectives: ``loss.numerics`` picks the class."""
from __future__ import annotations

from typing import Dict, Optional, Type

from ..balancer import AdaptiveBalancer
from ..config import LossConfig
from .base import Objective
from .official import OfficialObjective
from .paper import PaperObjective

OBJECTIVES: Dict[str, Type[Objective]] = {"official": OfficialObjective, "paper": PaperObjective}


def create_loss(config: LossConfig, balancer: Optional[AdaptiveBalancer] = None) -> Objective:
    """The objective of ``config.numerics`` ("official" or "paper") weighting its losses with
    ``balancer`` when given, else with ``config.weights``."""
    if config.numerics not in OBJECTIVES:
        raise ValueError(f"loss.numerics must be one of {sorted(OBJECTIVES)}, got {config.numerics!r}")
    return OBJECTIVES[config.numerics](config, balancer)
