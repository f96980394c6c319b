"""The decisions of object association as pure functions: numbers in (cosines, distances, stamps,
states), decisions out. :class:`~codebind_core.memory.objects.memory.ObjectMemory` gathers the
numbers (exact code-table cosines, the spatial gate) and applies the decisions to its objects.

1. *Gate* (:func:`greedy_assign`): a proposal may join an object of its codebook set whose centre
   is within ``gate_distance`` and whose fused embedding has cosine >= ``min_similarity`` with it;
   pairs are taken greedily, best cosine first, one proposal per object per frame.
2. *Re-identification* (:func:`reidentify`): a proposal left over shows an object that moved when
   that object is missing (its place seen empty, now or before, or gone) and is the proposal's
   best match among the objects not joined this frame, with cosine >= ``moved_similarity``; or
   when the object was unseen at its place for ``reid_min_age_ns`` and the cosine is >=
   ``reid_similarity``.
3. *Late re-identification* (:func:`reappeared`): an object missed in this frame takes over an
   object first seen after it was last seen, whose best match among all objects is the missed one
   with cosine >= ``moved_similarity``.
4. *Fusion* (:func:`fuse_geometry`, :func:`mean_embedding`): position and extent are a weighted
   running mean with Huber weights (1 within ``huber_delta`` of the centre, delta / residual
   beyond), the accumulated weight capped at ``max_fusion_weight``; the embedding is the mean of
   the views' unit vectors, each side weighing its views (capped the same way).
5. *Change* (:func:`after_miss`): ``miss_limit`` misses in a row make an object gone.
"""
from __future__ import annotations

from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np

from .config import ObjectConfig

Vec3 = Tuple[float, float, float]


def greedy_assign(pairs: Iterable[Tuple[float, int, int]]) -> Dict[int, int]:
    """Proposal index -> object id from gated candidate pairs ``(cosine, proposal, object id)``:
    best cosine first (ties: lower proposal, then lower id), each proposal and object once."""
    assigned: Dict[int, int] = {}
    taken = set()
    for _, i, oid in sorted(pairs, key=lambda t: (-t[0], t[1], t[2])):
        if i not in assigned and oid not in taken:
            assigned[i] = oid
            taken.add(oid)
    return assigned


def gated_pairs(proposal: int, ids: np.ndarray, cosines: np.ndarray, min_similarity: float):
    """The candidate pairs of one proposal with the objects inside its gate (``ids``, their
    ``cosines``): those with a cosine of at least ``min_similarity``."""
    return [(float(s), proposal, int(oid)) for oid, s in zip(ids, cosines) if s >= min_similarity]


def reidentify(scores: np.ndarray, ids: np.ndarray, missing: np.ndarray, last_seen_ns: np.ndarray,
               taken: Iterable[int], stamp_ns: int, config: ObjectConfig) -> Optional[int]:
    """Id of the object a left-over proposal shows moved elsewhere, or None (module docstring, 2).

    Args:
        scores, ids: the proposal's best matches among all objects of its codebook set, best first.
        missing: per match, whether that object's place was seen empty (now or before) or it is gone.
        last_seen_ns: per match, when that object was last seen.
        taken: ids already joined in this frame (skipped).
        stamp_ns: the frame's stamp.
    """
    taken = set(taken)
    best = True
    for s, oid, miss, seen in zip(scores, ids, missing, last_seen_ns):
        if int(oid) in taken:
            continue
        if best and s >= config.moved_similarity and miss:
            return int(oid)
        best = False
        if s < config.reid_similarity:
            return None
        if miss or stamp_ns - int(seen) >= config.reid_min_age_ns:
            return int(oid)
    return None


def reappeared(missed_id: int, candidates: Sequence[Tuple[int, Sequence[Tuple[float, int]]]],
               moved_similarity: float) -> Optional[int]:
    """The object a missed object takes over (module docstring, 3), or None.

    ``candidates``: per object first seen after ``missed_id`` was last seen, ``(its id, its best
    matches (cosine, id) among all objects, best first)``; its best match other than itself must be
    ``missed_id`` with cosine >= ``moved_similarity``. The highest such cosine wins (ties: first).
    """
    best: Optional[Tuple[float, int]] = None
    for cand, matches in candidates:
        top = next(((s, i) for s, i in matches if i != cand), None)
        if top is not None and top[1] == missed_id and top[0] >= moved_similarity \
                and (best is None or top[0] > best[0]):
            best = (top[0], cand)
    return None if best is None else best[1]


def huber_weight(residual: float, delta: float) -> float:
    """Huber's M-estimator weight: 1 within ``delta``, ``delta / residual`` beyond."""
    return 1.0 if residual <= delta else delta / residual


def fuse_geometry(position: Vec3, extent: Vec3, weight: float, view_position: Vec3, view_size: Optional[Vec3],
                  config: ObjectConfig) -> Tuple[Vec3, Vec3, float]:
    """(position, extent, weight) after one more view at ``view_position`` (extent ``view_size``,
    None: unknown, the extent stays)."""
    x, pos = np.asarray(view_position, np.float64), np.asarray(position, np.float64)
    w = huber_weight(float(np.linalg.norm(x - pos)), config.huber_delta)
    a = w / (weight + w)
    ext = np.asarray(extent, np.float64)
    if view_size is not None:
        ext = ext + a * (np.asarray(view_size, np.float64) - ext)
    return (tuple(map(float, pos + a * (x - pos))), tuple(map(float, ext)),
            min(weight + w, config.max_fusion_weight))


def mean_embedding(fused: np.ndarray, views: int, v: np.ndarray, v_views: int, cap: float) -> np.ndarray:
    """Unit mean of an object's fused unit embedding (``views`` views) and ``v`` (the unit
    embedding of ``v_views`` views), each side weighing min(views, ``cap``)."""
    f = min(views, cap) * np.asarray(fused, np.float32) + min(v_views, cap) * np.asarray(v, np.float32)
    return f / max(float(np.linalg.norm(f)), 1e-12)


def after_miss(misses: int, miss_limit: int) -> Tuple[int, bool]:
    """(misses, gone) of a present object whose place was seen empty once more."""
    return misses + 1, misses + 1 >= miss_limit


def eviction_order(ids: np.ndarray, gone: np.ndarray, last_seen_ns: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` ids to evict first: gone objects, then the least recently seen (ties: lower id)."""
    order = np.lexsort((np.asarray(ids), np.asarray(last_seen_ns), ~np.asarray(gone, bool)))
    return np.asarray(ids)[order[:max(0, n)]]


def nearest_within(centres: np.ndarray, ids: np.ndarray, point, radius: float) -> Optional[Tuple[float, int]]:
    """(distance, id) of the centre nearest ``point`` if within ``radius`` (m) (ties: the first), else None."""
    if not len(ids):
        return None
    d = np.linalg.norm(np.asarray(centres, np.float64) - np.asarray(point, np.float64), axis=1)
    j = int(np.argmin(d))
    return (float(d[j]), int(ids[j])) if d[j] <= radius else None
