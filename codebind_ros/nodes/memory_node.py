"""The memory + query node: stores observations in SQLite and answers text queries.

    ros2 run codebind_ros memory_node --ros-args -p model_path:=/path/ckpt -p db_path:=/data/mem.db

Stored: every sensor's Embedding (at most one per ``min_period`` per modality, no 3-D position)
and, from the localisation node, every object proposal with its 3-D centre and 2-D box (one
ProposalArray per frame: embedding and geometry of each proposal travel together). Each
observation keeps only its shared codebook indices (codebind_core.memory: uint16 per
sub-vector); a QueryText request embeds the text with the model for every stored codebook set
and ranks observations by lookup-table search over the model's codebooks.

World frame and objects: a proposal frame waits (at most ``transform_wait``) for the sensor pose
at its stamp (:mod:`codebind_ros.messaging.sensor_pose`: tf2_ros, or odometry plus a static
extrinsic), then its proposals are stored in ``fixed_frame`` and associated into persistent
objects (codebind_core ``ObjectMemory``; the frame's depth image marks places seen empty); a frame
whose pose does not come is dropped and counted (``dropped_no_transform``). A sound or touch the
localiser placed attaches to the object there. Queries answer with objects unless the request
asks for observations; ``codebind/memory/markers`` shows the objects, the last answer highlighted.

Durability: observations wait in a bounded list and are committed every ``commit_period``; after
each commit the highest committed row id is published on ``codebind/memory/ack``. Objects are
committed per proposal frame; the highest object id then is published on
``codebind/memory/object_ack``. Everything acknowledged survives a crash (SQLite WAL,
``synchronous`` FULL by default): a restarted node re-opens ``db_path`` with all of it.
"""
from __future__ import annotations

import collections
import sys
import threading
import time
from pathlib import Path
from typing import Deque, Dict, List, Optional, Tuple

import numpy as np
import torch
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import UInt64

from codebind_core.geometry import PendingTransforms
from codebind_core.memory import (CodebookSet, MemoryConfig, ObjectMemory, ObjectProposal, Observation,
                                  ObservationMemory)
from codebind_core.memory.kernels import warm_up as warm_up_kernels
from codebind_ros.conversions import embedding_msg
from codebind_ros.nodes.diagnostics import (DROP_INVALID, DROP_OVERLOAD, DROP_TRANSPORT, DiagnosticsReporter,
                                      NodeStats, ThrottledLog)
from codebind_ros.nodes.model_loading import load_model
from codebind_ros.nodes.encoder_params import MODALITIES
from codebind_ros.nodes.memory_params import MemoryParams
from codebind_ros.msg import Embedding as EmbeddingMsg
from codebind_ros.msg import LocalizationArray, ProposalArray
from visualization_msgs.msg import MarkerArray
from codebind_ros.nodes.params import declare
from codebind_ros.messaging.query_server import QueryServer, checked_stamp_ns
from codebind_ros.messaging.qos import latched_qos, results_qos
from codebind_ros.conversions.camera_info import from_camera_info
from codebind_ros.conversions.image import to_depth
from codebind_ros.conversions.markers import object_markers
from codebind_ros.conversions.results import object_result, query_result, roi_to_box, stamp_to_ns
from codebind_ros.messaging.sensor_subscription import SensorSubscription
from codebind_ros.messaging.sensor_pose import SensorPoses
from codebind_ros.messaging.spatial_topics import MEMORY_ACK, MEMORY_MARKERS, OBJECT_ACK, PROPOSALS
from codebind_ros.perception.depth_views import DepthViews
from codebind_ros.messaging.stream_health import SequenceTracker
from codebind_ros.nodes.session import context_ok, run_node
from codebind_ros.srv import QueryText
from codebind_ros.messaging.topics import LOCALISATIONS, QUERY_SERVICE, embedding_topic

