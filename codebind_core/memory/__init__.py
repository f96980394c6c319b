"""Observation memory: SQLite store + codebook lookup-table (asymmetric distance) search.

>>> from codebind_core.memory import ObservationMemory, CodebookSet, Observation, MemoryConfig
>>> mem = ObservationMemory("memory.db", CodebookSet.from_model(model), MemoryConfig())

Objects in a fixed frame (proposals associated across frames, moved / gone, exported):

>>> objs = ObjectMemory.open("memory.db", CodebookSet.from_model(model), object_config=ObjectConfig("map"))
>>> objs.observe(proposals_in_map, view=camera_view); objs.query({"pointcloud": text_vec}, min_score=0.25)
"""
from .codebooks import CodebookMismatchError, CodebookSet
from .config import MemoryConfig
from .objects import (MemoryObject, ObjectConfig, ObjectHit, ObjectMap, ObjectMemory, ObjectProposal, ObserveResult,
                      read_object_map)
from .observations import Observation, ObservationMemory, SearchHit

__all__ = ["CodebookMismatchError", "CodebookSet", "MemoryConfig", "MemoryObject", "ObjectConfig", "ObjectHit",
           "ObjectMap", "ObjectMemory", "ObjectProposal", "Observation", "ObservationMemory", "ObserveResult",
           "SearchHit", "read_object_map"]
