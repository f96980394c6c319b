"""Observation memory: SQLite store + codebook lookup-table (asymmetric distance) search.

>>> from codebind_core.memory import ObservationMemory, CodebookSet, Observation, MemoryConfig
>>> mem = ObservationMemory("memory.db", CodebookSet.from_model(model), MemoryConfig())
"""
from .codebooks import CodebookMismatchError, CodebookSet
from .config import MemoryConfig
from .observation import Observation, SearchHit
from .observation_memory import ObservationMemory

__all__ = ["CodebookMismatchError", "CodebookSet", "MemoryConfig", "Observation", "ObservationMemory", "SearchHit"]
