"""The object memory's state: every object in RAM (a dict and one :class:`.index.ObjectIndex` per
codebook set, which the gate and the code scans read) and in the ``objects`` table of the
observation memory's SQLite file (:mod:`.table`), changed together, one transaction at a time:
a change is in RAM only after its commit returned (= acknowledged).
"""
from __future__ import annotations

import heapq
from dataclasses import replace
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..codebooks import CodebookSet
from ..observations.memory import ObservationMemory
from . import association as assoc
from .config import ObjectConfig
from .index import ObjectIndex
from .table import ObjectTable
from .types import GONE, PRESENT, MemoryObject, ObserveResult


class ObjectState:
    """Objects in ``config.fixed_frame`` next to an :class:`ObservationMemory` (sharing its lock,
    connection and transactions); :class:`.memory.ObjectMemory` associates proposals into them."""

    def __init__(self, observations: ObservationMemory, config: Optional[ObjectConfig] = None):
        self.observations = observations
        self.codebooks: CodebookSet = observations.codebooks
        self.config = config or ObjectConfig()
        self._lock = observations.lock
        self._store = observations.store
        self._objects: Dict[int, MemoryObject] = {}
        self._index: Dict[str, ObjectIndex] = {}
        self.evicted = 0            # objects removed by the max_objects bound
        self.unattached = 0         # non-visual observations with no object near enough
        self.requantized = 0        # objects re-quantized after a codebook change
        self.damaged_objects: List[int] = []   # unreadable rows removed at open
        self._merges: Dict[int, int] = {}      # merged-away id -> the object it went into
        self.version = 0            # + 1 with every committed change (for readers that cache views)
        self._owns_observations = False
        with self._lock:
            self._table = ObjectTable(self._store)
            self._check_frame()
            self._check_codebooks()
            self._load()

    def __len__(self) -> int:
        return len(self._objects)

    # ---- state -------------------------------------------------------------------------------
    def _transaction(self, fn):
        st = self._store
        st.begin()
        try:
            out = fn()
            st.commit()
            self.version += 1
            return out
        except BaseException:
            st.rollback()
            raise

    def _check_frame(self) -> None:
        frame = self.config.fixed_frame.lstrip("/")
        stored = self._table.fixed_frame()
        if stored is None:
            self._transaction(lambda: self._table.set_fixed_frame(frame))
        elif stored != frame and self._table.count():
            raise ValueError(f"memory database {self._store.path} holds objects in frame {stored!r}, "
                             f"not {frame!r}: use that fixed_frame or another database")

    def _check_codebooks(self) -> None:
        """Objects keep their own copy of the codebooks they were quantized with, so that after
        the observation memory re-indexed for a new model (``on_codebook_mismatch: reindex``) the
        objects are re-quantized too (decode with the old, nearest codevector of the new)."""
        stored = self._table.codebooks_fingerprint()
        if stored == self.codebooks.fingerprint():
            return
        if stored is not None:
            self.requantized, dropped = self._transaction(lambda: self._table.requantize(self.codebooks))
            self.evicted += dropped
        self._transaction(lambda: self._table.write_codebooks(self.codebooks))

    def _load(self) -> None:
        self._merges = self._table.merges()
        objs, bad = self._table.load()
        for o in objs:
            try:
                o.codes = self.codebooks.check_codes(o.codebook_set, o.codes)
                self._put(o)
            except ValueError:
                bad.append(o.id)
        if bad:
            self._transaction(lambda: self._table.delete(bad))
            self.damaged_objects = sorted(bad)

    def _unit(self, codebook_set: str, codes: np.ndarray) -> np.ndarray:
        x = self.codebooks.decode(codebook_set, codes)[0].astype(np.float32)
        return x / max(float(np.linalg.norm(x)), 1e-12)

    def _put(self, obj: MemoryObject, fused: Optional[np.ndarray] = None) -> None:
        """Make ``obj`` the current state in RAM (dict + its codebook set's index)."""
        idx = self._index.get(obj.codebook_set)
        if idx is None:
            dim = obj.codes.size * self.codebooks.sub_dim(obj.codebook_set)
            idx = self._index[obj.codebook_set] = ObjectIndex(obj.codes.size, dim)
        inv = float(self.codebooks.inverse_norms(obj.codebook_set, obj.codes)[0])
        idx.upsert(obj, inv, self._unit(obj.codebook_set, obj.codes) if fused is None else fused)
        self._objects[obj.id] = obj

    def _drop(self, obj_id: int) -> None:
        obj = self._objects.pop(obj_id, None)
        if obj is not None:
            self._index[obj.codebook_set].remove(obj_id)

    def _fused(self, obj: MemoryObject) -> np.ndarray:
        idx = self._index[obj.codebook_set]
        return idx.fused[idx.slot[obj.id]]

    # ---- reading -----------------------------------------------------------------------------
    def get(self, obj_id: int) -> Optional[MemoryObject]:
        with self._lock:
            o = self._objects.get(int(obj_id))
            return None if o is None else replace(o)

    def resolve(self, obj_id: int) -> Optional[int]:
        """The id under which object ``obj_id`` lives now: itself, or the object it was merged into
        (it had been seen elsewhere before its old place was seen empty); None if it was evicted."""
        with self._lock:
            oid = int(obj_id)
            for _ in range(len(self._merges) + 1):
                if oid in self._objects:
                    return oid
                if oid not in self._merges:
                    return None
                oid = self._merges[oid]
            return None

    def recent(self, n: int, include_gone: bool = False) -> List[MemoryObject]:
        """The ``n`` most recently seen objects (copies), newest first; cheaper than sorting
        :meth:`objects` when there are many."""
        with self._lock:
            objs = (o for o in self._objects.values() if include_gone or o.status == PRESENT)
            return [replace(o) for o in heapq.nlargest(int(n), objs, key=lambda o: (o.last_seen_ns, o.id))]

    def objects(self, include_gone: bool = True) -> List[MemoryObject]:
        """Every object (copies), by id."""
        with self._lock:
            return [replace(o) for _, o in sorted(self._objects.items()) if include_gone or o.status == PRESENT]

    def _commit(self, new, changed, res: ObserveResult, removed: Sequence[int] = ()) -> List[int]:
        """Insert ``new``, update ``changed``, delete ``removed`` (merged away) and what the
        ``max_objects`` bound evicts, in one transaction; then the same in RAM."""
        if len(new) > self.config.max_objects:
            raise ValueError(f"{len(new)} new objects exceed max_objects ({self.config.max_objects})")
        keep = set(changed) | set(removed)
        cands = [o for o in self._objects.values() if o.id not in keep]
        victims = [int(i) for i in assoc.eviction_order(
            np.array([o.id for o in cands], np.int64), np.array([o.status == GONE for o in cands], bool),
            np.array([o.last_seen_ns for o in cands], np.int64),
            len(self._objects) + len(new) - len(removed) - self.config.max_objects)]

        def write():
            ids = self._table.insert([o for _, o, _ in new])
            self._table.update([o for o, _ in changed.values()])
            self._table.delete([*victims, *removed])
            self._table.add_merges(res.merged)
            return ids
        ids = self._transaction(write) if (new or changed or victims or removed) else []
        for oid in [*victims, *removed]:
            self._drop(oid)
        self._merges.update(res.merged)
        for o, f in changed.values():
            self._put(o, f)
        for (_, o, f), oid in zip(new, ids):
            o.id = oid
            self._put(o, f)
        self.evicted += len(victims)
        res.evicted = victims
        return ids

    def _update(self, upd: MemoryObject) -> None:
        """Store a changed object (same codes, so the same fused embedding)."""
        fused = self._fused(self._objects[upd.id])
        self._transaction(lambda: self._table.update([upd]))
        self._put(upd, fused)
