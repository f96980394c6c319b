"""Text queries over the memory (no rclpy): the text's shared embedding per stored codebook set,
the ranked observations (repeated sightings of one place counted once) or objects.

A query embeds the text with the model once per codebook set that has stored observations and
ranks by lookup-table search over the model's codebooks (:mod:`codebind_core.memory`).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from codebind_core.memory import CodebookSet, MemoryConfig, ObjectMemory, ObservationMemory
from codebind_core.memory.kernels import warm_up as warm_up_kernels

OVERFETCH = 8       # first search: candidates per wanted result when near-duplicates are skipped
MAX_FETCH = 10_000  # bound on the candidates one query looks at


def _file_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "model"


def default_db_path(model_id: str, codebooks: CodebookSet) -> str:
    """``~/.ros/codebind/memory_<model id>-<codebook fingerprint, 12 hex>.db``: one database per
    model. The model id alone is the checkpoint folder's name by default (``model`` for many), so
    two models would share a file that the second one may not open."""
    return f"~/.ros/codebind/memory_{_file_name(model_id)}-{codebooks.fingerprint()[:12]}.db"


def text_queries(model, text: str, codebook_sets) -> Dict[str, np.ndarray]:
    """The text's shared embedding for each codebook set (set -> (D,) float32); the text tower
    runs once for all sets."""
    with torch.no_grad():
        embedded = model.encode_sets("text", [text], list(codebook_sets))
    return {s: e.shared[0].float().cpu().numpy() for s, e in embedded.items()}


TextEncode = Callable[[str, Sequence[str]], Dict[str, np.ndarray]]


class TextEncoder:
    """A query text's shared embedding per codebook set (set -> (D,) float32), on a backend.

    ``torch`` runs the model's text tower once for all sets (:func:`text_queries`). Any other
    backend of :func:`codebind_core.export.create_embedder` (``onnxruntime``: about 3x faster per
    text on a CPU, docs/benchmarks.md) gets one Embedder per set, built (exported, or loaded from
    the export cache) the first time that set is queried; ``options`` go to it. Thread-safe."""

    def __init__(self, model, backend: str = "torch", **options):
        from codebind_core.export import runtime

        if backend not in runtime.BACKENDS:
            raise ValueError(f"unknown text backend {backend!r}; available: {sorted(runtime.BACKENDS)}")
        self.model, self.backend, self.options = model, backend, {"specific": False, **options}
        self._embedders: Dict[str, object] = {}
        self._lock = threading.Lock()

    def _embedder(self, codebook_set: str):
        with self._lock:
            if codebook_set not in self._embedders:
                from codebind_core.export import create_embedder

                self._embedders[codebook_set] = create_embedder(self.model, "text", backend=self.backend,
                                                                codebook_set=codebook_set, **self.options)
            return self._embedders[codebook_set]

    def __call__(self, text: str, codebook_sets: Sequence[str]) -> Dict[str, np.ndarray]:
        if self.backend == "torch":
            return text_queries(self.model, text, codebook_sets)
        return {s: self._embedder(s)([text]).shared[0].float().cpu().numpy() for s in codebook_sets}


class TextQueryCache:
    """The last ``size`` query texts' embeddings (from ``encode``, a :class:`TextEncoder`), least
    recently used out.

    A robot is asked the same questions again ("where is the red mug?"); the text tower costs about
    1 ms of a 2 ms answer on a CPU (docs/benchmarks.md), the rest of the answer much less. Keys are
    the text and the codebook sets; the arrays handed out are read-only. Thread-safe: two queries
    of one text at once may both encode it (the same result), never corrupt the order."""

    def __init__(self, encode: TextEncode):
        self.encode = encode
        self._entries: "OrderedDict[Tuple[str, Tuple[str, ...]], Dict[str, np.ndarray]]" = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, text: str, codebook_sets: Sequence[str], size: int) -> Dict[str, np.ndarray]:
        """``text``'s embedding per set, from the cache or encoded now; ``size`` entries are kept
        (0: none, the cache is emptied)."""
        key = (text, tuple(codebook_sets))
        with self._lock:
            found = self._entries.get(key) if size > 0 else None
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        value = self.encode(text, codebook_sets)
        for array in value.values():
            array.flags.writeable = False
        with self._lock:
            if size > 0:
                self._entries[key] = value
            while len(self._entries) > max(0, size):
                self._entries.popitem(last=False)
        return value


def dedupe(hits, distance: float):
    """Repeated sightings count once: drop a hit whose 3-D position is within ``distance`` of a
    better-ranked hit in the same frame, or, without a position, whose modality and codes equal a
    better-ranked one's (the same view again)."""
    if distance <= 0:
        return list(hits)
    kept, places, views = [], [], set()
    for h in hits:
        obs = h.observation
        if obs.position is not None:
            p = np.asarray(obs.position)
            if any(f == obs.frame_id and np.linalg.norm(p - q) < distance for f, q in places):
                continue
            places.append((obs.frame_id, p))
        else:
            view = (obs.modality, obs.codebook_set, np.asarray(obs.codes, np.uint16).tobytes())
            if view in views:
                continue
            views.add(view)
        kept.append(h)
    return kept


