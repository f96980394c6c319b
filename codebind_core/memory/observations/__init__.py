"""Observations: what the memory stores of each sensor message (codes, where, when), kept in
SQLite (:mod:`..store`) and mirrored in RAM for the code-table search (:mod:`.memory`)."""
from .memory import ObservationMemory
from .types import Observation, SearchHit

__all__ = ["Observation", "ObservationMemory", "SearchHit"]
