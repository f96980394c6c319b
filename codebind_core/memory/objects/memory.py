"""ObjectMemory: proposals seen across frames, associated into persistent objects in a fixed frame.

Association (per call of :meth:`ObjectMemory.observe`, one sensor frame):

1. *Gate.* A proposal may join an object of the same codebook set whose centre is within
   ``gate_distance`` and whose fused embedding has cosine >= ``min_similarity`` with it (the cosine
   is the exact code-table score of the object's stored codes, as in observation search). Pairs
   are assigned greedily, best cosine first, one proposal per object per frame.
2. *Re-identification.* A proposal left over is matched against every object of its codebook set with the
   exact code-table scan (:func:`kernels.scan_topk`). That object moved, and is updated in place
   (``moves`` + 1, ``previous_position`` kept), not duplicated, when it is
   - missing (its place seen empty before or in this very frame) or gone, the proposal's best match
     among the objects not joined in this frame, with cosine >= ``moved_similarity``; or
   - unseen at its place for ``reid_min_age_ns``, with cosine >= ``reid_similarity``.
3. Otherwise the proposal starts a new object.
4. *Late re-identification.* When an object's place is seen empty after it was already seen
   elsewhere (and so started a new object there), the newer object is merged into it by the same
   rule: an object first seen after the missing one was last seen, whose best match among all
   objects is the missing one with cosine >= ``moved_similarity``. The missing object keeps its id
   and takes the newer one's place; ``ObserveResult.merged`` says which id went into which.

Fusion: position and extent are a weighted running mean with Huber weights (1 within
``huber_delta`` of the current centre, delta / residual beyond), the accumulated weight capped at
``max_fusion_weight``; the embedding is the running mean of the views' unit vectors, re-quantized
to the codebook set's shared codes after every view (codes are what is stored and searched).

Change: a view (:class:`codebind_core.geometry.CameraView`) or an explicit ``not_seen`` list counts
a miss for every present object whose place was seen empty and that no proposal of the frame
joined; ``miss_limit`` misses in a row make it ``gone`` (kept, left out of queries by default).

Queries (:meth:`query`) score objects exactly like observations (cosine of the query with the
decoded codes) and return one entry per object; ``min_score`` and ``margin`` keep weak hits out.
Objects live in the observation memory's SQLite file (table ``objects``, same lock and
transactions): every method that changes objects returns after its commit (= acknowledged).

>>> mem = ObjectMemory.open("memory.db", CodebookSet.from_model(model), object_config=ObjectConfig("map"))
>>> result = mem.observe([ObjectProposal("pointcloud", stamp, centre_in_map, embedding=vec, size=size)],
...                      view=CameraView(T_map_cam, fx, fy, cx, cy, w, h, depth=depth_m))
>>> hits = mem.query({"pointcloud": text_vec}, top_k=5, min_score=0.25, margin=0.1)
>>> mem.observations.search({"pointcloud": text_vec})   # raw observations, as before
"""
from __future__ import annotations

import heapq
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .codebooks import CodebookSet
from .config import MemoryConfig, time_window
from .kernels import scan_topk
from .object_config import ObjectConfig
from .object_index import ObjectIndex
from .object_store import ObjectTable
from .object_export import read_object_map, write_object_map_json, write_object_map_ply
from .objects import GONE, PRESENT, MemoryObject, ObjectHit, ObjectProposal
from .observation_memory import ObservationMemory
from .store import array_to_blob, blob_to_array

_REID_CANDIDATES = 16
_ALL_STATUSES = np.ones(256, bool)


@dataclass
class ObserveResult:
    """What one :meth:`ObjectMemory.observe` call did (all of it committed)."""

    object_ids: List[int] = field(default_factory=list)   # per proposal, in order
    created: List[int] = field(default_factory=list)
    moved: List[int] = field(default_factory=list)
    missed: List[int] = field(default_factory=list)       # place seen empty this frame
    gone: List[int] = field(default_factory=list)         # became gone this frame
    evicted: List[int] = field(default_factory=list)
    merged: Dict[int, int] = field(default_factory=dict)  # removed id -> the (moved) object it joined