_MAX_IMAGE_BYTES = 64 << 20  # depth images and camera infos: larger ones are refused unread
_OVERFETCH = 8     # first search: candidates per wanted result when near-duplicates are skipped
_MAX_FETCH = 10_000  # bound on the candidates one query looks at
_MAX_MARKERS = 1000  # objects drawn (the most recently seen)
DROP_NO_TRANSFORM = "no_transform"  # a proposal frame whose sensor pose did not come in time
ATTACHED_MODALITIES = ("audio", "tactile")  # localised by the localiser, attached to the object there


def _file_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "model"


def default_db_path(model_id: str, codebooks: CodebookSet) -> str:
    """``~/.ros/codebind/memory_<model id>-<codebook fingerprint, 12 hex>.db``: one database per
    model. The model id alone is the checkpoint folder's name by default (``model`` for many), so
    two models would share a file that the second one may not open."""
    return f"~/.ros/codebind/memory_{_file_name(model_id)}-{codebooks.fingerprint()[:12]}.db"


def text_queries(model, text: str, codebook_sets) -> Dict[str, np.ndarray]:
    """The text's shared embedding for each codebook set (set -> (D,) float32)."""
    with torch.no_grad():
        return {s: model.encode_text([text], codebook_set=s).shared[0].float().cpu().numpy() for s in codebook_sets}


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


