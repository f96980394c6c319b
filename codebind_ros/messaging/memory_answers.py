"""The memory node's QueryText answers: a request checked (modality, time window), answered from
:class:`codebind_ros.perception.memory_search.MemorySearch` with objects (the default, when the
node keeps objects) or observations, and the last object answer kept for the markers' highlight.
A bad request is an answer with ``success`` false and a message naming what is wrong."""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

from codebind_core.memory import ObjectMemory, ObservationMemory
from codebind_ros.conversions.results import object_result, query_result
from codebind_ros.messaging.query_server import checked_stamp_ns
from codebind_ros.perception.memory_search import MemorySearch


class MemoryAnswers:
    """Callable ``(request, response) -> response`` for the QueryText service.

    Args:
        search: the memory's text search.
        fixed_frame: the frame of object positions.
        modalities: the modalities a query may name (called per request: the database may learn new ones).
    """

    def __init__(self, search: MemorySearch, memory: ObservationMemory, objects: Optional[ObjectMemory],
                 fixed_frame: str, modalities: Callable[[], List[str]]):
        self.search, self.memory, self.objects = search, memory, objects
        self.fixed_frame, self.modalities = fixed_frame, modalities
        self.highlight: Dict[int, float] = {}   # the last object answer: object id -> score
        self.highlight_text = ""

    def check(self, request) -> Tuple[Optional[int], Optional[int]]:
        """(since_ns, until_ns) of a request (None: no bound); ValueError names what is wrong."""
        known = self.modalities()
        if request.modality and request.modality not in known:
            raise ValueError(f"unknown modality {request.modality!r}; known: {known} (empty: all)")
        since = checked_stamp_ns(request.since, "since") or None
        until = checked_stamp_ns(request.until, "until") or None
        if since is not None and until is not None and since > until:
            raise ValueError(f"since ({since} ns) is after until ({until} ns)")
        return since, until

    def __call__(self, request, response):
        if not request.observations and self.objects is not None:
            return self._objects(request, response)
        try:
            since, until = self.check(request)
            hits = self.search.search(request.text, request.top_k, request.modality, since, until)
        except ValueError as exc:
            response.success, response.message = False, str(exc)
            return response
        response.success = True
        response.message = f"{len(hits)} of {len(self.memory)} observations"
        response.results = [query_result(h.score, h.id, h.observation.modality, h.observation.stamp_ns,
                                         h.observation.frame_id, h.observation.position, h.observation.box)
                            for h in hits]
        return response

    def _objects(self, request, response):
        try:
            since, until = self.check(request)
            hits = self.search.search_objects(request.text, request.top_k, request.modality, since, until,
                                              request.include_gone)
        except ValueError as exc:
            response.success, response.message = False, str(exc)
            return response
        response.success = True
        response.message = f"{len(hits)} of {len(self.objects)} objects in '{self.fixed_frame}'"
        response.results = [object_result(h.score, h.object, self.fixed_frame) for h in hits]
        self.highlight = {int(h.object.id): float(h.score) for h in hits}
        self.highlight_text = request.text.strip()
        return response
