"""Training objectives: one class per numerics, picked by :func:`create_loss` from the config."""
from .base import Objective
from .factory import OBJECTIVES, create_loss
from .official import OfficialObjective
from .paper import PaperObjective

__all__ = ["OBJECTIVES", "Objective", "OfficialObjective", "PaperObjective", "create_loss"]
