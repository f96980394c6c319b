"""ObjectMemory: proposals seen across frames, associated into persistent objects in a fixed frame.

The decisions (gate, re-identification, late re-identification, fusion, misses) are the pure
functions of :mod:`.association`; this class gathers their inputs (the exact code-table cosine of
a proposal with an object's stored codes, as in observation search; the spatial gate; which
places a view saw empty) and applies the decisions to the objects (:mod:`.state`: in RAM and in
the observation memory's SQLite file, table ``objects``, same lock and transactions): every method
that changes objects returns after its commit (= acknowledged). The fused embedding is
re-quantized to the codebook set's shared codes after every view (codes are what is stored and
searched).

Change: a view (:class:`codebind_core.geometry.CameraView`) or an explicit ``not_seen`` list counts
a miss for every present object whose place was seen empty and that no proposal of the frame
joined; ``miss_limit`` misses in a row make it ``gone`` (kept, left out of queries by default).

Queries (:meth:`ObjectMemory.query`) score objects exactly like observations (cosine of the query
with the decoded codes) and return one entry per object; ``min_score`` and ``margin`` keep weak
hits out.

>>> mem = ObjectMemory.open("memory.db", CodebookSet.from_model(model), object_config=ObjectConfig("map"))
>>> result = mem.observe([ObjectProposal("pointcloud", stamp, centre_in_map, embedding=vec, size=size)],
...                      view=CameraView(T_map_cam, fx, fy, cx, cy, w, h, depth=depth_m))
>>> hits = mem.query({"pointcloud": text_vec}, top_k=5, min_score=0.25, margin=0.1)
>>> mem.observations.search({"pointcloud": text_vec})   # raw observations, as before
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..codebooks import CodebookSet
from ..config import MemoryConfig, time_window
from ..observations.memory import ObservationMemory
from ..store import Closing
from . import association as assoc
from .config import ObjectConfig
from .export import read_object_map, write_object_map_json, write_object_map_ply
from .state import ObjectState
from .types import GONE, PRESENT, MemoryObject, ObjectHit, ObjectProposal, ObserveResult

_REID_CANDIDATES = 16


class ObjectMemory(ObjectState, Closing):
    """Persistent objects in ``config.fixed_frame`` next to an :class:`ObservationMemory`: the
    state (:class:`.state.ObjectState`) plus association, queries and files.

    Thread-safe: shares the observation memory's lock. Use :meth:`open` to get both on one file."""

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

    def query(self, queries: Mapping[str, np.ndarray], top_k: int = 10, min_score: Optional[float] = None,
              margin: Optional[float] = None, include_gone: bool = False, since_ns: Optional[int] = None,
              until_ns: Optional[int] = None) -> List[ObjectHit]:
        """Objects ranked by the cosine of ``queries[codebook_set]`` with their fused codes, one each.

        Args:
            queries: codebook set -> (D,) query vector (e.g. the text embedding for that set).
            top_k: at most this many (clamped to the memory's ``max_top_k``).
            min_score: leave out objects scoring below this cosine.
            margin: leave out objects scoring more than this below the best one.
            include_gone: also objects whose place was seen empty.
            since_ns, until_ns: inclusive window on the objects' last-seen stamps.
        """
        k = self.observations.config.bounded_top_k(top_k)
        window = time_window(since_ns, until_ns)
        if not queries:
            raise ValueError("query needs at least one query vector (codebook set -> vector)")
        if margin is not None and margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        with self._lock:
            scores, ids = [], []
            for _, _, lut, idx, qn in self.codebooks.query_tables(queries, self._index, "objects"):
                s, found = idx.top(lut, k, include_gone, window)
                scores.append(s / qn)
                ids.append(found)
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
        cs = p.codebook_set
        d = self.codebooks.sub_dim(cs)
        if p.embedding is not None:
            if p.embedding.size % d:
                raise ValueError(f"embedding dim {p.embedding.size} is not a multiple of {d} (codebook set {cs!r})")
            v = p.embedding / np.linalg.norm(p.embedding)
            codes = self.codebooks.check_codes(cs, self.codebooks.quantize(cs, v)[0])
        else:
            codes = self.codebooks.check_codes(cs, p.codes)
            v = self._unit(cs, codes)
        idx = self._index.get(cs)
        if idx is not None and len(idx) and codes.size != idx.m:
            raise ValueError(f"codebook set {cs!r} objects have {idx.m} codes, the proposal {codes.size}")
        return p, v.astype(np.float32), codes

    def _embed(self, obj: MemoryObject, fused: np.ndarray, v: np.ndarray,
               v_views: int = 1) -> Tuple[np.ndarray, np.ndarray]:
        """(codes, unit fused embedding) with ``v`` (the fused embedding of ``v_views`` views) averaged in."""
        f = assoc.mean_embedding(fused, obj.views, v, v_views, self.config.max_fusion_weight)
        return self.codebooks.quantize(obj.codebook_set, f)[0], f

    @staticmethod
    def _seen(obj: MemoryObject, p: ObjectProposal) -> dict:
        mods = obj.modalities if p.modality in obj.modalities else obj.modalities + (p.modality,)
        return dict(first_seen_ns=min(obj.first_seen_ns, p.stamp_ns), last_seen_ns=max(obj.last_seen_ns, p.stamp_ns),
                    views=obj.views + 1, modalities=mods, label=p.label or obj.label, status=PRESENT, misses=0)

    def _joined(self, obj: MemoryObject, p: ObjectProposal, v: np.ndarray):
        """(``obj`` with one more view ``p`` fused in, its fused unit embedding)."""
        pos, ext, weight = assoc.fuse_geometry(obj.position, obj.extent, obj.weight, p.position, p.size, self.config)
        codes, f = self._embed(obj, self._fused(obj), v)
        return replace(obj, position=pos, extent=ext, weight=weight, codes=codes, **self._seen(obj, p)), f

    def _moved(self, obj: MemoryObject, p: ObjectProposal, v: np.ndarray):
        """(``obj`` re-identified at ``p``'s place, its fused unit embedding)."""
        codes, f = self._embed(obj, self._fused(obj), v)
        return replace(obj, position=p.position, extent=p.size or obj.extent, weight=1.0, codes=codes,
                       previous_position=obj.position, moves=obj.moves + 1, moved_ns=p.stamp_ns,
                       **self._seen(obj, p)), f

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
        res = ObserveResult(object_ids=[0] * len(prepared))
        with self._lock:
            empty = self._seen_empty(view) | self._known_ids(not_seen)
            luts = [self.codebooks.lookup_table(p.codebook_set, v) for p, v, _ in prepared]
            pairs = []
            for i, (p, _, _) in enumerate(prepared):
                idx = self._index.get(p.codebook_set)
                if idx is not None and len(idx):
                    rows = idx.within(p.position, self.config.gate_distance)
                    if rows.size:
                        pairs += assoc.gated_pairs(i, idx.ids[rows], idx.cosines(rows, luts[i]),
                                                   self.config.min_similarity)
            assigned = assoc.greedy_assign(pairs)
            changed = {oid: self._joined(self._objects[oid], *prepared[i][:2]) for i, oid in assigned.items()}
            new: List[Tuple[int, MemoryObject, np.ndarray]] = []
            for i, (p, v, codes) in enumerate(prepared):
                if i in assigned:
                    continue
                oid = self._reidentify(p, luts[i], stamp, changed, empty)
                if oid is not None:
                    changed[oid] = self._moved(self._objects[oid], p, v)
                    assigned[i] = oid
                    res.moved.append(oid)
                    continue
                new.append((i, MemoryObject(0, p.codebook_set, codes, p.position, p.size or (0.0, 0.0, 0.0),
                                            p.stamp_ns, p.stamp_ns, 1, (p.modality,), p.label), v))
            self._count_misses(stamp, empty, changed, res)
            self._merge_reappeared(changed, res)
            new_ids = self._commit(new, changed, res, removed=list(res.merged))
            for i, oid in assigned.items():
                res.object_ids[i] = res.merged.get(oid, oid)
            for (i, _, _), oid in zip(new, new_ids):
                res.object_ids[i] = oid
            res.created = list(new_ids)
        return res

    def _matches(self, codebook_set: str, lut: np.ndarray, k: int = _REID_CANDIDATES) -> List[Tuple[float, int]]:
        """The ``k`` best (cosine, object id) of a codebook set for a lookup table (exact code-table scan)."""
        idx = self._index.get(codebook_set)
        if idx is None or not len(idx):
            return []
        scores, ids = idx.top(lut, k)
        return [(float(s), int(i)) for s, i in zip(scores, ids)]

    def _reidentify(self, p: ObjectProposal, lut: np.ndarray, stamp: int, taken, empty) -> Optional[int]:
        """Id of the object this proposal shows moved elsewhere, if any (:func:`association.reidentify`)."""
        matches = self._matches(p.codebook_set, lut)
        objs = [self._objects[oid] for _, oid in matches]
        return assoc.reidentify(np.array([s for s, _ in matches]), np.array([o.id for o in objs], np.int64),
                                np.array([o.status == GONE or o.misses > 0 or o.id in empty for o in objs], bool),
                                np.array([o.last_seen_ns for o in objs], np.int64), taken, stamp, self.config)

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
        """Late re-identification (:func:`association.reappeared`): objects missed in this frame
        take over an object that appeared elsewhere since they were last seen."""
        for oid in list(res.missed):
            old, f_old = changed[oid]
            candidates, views = [], {}
            for cand in self._objects.values():
                if (cand.codebook_set != old.codebook_set or cand.id == oid or cand.id in res.merged
                        or cand.status != PRESENT or cand.first_seen_ns <= old.last_seen_ns or cand.id in res.missed):
                    continue
                young, f_young = changed.get(cand.id, (cand, None))
                if f_young is None:
                    f_young = self._fused(cand).astype(np.float32)
                views[cand.id] = (young, f_young)
                lut = self.codebooks.lookup_table(old.codebook_set, f_young)
                candidates.append((cand.id, self._matches(old.codebook_set, lut, 3)))
            pick = assoc.reappeared(oid, candidates, self.config.moved_similarity)
            if pick is None:
                continue
            young, f_young = views[pick]
            codes, f = self._embed(old, f_old, f_young, young.views)
            mods = old.modalities + tuple(m for m in young.modalities if m not in old.modalities)
            changed[oid] = (replace(old, codes=codes, position=young.position, extent=young.extent,
                                    weight=young.weight, last_seen_ns=max(old.last_seen_ns, young.last_seen_ns),
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
            misses, gone = assoc.after_miss(obj.misses, self.config.miss_limit)
            changed[oid] = (replace(obj, misses=misses, status=GONE if gone else PRESENT), self._fused(obj))
            res.missed.append(oid)
            if gone:
                res.gone.append(oid)

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
                for idx in self._index.values():  # a later set wins a tie
                    rows = np.flatnonzero(idx.status[: idx.n] == 0)
                    best = assoc.nearest_within(idx.centres[rows], idx.ids[rows], p, best[0]) or best
                oid = best[1]
                if oid is None:
                    self.unattached += 1
                    return None
            obj = self._objects[oid]
            mods = obj.modalities if modality in obj.modalities else obj.modalities + (modality,)
            self._update(replace(obj, modalities=mods, last_seen_ns=max(obj.last_seen_ns, int(stamp_ns))))
            return oid

    def insert_objects(self, objs: Sequence[MemoryObject]) -> List[int]:
        """Store objects as they are (no association; e.g. an imported map); returns their new ids."""
        checked = []
        for o in objs:
            o = replace(o, codes=self.codebooks.check_codes(o.codebook_set, o.codes))
            idx = self._index.get(o.codebook_set)
            if idx is not None and len(idx) and o.codes.size != idx.m:
                raise ValueError(f"codebook set {o.codebook_set!r} objects have {idx.m} codes, "
                                 f"object {o.id} has {o.codes.size}")
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
            self._update(replace(obj, label=str(label)))

    # ---- files -------------------------------------------------------------------------------
    def export_json(self, path, include_gone: bool = True) -> Path:
        """The object map as JSON (:mod:`.export`); importable with :meth:`import_map`."""
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