class MemoryNode(Node):
    """Store observations, serve QueryText.

    Args:
        model: an already loaded ``codebind_core`` model; when None, ``model_path`` is loaded.
        node_name: ROS node name.
        **node_kwargs: forwarded to :class:`rclpy.node.Node`.
    """

    def __init__(self, model=None, node_name: str = "codebind_memory", **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        self.params = p = declare(self, MemoryParams)
        self.model = model if model is not None else load_model(p.model_path, p.device)
        self.model_id = p.model_id or (Path(p.model_path).name if p.model_path else self.model.config.name)
        self.config = MemoryConfig(max_observations=p.max_observations, max_top_k=_MAX_FETCH,
                                   max_text_chars=p.max_text_chars, synchronous=p.synchronous,
                                   on_codebook_mismatch=p.on_codebook_mismatch, index=p.index,
                                   ivf_nprobe=p.ivf_nprobe, ivf_min_observations=p.ivf_min_observations)
        codebooks = CodebookSet.from_model(self.model)
        self.db_path = Path(p.db_path or default_db_path(self.model_id, codebooks)).expanduser()
        self.memory = ObservationMemory(self.db_path, codebooks, self.config)
        if self.memory.lost_wal:
            self.get_logger().error(self.memory.lost_wal)
        if self.memory.damaged_rows:
            ids = self.memory.damaged_rows
            self.get_logger().error(
                f"memory at {self.db_path}: {len(ids)} observations had damaged codes and were removed "
                f"(ids {ids[:20]}{' ...' if len(ids) > 20 else ''}); the other {len(self.memory)} are kept")
        try:
            self.objects = ObjectMemory(self.memory, p.object_config()) if p.objects else None
            self._warm_up()
        except BaseException:
            self.memory.close()  # a failed start leaves the database free for the next one
            raise
        self.stats = NodeStats()
        self.sequences = SequenceTracker(on_lost=lambda n: self.stats.on_dropped(DROP_TRANSPORT, n))
        self._warn = ThrottledLog(self.get_logger().warning, p.log_throttle_sec)
        self._pending: Deque[Tuple[Observation, float]] = collections.deque()  # (obs, received)
        self._pending_lock = threading.Lock()
        self._last_stored: Dict[str, int] = {}
        self.acknowledged = 0  # highest committed row id

        inputs = ReentrantCallbackGroup()
        for modality in p.modality_list():
            self.create_subscription(EmbeddingMsg, embedding_topic(modality), self._on_numbered_embedding,
                                     results_qos(p.input_qos_depth), callback_group=inputs)
        if p.store_proposals:
            self.create_subscription(ProposalArray, PROPOSALS, self._on_proposals, results_qos(10),
                                     callback_group=inputs)
        self.ack_publisher = self.create_publisher(UInt64, MEMORY_ACK, latched_qos())
        self._start_world_frame(p, inputs)
        self.create_timer(p.commit_period, self.flush, callback_group=MutuallyExclusiveCallbackGroup())
        self.query_server = QueryServer(self, QueryText, QUERY_SERVICE, self._on_query,
                                        qos_depth=p.query_qos_depth, max_pending=p.max_pending_queries,
                                        max_wait_s=p.query_timeout, on_error=self.get_logger().error)
        self.service = self.query_server.service
        self.diagnostics = DiagnosticsReporter(self, self.stats, hardware_id="memory",
                                               period_s=p.diagnostics_period, extra=self._extra)
        objects = f", {len(self.objects)} objects in '{p.fixed_frame}'" if self.objects is not None else ""
        self.get_logger().info(f"memory at {self.db_path}: {len(self.memory)} observations "
                               f"(max {p.max_observations}){objects}, sensor pose from "
                               f"{self.poses.kind} ({self.poses.implementation}), serving '{QUERY_SERVICE}'")

    def _start_world_frame(self, p: MemoryParams, inputs) -> None:
        """Sensor poses, the frames waiting for theirs, depth views, object ack / markers / export."""
        self.poses = SensorPoses(self, p.fixed_frame, p.transform_source, p.odometry_topic, p.sensor_extrinsic,
                                 p.sensor_frame, p.transform_cache, on_invalid=self._drop, callback_group=inputs)
        self.waiting = PendingTransforms(p.fixed_frame, int(p.transform_wait * 1e9), p.max_waiting_frames)
        self._waiting_dropped = 0
        self.placed_stamps: Deque[int] = collections.deque(maxlen=10_000)  # proposal frames stored
        self.views = DepthViews()
        self._highlight: Dict[int, float] = {}
        self._highlight_text = ""
        self._markers_shown = None      # (objects version, highlight) last published
        self.object_acknowledged = 0
        placing = MutuallyExclusiveCallbackGroup()
        self.create_timer(0.05, self._place_waiting, callback_group=placing)
        if self.objects is None:
            return
        if p.seen_empty_checks:
            self.sensor_subscriptions = [
                SensorSubscription(self, kind, topic, callback, _MAX_IMAGE_BYTES, on_refused=self._drop,
                                   callback_group=inputs)
                for kind, topic, callback in ((Image, p.depth_topic, self._on_depth),
                                              (CameraInfo, p.camera_info_topic, self._on_camera_info))]
        self.create_subscription(LocalizationArray, LOCALISATIONS, self._on_localisations, results_qos(10),
                                 callback_group=inputs)
        self.object_ack_publisher = self.create_publisher(UInt64, OBJECT_ACK, latched_qos())
        self.markers_publisher = self.create_publisher(MarkerArray, MEMORY_MARKERS, latched_qos())
        if p.markers_period > 0:
            # also an answer's highlight goes out from here, not with the answer: building the
            # markers of 1000 objects takes tens of ms, which no answer should wait for, and a
            # burst of queries then costs one build per period
            self.create_timer(p.markers_period, self.publish_markers, callback_group=placing)
        if p.export_period > 0 and (p.export_json or p.export_ply):
            self.create_timer(p.export_period, self.export, callback_group=placing)

    # ---- inputs ------------------------------------------------------------------------------
    def _observation(self, msg: EmbeddingMsg, stamp_ns: int, frame_id: str, **where) -> Observation:
        if self.params.check_model_id and msg.model_id != self.model_id:
            raise ValueError(f"embedding of model {msg.model_id!r}; this memory uses {self.model_id!r}")
        arrays = embedding_msg.from_msg(msg)
        obs = Observation(msg.modality, arrays.codebook_set, arrays.codes, stamp_ns, frame_id,
                          specific_codes=arrays.specific_codes, model_id=msg.model_id, **where)
        obs = obs.validated()
        self.memory.codebooks.check_codes(obs.codebook_set, obs.codes)
        return obs

    def _queue(self, observations: List[Observation], received: float) -> None:
        with self._pending_lock:
            for obs in observations:
                self._pending.append((obs, received))
            excess = len(self._pending) - self.params.max_pending
            for _ in range(max(0, excess)):
                self._pending.popleft()
        if excess > 0:
            self.stats.on_dropped(DROP_OVERLOAD, excess)

    def _on_numbered_embedding(self, msg: EmbeddingMsg, info) -> None:
        """An Embedding with rclpy's MessageInfo: gaps in its publisher's sequence are counted
        as ``dropped_transport`` (sent, never delivered)."""
        self.sequences.observe(info)
        self._on_embedding(msg)

    def _on_embedding(self, msg: EmbeddingMsg) -> None:
        received = time.monotonic()
        self.stats.on_received()
        stamp = stamp_to_ns(msg.header.stamp)
        last = self._last_stored.get(msg.modality)
        if last is not None and 0 <= stamp - last < self.params.min_period * 1e9:
            return  # rate limit per modality (not a drop: by design)
        try:
            obs = self._observation(msg, stamp, msg.header.frame_id)
        except ValueError as exc:
            self._drop(f"embedding ({msg.modality}): {exc}")
            return
        self._last_stored[msg.modality] = stamp
        self._queue([obs], received)

    def _on_proposals(self, msg: ProposalArray, info) -> None:
        """One frame's proposals, each with its geometry; gaps in the publisher's sequence are
        frames counted as ``dropped_transport``."""
        self.sequences.observe(info)
        self.stats.on_received(len(msg.proposals))
        self._wait_for_pose(("proposals", (msg, time.monotonic())), msg.header.frame_id,
                            stamp_to_ns(msg.header.stamp))

    def _wait_for_pose(self, item, frame_id: str, stamp: int) -> None:
        with self._pending_lock:
            self.waiting.push(item, frame_id, stamp, time.monotonic_ns())

    def _place_waiting(self) -> None:
        """Store every waiting frame whose sensor pose has come; count those dropped waiting."""
        with self._pending_lock:
            ready = self.waiting.poll(self.poses, time.monotonic_ns())
            dropped = sum(self.waiting.dropped.values())
            new, self._waiting_dropped = dropped - self._waiting_dropped, dropped
        if new:
            self.stats.on_dropped(DROP_NO_TRANSFORM, new)
            self._warn(f"dropped {new} frame(s) without a sensor pose in '{self.params.fixed_frame}' "
                       f"within {self.params.transform_wait} s ({dict(self.waiting.dropped)})")
        for (kind, payload), transform in ready:
            if kind == "proposals":
                self._place_proposals(*payload, transform)
            else:
                self._attach(*payload, transform)

    def _place_proposals(self, msg: ProposalArray, received: float, transform) -> None:
        """One proposal frame in the fixed frame: observations queued, objects associated."""
        stamp, frame = stamp_to_ns(msg.header.stamp), msg.header.frame_id
        fixed = self.poses.kind != "none"  # 'none': positions stay in the sensor frame (= the fixed one)
        observations, proposals = [], []
        for geo in msg.proposals:
            emb = geo.embedding
            where = {"box": roi_to_box(geo.box)}
            try:
                if geo.has_position:
                    pos = np.array([geo.position.x, geo.position.y, geo.position.z])
                    size = np.abs([geo.size.x, geo.size.y, geo.size.z])
                    if fixed:
                        pos, size = transform.apply(pos), transform.rotate_extent(size)
                    where["position"], where["size"] = tuple(map(float, pos)), tuple(map(float, size))
                obs = self._observation(emb, stamp, self.params.fixed_frame if fixed else frame, **where)
                observations.append(obs)
                if self.objects is not None and geo.has_position:
                    proposals.append(ObjectProposal(obs.codebook_set, stamp, obs.position, size=obs.size,
                                                    embedding=embedding_msg.from_msg(emb).shared,
                                                    modality=obs.modality, source="localisation",
                                                    frame_id=self.params.fixed_frame))
            except ValueError as exc:
                self._drop(f"proposal: {exc}")
        self._queue(observations, received)
        if self.objects is not None:
            view = self.views.view(stamp, frame, transform) if self.params.seen_empty_checks else None
            try:
                result = self.objects.observe(proposals, stamp_ns=stamp, view=view)
            except ValueError as exc:
                self._drop(f"proposal frame: {exc}")
                return
            if result.object_ids:
                self.object_acknowledged = max(self.object_acknowledged, max(result.object_ids))
                self._publish_uint(self.object_ack_publisher, self.object_acknowledged)
        self.placed_stamps.append(stamp)

    def _on_localisations(self, msg: LocalizationArray) -> None:
        """A sound or touch the localiser placed: attach it to the object there (once its pose is known)."""
        if msg.query_modality not in ATTACHED_MODALITIES or not msg.results or not msg.results[0].has_position:
            return
        top = msg.results[0]
        stamp = stamp_to_ns(msg.header.stamp)
        when = stamp_to_ns(msg.query_stamp) or stamp
        where = (top.position.x, top.position.y, top.position.z)
        self._wait_for_pose(("attach", (msg.query_modality, when, where)), msg.header.frame_id, stamp)

    def _attach(self, modality: str, stamp: int, position, transform) -> None:
        try:
            pos = transform.apply(np.asarray(position, np.float64)) if self.poses.kind != "none" else position
            self.objects.attach(modality, stamp, position=pos)
        except ValueError as exc:
            self._drop(f"{modality} location: {exc}")

    def _on_depth(self, msg: Image, _info=None) -> None:
        try:
            self.views.add_depth(stamp_to_ns(msg.header.stamp), msg.header.frame_id, to_depth(msg))
        except ValueError as exc:
            self._drop(f"depth image: {exc}")

    def _on_camera_info(self, msg: CameraInfo, _info=None) -> None:
        try:
            self.views.add_camera(from_camera_info(msg))
        except ValueError as exc:
            self._drop(f"camera info: {exc}")

    def _drop(self, reason: str) -> None:
        self.stats.on_dropped(DROP_INVALID, detail=reason)
        self._warn(f"dropped an observation: {reason}")

    # ---- commits -----------------------------------------------------------------------------
    def flush(self) -> int:
        """Commit pending observations; publish the ack. Returns how many were committed."""
        with self._pending_lock:
            batch = list(self._pending)
            self._pending.clear()
        if not batch:
            return 0
        try:
            ids = self.memory.add([obs for obs, _ in batch])
        except ValueError as exc:  # a bad observation slipped through: store the rest one by one
            ids = []
            for obs, _ in batch:
                try:
                    ids += self.memory.add([obs])
                except ValueError as one:
                    self._drop(str(one))
            if not ids:
                self._warn(f"commit failed: {exc}")
                return 0
        now = time.monotonic()
        for _, received in batch[: len(ids)]:
            self.stats.on_processed(now - received)
        self.acknowledged = max(self.acknowledged, max(ids))
        self._publish_uint(self.ack_publisher, self.acknowledged)
        return len(ids)

    def _publish_uint(self, publisher, value: int) -> None:
        """Publish an ack (highest committed id); skipped once the context is down (the last flush
        runs in destroy_node, after a SIGINT/SIGTERM shut the context: the rows are committed,
        there is just no one left to tell)."""
        if not context_ok(self):
            return
        try:
            publisher.publish(UInt64(data=int(value)))
        except Exception:
            if context_ok(self):
                raise  # the context went down during the call: same as above

    # ---- queries -----------------------------------------------------------------------------
    def search(self, text: str, top_k: int, modality: str = "", since_ns: Optional[int] = None,
               until_ns: Optional[int] = None):
        """Ranked :class:`codebind_core.memory.SearchHit` for a text (ValueError on bad input);
        results within ``dedupe_distance`` of a better one (same frame) are skipped."""
        text, _ = self.config.bounded_query(text, 1)
        k = min(self.config.bounded_top_k(top_k), self.params.max_top_k)
        sets = self.memory.codebook_sets
        if not sets:
            return []
        queries = text_queries(self.model, text, sets)
        fetch = k * _OVERFETCH if self.params.dedupe_distance > 0 else k
        while True:  # widen the search until k distinct places are found (or nothing is left)
            hits = self.memory.search(queries, top_k=fetch, modalities=[modality] if modality else None,
                                      since_ns=since_ns, until_ns=until_ns)
            kept = dedupe(hits, self.params.dedupe_distance)
            if len(kept) >= k or len(hits) < fetch or fetch >= _MAX_FETCH:
                return kept[:k]
            fetch = min(4 * fetch, _MAX_FETCH)

    def search_objects(self, text: str, top_k: int, modality: str = "", since_ns: Optional[int] = None,
                       until_ns: Optional[int] = None, include_gone: bool = False):
        """Ranked :class:`codebind_core.memory.ObjectHit` (one per object) for a text, cut by
        ``query_min_score`` and ``query_margin``; ValueError on bad input."""
        text, _ = self.config.bounded_query(text, 1)
        k = min(self.config.bounded_top_k(top_k), self.params.max_top_k)
        sets = self.memory.codebook_sets
        if not sets or not len(self.objects):
            return []
        p = self.params
        hits = self.objects.query(text_queries(self.model, text, sets), top_k=_MAX_FETCH if modality else k,
                                  min_score=p.query_min_score if p.query_min_score > -1 else None,
                                  margin=p.query_margin if p.query_margin >= 0 else None,
                                  include_gone=include_gone, since_ns=since_ns, until_ns=until_ns)
        if modality:
            hits = [h for h in hits if modality in h.object.modalities]
        return hits[:k]

    def _warm_up(self) -> None:
        """Pay the first query's one-off costs (search kernels' compilation, the text encoder's
        first forward) now, before the sensors keep the CPU busy: the first query is then as fast
        as any other."""
        warm_up_kernels()
        if self.memory.codebook_sets:
            text_queries(self.model, "a photo of an object.", self.memory.codebook_sets)

    def query_modalities(self) -> List[str]:
        """Modalities a query may name: the sensors' and whatever this database has stored."""
        return sorted(set(MODALITIES) | set(self.params.modality_list()) | set(self.memory.modalities))

    def _check_query(self, request: QueryText.Request) -> Tuple[Optional[int], Optional[int]]:
        """(since_ns, until_ns) of a request (None: no bound); ValueError names what is wrong."""
        known = self.query_modalities()
        if request.modality and request.modality not in known:
            raise ValueError(f"unknown modality {request.modality!r}; known: {known} (empty: all)")
        since = checked_stamp_ns(request.since, "since") or None
        until = checked_stamp_ns(request.until, "until") or None
        if since is not None and until is not None and since > until:
            raise ValueError(f"since ({since} ns) is after until ({until} ns)")
        return since, until

    def _on_query(self, request: QueryText.Request, response: QueryText.Response):
        if not request.observations and self.objects is not None:
            return self._answer_objects(request, response)
        try:
            since, until = self._check_query(request)
            hits = self.search(request.text, request.top_k, request.modality, since, until)
        except ValueError as exc:
            response.success, response.message = False, str(exc)
            return response
        response.success = True
        response.message = f"{len(hits)} of {len(self.memory)} observations"
        response.results = [query_result(h.score, h.id, h.observation.modality, h.observation.stamp_ns,
                                         h.observation.frame_id, h.observation.position, h.observation.box)
                            for h in hits]
        return response

    def _answer_objects(self, request: QueryText.Request, response: QueryText.Response):
        try:
            since, until = self._check_query(request)
            hits = self.search_objects(request.text, request.top_k, request.modality, since, until,
                                       request.include_gone)
        except ValueError as exc:
            response.success, response.message = False, str(exc)
            return response
        frame = self.params.fixed_frame
        response.success = True
        response.message = f"{len(hits)} of {len(self.objects)} objects in '{frame}'"
        response.results = [object_result(h.score, h.object, frame) for h in hits]
        self._highlight = {int(h.object.id): float(h.score) for h in hits}
        self._highlight_text = request.text.strip()
        return response

    def publish_markers(self, force: bool = False) -> None:
        """The present objects (the most recently seen, at most 1000) as a MarkerArray in the fixed
        frame, the last query's answer highlighted; nothing when neither changed since the last
        one (the topic is latched: late subscribers still get it), unless ``force``."""
        if self.objects is None or not context_ok(self):
            return
        shown = (self.objects.version, self._highlight_text, tuple(sorted(self._highlight.items())))
        if shown == self._markers_shown and not force:
            return
        objs = self.objects.recent(_MAX_MARKERS)
        msg = object_markers(objs, self.params.fixed_frame, self.get_clock().now().to_msg(), self._highlight,
                             self._highlight_text)
        self._markers_shown = shown
        try:
            self.markers_publisher.publish(msg)
        except Exception:
            if context_ok(self):
                raise

    def export(self) -> List[Path]:
        """Write the object map to ``export_json`` / ``export_ply`` (those set); returns the files."""
        if self.objects is None:
            return []
        written = []
        for path, write in ((self.params.export_json, self.objects.export_json),
                            (self.params.export_ply, self.objects.export_ply)):
            if path:
                try:
                    written.append(write(Path(path).expanduser()))
                except OSError as exc:
                    self._warn(f"object map export to {path} failed: {exc}")
        return written

    def _extra(self):
        with self._pending_lock:
            pending = len(self._pending)
            waiting = {f"waiting_dropped_{k}": str(v) for k, v in self.waiting.dropped.items()}
            waiting["waiting_for_pose"] = str(len(self.waiting))
        if self.objects is not None:
            waiting.update(objects=str(len(self.objects)), object_acknowledged_id=str(self.object_acknowledged),
                           objects_unattached=str(self.objects.unattached))
        waiting.update(transform_source=f"{self.poses.kind} ({self.poses.implementation})",
                       fixed_frame=self.params.fixed_frame)
        self.sequences.expire()
        queries = {f"queries_{k}": str(v) for k, v in self.query_server.counts.items()}
        return {**self.sequences.values(), **queries, **waiting, "queries_waiting": str(self.query_server.pending),
                "observations": str(len(self.memory)), "pending": str(pending),
                "acknowledged_id": str(self.acknowledged), "db_path": str(self.db_path),
                "model_id": self.model_id}

    def destroy_node(self) -> None:
        """Stop serving, commit what is pending, close the database. Safe on a node whose
        constructor failed half-way (rclpy destroys such a node when its context shuts down)."""
        server = getattr(self, "query_server", None)
        if server is not None:
            server.stop()
        try:
            if hasattr(self, "_pending") and hasattr(self, "memory"):
                self.flush()
            if hasattr(self, "poses") and getattr(self, "objects", None) is not None:
                self.export()
        finally:
            memory = getattr(self, "memory", None)
            if memory is not None:
                memory.close()
            super().destroy_node()


def main(args: Optional[List[str]] = None) -> int:
    """``memory_node`` executable: spin one MemoryNode until shutdown."""
    return run_node(MemoryNode, "codebind_memory", args, multi_threaded=True)


if __name__ == "__main__":
    sys.exit(main())