class MemorySearch:
    """Answers text queries from an observation memory and, when given, its object memory.

    Args:
        model: the codebind_core model (its text encoder).
        config: the memory's config (query bounds).
        params: read at every query (:class:`codebind_ros.nodes.memory_params.MemoryParams`):
            ``max_top_k`` (the most results of one answer), ``dedupe_distance`` (observations
            closer than this, m, same frame, to a better one are skipped), ``query_min_score`` and
            ``query_margin`` (object answers leave out objects scoring below the one or more than
            the other below the best one; -1 / a negative margin: keep them), ``text_cache_size``
            (query texts whose embeddings are kept, :class:`TextQueryCache`); read once:
            ``text_backend`` and ``text_backend_options`` (:class:`TextEncoder`).
    """

    def __init__(self, model, memory: ObservationMemory, objects: Optional[ObjectMemory], config: MemoryConfig,
                 params):
        self.model, self.memory, self.objects, self.config, self.params = model, memory, objects, config, params
        self.text_encoder = TextEncoder(model, params.text_backend, **params.text_backend_kwargs())
        self.text_cache = TextQueryCache(self.text_encoder)

    def _queries(self, text: str, sets) -> Dict[str, np.ndarray]:
        return self.text_cache.get(text, sets, self.params.text_cache_size)

    def _bounded(self, text: str, top_k: int):
        text, _ = self.config.bounded_query(text, 1)
        return text, min(self.config.bounded_top_k(top_k), self.params.max_top_k)

    def search(self, text: str, top_k: int, modality: str = "", since_ns: Optional[int] = None,
               until_ns: Optional[int] = None):
        """Ranked :class:`codebind_core.memory.SearchHit` for a text (ValueError on bad input);
        results within ``dedupe_distance`` of a better one (same frame) are skipped."""
        text, k = self._bounded(text, top_k)
        sets = self.memory.codebook_sets
        if not sets:
            return []
        queries = self._queries(text, sets)
        distance = self.params.dedupe_distance
        fetch = k * OVERFETCH if distance > 0 else k
        while True:  # widen the search until k distinct places are found (or nothing is left)
            hits = self.memory.search(queries, top_k=fetch, modalities=[modality] if modality else None,
                                      since_ns=since_ns, until_ns=until_ns)
            kept = dedupe(hits, distance)
            if len(kept) >= k or len(hits) < fetch or fetch >= MAX_FETCH:
                return kept[:k]
            fetch = min(4 * fetch, MAX_FETCH)

    def search_objects(self, text: str, top_k: int, modality: str = "", since_ns: Optional[int] = None,
                       until_ns: Optional[int] = None, include_gone: bool = False):
        """Ranked :class:`codebind_core.memory.ObjectHit` (one per object) for a text, cut by
        ``query_min_score`` and ``query_margin``; ValueError on bad input."""
        text, k = self._bounded(text, top_k)
        sets = self.memory.codebook_sets
        if not sets or not len(self.objects):
            return []
        p = self.params
        hits = self.objects.query(self._queries(text, sets), top_k=MAX_FETCH if modality else k,
                                  min_score=p.query_min_score if p.query_min_score > -1 else None,
                                  margin=p.query_margin if p.query_margin >= 0 else None,
                                  include_gone=include_gone, since_ns=since_ns, until_ns=until_ns)
        if modality:
            hits = [h for h in hits if modality in h.object.modalities]
        return hits[:k]

    def warm_up(self) -> None:
        """Pay the first query's one-off costs (search kernels' compilation, the text encoder's
        first forward) now, before the sensors keep the CPU busy: the first query is then as fast
        as any other."""
        warm_up_kernels()
        if self.memory.codebook_sets:  # on a non-torch backend this also builds the sets' Embedders
            self.text_encoder("a photo of an object.", self.memory.codebook_sets)


@dataclass
class OpenedMemory:
    """The memory a node serves: its database file, observations, objects, search, and what was
    wrong with the file when it was opened (each an error to report; the rest is served)."""

    db_path: Path
    memory: ObservationMemory
    objects: Optional[ObjectMemory]
    search: MemorySearch
    problems: List[str]


def open_memory(model, model_id: str, params, config: MemoryConfig) -> OpenedMemory:
    """Open (or create) the memory of ``params`` (:class:`codebind_ros.nodes.memory_params.MemoryParams`)
    for ``model`` and warm its search up; on failure the database is closed again (free for the next
    start) and the error raised."""
    codebooks = CodebookSet.from_model(model)
    db_path = Path(params.db_path or default_db_path(model_id, codebooks)).expanduser()
    memory = ObservationMemory(db_path, codebooks, config)
    problems = [memory.lost_wal] if memory.lost_wal else []
    if memory.damaged_rows:
        ids = memory.damaged_rows
        problems.append(f"memory at {db_path}: {len(ids)} observations had damaged codes and were removed "
                        f"(ids {ids[:20]}{' ...' if len(ids) > 20 else ''}); the other {len(memory)} are kept")
    try:
        objects = ObjectMemory(memory, params.object_config()) if params.objects else None
        search = MemorySearch(model, memory, objects, config, params)
        search.warm_up()
    except BaseException:
        memory.close()
        raise
    return OpenedMemory(db_path, memory, objects, search, problems)
