"""Objects: proposals associated across frames into persistent objects in a fixed frame.

:mod:`.association` (the decisions, pure functions), :mod:`.memory` (``ObjectMemory``, the facade
over the index in RAM and the SQLite table), :mod:`.types`, :mod:`.config`, :mod:`.index`,
:mod:`.table`, :mod:`.export` (object map files).
"""
from .config import ObjectConfig
from .export import ObjectMap, read_object_map
from .memory import ObjectMemory, ObserveResult
from .types import MemoryObject, ObjectHit, ObjectProposal

__all__ = ["MemoryObject", "ObjectConfig", "ObjectHit", "ObjectMap", "ObjectMemory", "ObjectProposal", "ObserveResult",
           "read_object_map"]