class ObjectMemory:
    """Persistent objects in ``config.fixed_frame`` next to an :class:`ObservationMemory`.

    Thread-safe: shares the observation memory's lock. Use :meth:`open` to get both on one file."""

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

    @classmethod
    def open(cls, db_path, codebooks: CodebookSet, memory_config: Optional[MemoryConfig] = None,
             object_config: Optional[ObjectConfig] = None) -> "ObjectMemory":
        """Observation memory and object memory on one SQLite file; :meth:`close` closes both."""
        obs = ObservationMemory(db_path, codebooks, memory_config)
        try:
            mem = cls(obs, object_config)
        except BaseException:
            obs.close()
            raise
        mem._owns_observations = True
        return mem

    def close(self) -> None:
        if self._owns_observations:
            self.observations.close()

    def __enter__(self) -> "ObjectMemory":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._objects)

    # ---- opening -----------------------------------------------------------------------------
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
        stored = self._store.get_meta("objects_fixed_frame")
        if stored is None:
            self._transaction(lambda: self._store.set_meta("objects_fixed_frame", frame.encode()))
        elif stored.decode() != frame and self._table.count():
            raise ValueError(f"memory database {self._store.path} holds objects in frame {stored.decode()!r}, "
                             f"not {frame!r}: use that fixed_frame or another database")

    def _check_codebooks(self) -> None:
        """Objects keep their own copy of the codebooks they were quantized with, so that after
        the observation memory re-indexed for a new model (``on_codebook_mismatch: reindex``) the
        objects are re-quantized too (decode with the old, nearest codevector of the new)."""
        st = self._store
        new = self.codebooks.fingerprint()
        stored = st.get_meta("objects_codebooks_fingerprint")
        if stored is not None and stored.decode() != new:
            old_sets = json.loads(st.get_meta("objects_codebook_sets") or b"[]")
            old = {p: blob_to_array(st.get_meta(f"objects_codebook:{p}")) for p in old_sets}

            def requantize():
                objs, _ = self._table.load()
                keep, drop = [], []
                for o in objs:
                    ok = o.codebook_set in old and o.codebook_set in self.codebooks.books
                    if ok:
                        x = old[o.codebook_set][np.asarray(o.codes, np.int64)].reshape(1, -1)
                        ok = x.shape[1] % self.codebooks.sub_dim(o.codebook_set) == 0
                    if ok:
                        keep.append(replace(o, codes=self.codebooks.quantize(o.codebook_set, x)[0]))
                    else:
                        drop.append(o.id)
                self._table.update(keep)
                self._table.delete(drop)
                self.requantized, self.evicted = len(keep), self.evicted + len(drop)
            self._transaction(requantize)
        if stored is None or stored.decode() != new:
            def write():
                st.set_meta("objects_codebooks_fingerprint", new.encode())
                st.set_meta("objects_codebook_sets", json.dumps(sorted(self.codebooks.codebook_sets)).encode())
                for p in self.codebooks.codebook_sets:
                    st.set_meta(f"objects_codebook:{p}", array_to_blob(self.codebooks.book(p)))
            self._transaction(write)

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

    def query(self, queries: Mapping[str, np.ndarray], top_k: int = 10, min_score: Optional[float] = None,
              margin: Optional[float] = None, include_gone: bool = False, since_ns: Optional[int] = None,
              until_ns: Optional[int] = None) -> List[ObjectHit]:
        """Objects ranked by the cosine of ``queries[codebook_set]`` with their fused codes, one entry each.

        Args:
            queries: codebook set -> (D,) query vector (e.g. the text embedding for that set).
            top_k: at most this many (clamped to the memory's ``max_top_k``).
            min_score: leave out objects scoring below this cosine.
            margin: leave out objects scoring more than this below the best one.
            include_gone: also objects whose place was seen empty.
            since_ns, until_ns: inclusive window on the objects' last-seen stamps.
        """
        k = self.observations.config.bounded_top_k(top_k)
        t0, t1 = time_window(since_ns, until_ns)
        if not queries:
            raise ValueError("query needs at least one query vector (codebook set -> vector)")
        if margin is not None and margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        allowed = np.zeros(256, bool)
        allowed[0] = True
        allowed[1] = include_gone
        with self._lock:
            scores, ids = [], []
            for codebook_set, q in queries.items():
                lut = self.codebooks.lookup_table(codebook_set, q)
                idx = self._index.get(codebook_set)
                if idx is None or not len(idx):
                    continue
                if lut.shape[0] != idx.m:
                    raise ValueError(f"query for codebook set {codebook_set!r} has {lut.shape[0]} sub-vectors, objects have {idx.m}")
                qn = float(np.linalg.norm(np.asarray(q, np.float64)))
                if qn == 0.0:
                    raise ValueError(f"query for codebook set {codebook_set!r} is the zero vector")
                s, rows = scan_topk(idx.codes, lut, idx.inv_norm, idx.status, allowed, idx.last_seen, t0, t1, k,
                                    np.zeros(1, np.int64), np.full(1, idx.n, np.int64))
                scores.append(s / qn)
                ids.append(idx.ids[rows])
            if not scores:
                return []
            s, i = np.concatenate(scores), np.concatenate(ids)
            order = np.argsort(-s, kind="stable")[:k]
            hits = [ObjectHit(float(s[j]), replace(self._objects[int(i[j])])) for j in order]
        if min_score is not None:
            hits = [h for h in hits if h.score >= min_score]
        if margin is not None and hits:
            hits = [h for h in hits if h.score >= hits[0].score - margin]
        return hits

    # ---- writing -----------------------------------------------------------------------------
    def _prepare(self, p: ObjectProposal) -> Tuple[ObjectProposal, np.ndarray, np.ndarray]:
        """(checked proposal, unit embedding, codes)."""
        p = p.validated()
        frame = self.config.fixed_frame.lstrip("/")
        if p.frame_id and p.frame_id != frame:
            raise ValueError(f"proposal is in frame {p.frame_id!r}; the memory keeps objects in {frame!r} "
                             "(transform it first: ObjectProposal.transformed)")
        d = self.codebooks.sub_dim(p.codebook_set)
        if p.embedding is not None:
            if p.embedding.size % d:
                raise ValueError(f"embedding dim {p.embedding.size} is not a multiple of {d} (codebook set {p.codebook_set!r})")
            v = p.embedding / np.linalg.norm(p.embedding)
            codes = self.codebooks.check_codes(p.codebook_set, self.codebooks.quantize(p.codebook_set, v)[0])
        else:
            codes = self.codebooks.check_codes(p.codebook_set, p.codes)
            v = self._unit(p.codebook_set, codes)
        idx = self._index.get(p.codebook_set)
        if idx is not None and len(idx) and codes.size != idx.m:
            raise ValueError(f"codebook set {p.codebook_set!r} objects have {idx.m} codes, the proposal {codes.size}")
        return p, v.astype(np.float32), codes

    def _fuse(self, obj: MemoryObject, p: ObjectProposal, v: np.ndarray, fused: np.ndarray):
        """Copy of ``obj`` with one more view ``p`` fused in; returns (object, fused unit embedding)."""
        cfg = self.config
        x, pos = np.asarray(p.position), np.asarray(obj.position)
        r = float(np.linalg.norm(x - pos))
        w = 1.0 if r <= cfg.huber_delta else cfg.huber_delta / r
        a = w / (obj.weight + w)
        ext = np.asarray(obj.extent)
        if p.size is not None:
            ext = ext + a * (np.asarray(p.size) - ext)
        codes, f = self._embed(obj, fused, v)
        new = replace(obj, position=tuple(map(float, pos + a * (x - pos))), extent=tuple(map(float, ext)),
                      weight=min(obj.weight + w, cfg.max_fusion_weight), codes=codes, **self._seen(obj, p))
        return new, f

    def _embed(self, obj: MemoryObject, fused: np.ndarray, v: np.ndarray,
               v_views: int = 1) -> Tuple[np.ndarray, np.ndarray]:
        """(codes, unit mean) after averaging ``v`` (the fused embedding of ``v_views`` views) into
        the object's fused unit embedding; each side weighs its views, capped at ``max_fusion_weight``."""
        cap = self.config.max_fusion_weight
        f = min(obj.views, cap) * fused.astype(np.float32) + min(v_views, cap) * v
        f /= max(float(np.linalg.norm(f)), 1e-12)
        return self.codebooks.quantize(obj.codebook_set, f)[0], f

    def _seen(self, obj: MemoryObject, p: ObjectProposal) -> dict:
        mods = obj.modalities if p.modality in obj.modalities else obj.modalities + (p.modality,)
        return dict(first_seen_ns=min(obj.first_seen_ns, p.stamp_ns), last_seen_ns=max(obj.last_seen_ns, p.stamp_ns),
                    views=obj.views + 1, modalities=mods, label=p.label or obj.label, status=PRESENT, misses=0)

    def observe(self, proposals: Sequence[ObjectProposal], stamp_ns: Optional[int] = None, view=None,
                not_seen: Iterable[int] = ()) -> ObserveResult:
        """Associate one frame's proposals (fixed frame) into objects, count misses, commit.

        Args:
            proposals: this frame's proposals (may be empty).
            stamp_ns: the frame's stamp (default: the newest proposal stamp; required without proposals).
            view: what the sensor saw, an object with ``seen_empty(centres, radii) -> mask`` (e.g.
                :class:`codebind_core.geometry.CameraView`): present objects whose place it saw
                empty and that no proposal joined get a miss.
            not_seen: ids of objects that should have been seen in this frame and were not (a miss each).

        Returns an :class:`ObserveResult`; everything in it is durable when this returns.
        Raises ValueError on a malformed proposal (nothing of the call is stored then).
        """
        prepared = [self._prepare(p) for p in proposals]
        if stamp_ns is None:
            if not prepared:
                raise ValueError("observe needs stamp_ns when there are no proposals")
            stamp_ns = max(p.stamp_ns for p, _, _ in prepared)
        stamp = int(stamp_ns)
        cfg = self.config
        res = ObserveResult(object_ids=[0] * len(prepared))
        with self._lock:
            changed: Dict[int, Tuple[MemoryObject, np.ndarray]] = {}
            empty = self._seen_empty(view) | self._known_ids(not_seen)
            luts = [self.codebooks.lookup_table(p.codebook_set, v) for p, v, _ in prepared]
            pairs = []
            for i, (p, v, _) in enumerate(prepared):
                idx = self._index.get(p.codebook_set)
                if idx is None or not len(idx):
                    continue
                rows = idx.within(p.position, cfg.gate_distance)
                for r, s in zip(rows, idx.cosines(rows, luts[i]) if rows.size else ()):
                    if s >= cfg.min_similarity:
                        pairs.append((-float(s), i, int(idx.ids[r])))
            assigned: Dict[int, int] = {}
            for _, i, oid in sorted(pairs):
                if i not in assigned and oid not in changed:
                    obj = self._objects[oid]
                    changed[oid] = self._fuse(obj, prepared[i][0], prepared[i][1], self._fused(obj))
                    assigned[i] = oid
            new: List[Tuple[int, MemoryObject, np.ndarray]] = []
            for i, (p, v, codes) in enumerate(prepared):
                if i in assigned:
                    continue
                oid = self._reidentify(p, luts[i], stamp, changed, empty)
                if oid is not None:
                    obj = self._objects[oid]
                    codes, f = self._embed(obj, self._fused(obj), v)
                    moved = replace(obj, position=p.position, extent=p.size or obj.extent, weight=1.0, codes=codes,
                                    previous_position=obj.position, moves=obj.moves + 1, moved_ns=p.stamp_ns,
                                    **self._seen(obj, p))
                    changed[oid] = (moved, f)
                    assigned[i] = oid
                    res.moved.append(oid)
                    continue
                new.append((i, MemoryObject(0, p.codebook_set, codes, p.position, p.size or (0.0, 0.0, 0.0), p.stamp_ns,
                                            p.stamp_ns, 1, (p.modality,), p.label), v))
            self._count_misses(stamp, empty, changed, res)
            self._merge_reappeared(changed, res)
            new_ids = self._commit(new, changed, res, removed=list(res.merged))
            for i, oid in assigned.items():
                res.object_ids[i] = res.merged.get(oid, oid)
            for (i, _, _), oid in zip(new, new_ids):
                res.object_ids[i] = oid
            res.created = list(new_ids)
        return res

    def _fused(self, obj: MemoryObject) -> np.ndarray:
        idx = self._index[obj.codebook_set]
        return idx.fused[idx.slot[obj.id]]

    def _matches(self, codebook_set: str, lut: np.ndarray, k: int = _REID_CANDIDATES) -> List[Tuple[float, int]]:
        """The ``k`` best (cosine, object id) of ``codebook_set`` for a lookup table, by the exact code-table scan."""
        idx = self._index.get(codebook_set)
        if idx is None or not len(idx):
            return []
        scores, rows = scan_topk(idx.codes, lut, idx.inv_norm, idx.status, _ALL_STATUSES, idx.last_seen,
                                 -(2 ** 63), 2 ** 63 - 1, k, np.zeros(1, np.int64), np.full(1, idx.n, np.int64))
        return [(float(s), int(idx.ids[r])) for s, r in zip(scores, rows)]

    def _missing(self, obj: MemoryObject, empty) -> bool:
        return obj.status == GONE or obj.misses > 0 or obj.id in empty

    def _reidentify(self, p: ObjectProposal, lut: np.ndarray, stamp: int, taken, empty) -> Optional[int]:
        """Id of the object this proposal shows moved elsewhere, if any (see module docstring)."""
        cfg = self.config
        best = True
        for s, oid in self._matches(p.codebook_set, lut):
            if oid in taken:
                continue
            obj = self._objects[oid]
            if best and s >= cfg.moved_similarity and self._missing(obj, empty):
                return oid
            best = False
            if s < cfg.reid_similarity:
                break
            if self._missing(obj, empty) or stamp - obj.last_seen_ns >= cfg.reid_min_age_ns:
                return oid
        return None

    def _seen_empty(self, view) -> set:
        """Ids of present objects whose place ``view`` saw empty (none without a view)."""
        out = set()
        if view is not None:
            for idx in self._index.values():
                rows = np.flatnonzero(idx.status[: idx.n] == 0)
                if rows.size:
                    empty = np.asarray(view.seen_empty(idx.centres[rows], idx.radii[rows]), bool)
                    out.update(int(i) for i in idx.ids[rows[empty]])
        return out

    def _merge_reappeared(self, changed, res: ObserveResult) -> None:
        """Late re-identification (module docstring, step 4): objects missed in this frame take
        over an object that appeared elsewhere since they were last seen."""
        cfg = self.config
        for oid in list(res.missed):
            old, f_old = changed[oid]
            best = None
            for cand in self._objects.values():
                if (cand.codebook_set != old.codebook_set or cand.id == oid or cand.id in res.merged or cand.status != PRESENT
                        or cand.first_seen_ns <= old.last_seen_ns or cand.id in res.missed):
                    continue
                young, f_young = changed.get(cand.id, (cand, None))
                if f_young is None:
                    f_young = self._fused(cand).astype(np.float32)
                lut = self.codebooks.lookup_table(old.codebook_set, f_young)
                top = next(((s, i) for s, i in self._matches(old.codebook_set, lut, 3) if i != cand.id), None)
                if top is not None and top[1] == oid and top[0] >= cfg.moved_similarity \
                        and (best is None or top[0] > best[0]):
                    best = (top[0], young, f_young)
            if best is None:
                continue
            _, young, f_young = best
            codes, f = self._embed(old, f_old, f_young, young.views)
            mods = old.modalities + tuple(m for m in young.modalities if m not in old.modalities)
            changed[oid] = (replace(old, codes=codes, position=young.position,
                                    extent=young.extent, weight=young.weight,
                                    last_seen_ns=max(old.last_seen_ns, young.last_seen_ns),
                                    views=old.views + young.views, modalities=mods, label=young.label or old.label,
                                    status=PRESENT, misses=0, previous_position=old.position, moves=old.moves + 1,
                                    moved_ns=young.first_seen_ns), f)
            changed.pop(young.id, None)
            res.merged[young.id] = oid
            res.missed.remove(oid)
            if oid in res.gone:
                res.gone.remove(oid)
            res.moved.append(oid)

    def _known_ids(self, ids: Iterable[int]) -> set:
        out = {int(i) for i in ids}
        unknown = out - set(self._objects)
        if unknown:
            raise ValueError(f"not_seen names unknown object ids {sorted(unknown)[:10]}")
        return out

    def _count_misses(self, stamp: int, missed: set, changed, res: ObserveResult) -> None:
        """A miss for every present object in ``missed`` (place seen empty) not joined this frame."""
        for oid in sorted(missed - set(changed)):
            obj = self._objects[oid]
            if obj.status != PRESENT or obj.last_seen_ns >= stamp:
                continue
            upd = replace(obj, misses=obj.misses + 1)
            if upd.misses >= self.config.miss_limit:
                upd.status = GONE
                res.gone.append(oid)
            changed[oid] = (upd, self._fused(obj))
            res.missed.append(oid)

    def _victims(self, extra: int, keep) -> List[int]:
        """Ids to evict so that ``extra`` more objects fit: gone ones first, then least recently seen."""
        excess = len(self._objects) + extra - self.config.max_objects
        if excess <= 0:
            return []
        cands = sorted((o.status != GONE, o.last_seen_ns, o.id) for o in self._objects.values() if o.id not in keep)
        return [oid for _, _, oid in cands[:excess]]

    def _commit(self, new, changed, res: ObserveResult, removed: Sequence[int] = ()) -> List[int]:
        """Insert ``new``, update ``changed``, delete ``removed`` (merged away) and what the
        ``max_objects`` bound evicts, in one transaction; then the same in RAM."""
        victims = self._victims(len(new) - len(removed), set(changed) | set(removed))
        if len(new) > self.config.max_objects:
            raise ValueError(f"{len(new)} new objects exceed max_objects ({self.config.max_objects})")

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

    def attach(self, modality: str, stamp_ns: int, position: Optional[Sequence[float]] = None,
               object_id: Optional[int] = None, radius: Optional[float] = None) -> Optional[int]:
        """Attach a non-visual observation (impact sound, touch) to an object: the one given by
        ``object_id`` (e.g. from the localiser), else the nearest present object within ``radius``
        (default ``attach_radius``) of ``position`` (fixed frame). Records the modality and the
        stamp; returns the object id, or None (counted in ``unattached``)."""
        if not isinstance(modality, str) or not modality:
            raise ValueError("modality must be a non-empty string")
        if (position is None) == (object_id is None):
            raise ValueError("give exactly one of position or object_id")
        radius = self.config.attach_radius if radius is None else float(radius)
        with self._lock:
            if object_id is not None:
                if int(object_id) not in self._objects:
                    raise ValueError(f"unknown object id {object_id}")
                oid = int(object_id)
            else:
                p = np.asarray(position, np.float64).reshape(-1)
                if p.size != 3 or not np.isfinite(p).all():
                    raise ValueError(f"position must be 3 finite numbers, got {position!r}")
                best = (radius, None)
                for idx in self._index.values():
                    rows = np.flatnonzero(idx.status[: idx.n] == 0)
                    if rows.size:
                        d = np.linalg.norm(idx.centres[rows] - p, axis=1)
                        j = int(np.argmin(d))
                        if d[j] <= best[0]:
                            best = (float(d[j]), int(idx.ids[rows[j]]))
                oid = best[1]
                if oid is None:
                    self.unattached += 1
                    return None
            obj = self._objects[oid]
            mods = obj.modalities if modality in obj.modalities else obj.modalities + (modality,)
            upd = replace(obj, modalities=mods, last_seen_ns=max(obj.last_seen_ns, int(stamp_ns)))
            self._transaction(lambda: self._table.update([upd]))
            self._put(upd, self._fused(obj))
            return oid

    def insert_objects(self, objs: Sequence[MemoryObject]) -> List[int]:
        """Store objects as they are (no association; e.g. an imported map); returns their new ids."""
        checked = []
        for o in objs:
            o = replace(o, codes=self.codebooks.check_codes(o.codebook_set, o.codes))
            idx = self._index.get(o.codebook_set)
            if idx is not None and len(idx) and o.codes.size != idx.m:
                raise ValueError(f"codebook set {o.codebook_set!r} objects have {idx.m} codes, object {o.id} has {o.codes.size}")
            checked.append((0, o, None))
        if not checked:
            return []
        with self._lock:
            return self._commit(checked, {}, ObserveResult())

    def set_label(self, obj_id: int, label: str) -> None:
        with self._lock:
            obj = self._objects.get(int(obj_id))
            if obj is None:
                raise ValueError(f"unknown object id {obj_id}")
            upd = replace(obj, label=str(label))
            self._transaction(lambda: self._table.update([upd]))
            self._put(upd, self._fused(obj))

    # ---- files -------------------------------------------------------------------------------
    def export_json(self, path, include_gone: bool = True) -> Path:
        """The object map as JSON (:mod:`object_export`); importable with :meth:`import_map`."""
        return write_object_map_json(path, self.objects(include_gone), self.config.fixed_frame,
                                     self.codebooks.fingerprint())

    def export_ply(self, path, include_gone: bool = True) -> Path:
        """Object centres with labels and extents as an ASCII PLY point cloud."""
        return write_object_map_ply(path, self.objects(include_gone), self.config.fixed_frame)

    def import_map(self, path) -> List[int]:
        """Add the objects of a JSON object map (new ids, in file order); the map must be in this
        memory's fixed frame and quantized with the same codebooks."""
        m = read_object_map(path)
        if m.frame.lstrip("/") != self.config.fixed_frame.lstrip("/"):
            raise ValueError(f"object map {path} is in frame {m.frame!r}, the memory in {self.config.fixed_frame!r}")
        if m.codebooks_fingerprint != self.codebooks.fingerprint():
            raise ValueError(f"object map {path} was quantized with other codebooks "
                             f"({m.codebooks_fingerprint[:12]} vs {self.codebooks.fingerprint()[:12]})")
        return self.insert_objects(m.objects)
