"""The memory + query node: stores observations and objects in SQLite and answers text queries.

    ros2 run codebind_ros memory_node --ros-args -p model_path:=/path/ckpt -p db_path:=/data/mem.db

Stored: every sensor's Embedding (at most one per ``min_period`` per modality) and, from the
localisation node, one ProposalArray per frame (embedding and geometry of each proposal). A
proposal frame waits (at most ``transform_wait``) for the sensor pose at its stamp
(:mod:`codebind_ros.messaging.sensor_pose`), is placed in ``fixed_frame``
(:mod:`codebind_ros.perception.placement`) and associated into persistent objects (codebind_core
``ObjectMemory``; its depth image marks places seen empty); a frame whose pose does not come is
dropped and counted. A sound or touch the localiser placed attaches to the object there. Queries
(:mod:`codebind_ros.perception.memory_search`) answer with objects unless the request asks for
observations; ``codebind/memory/markers`` shows the objects, the last answer highlighted.

Durability: observations are committed every ``commit_period``
(:mod:`codebind_ros.perception.memory_commits`), objects per proposal frame; the highest committed
id goes out on ``codebind/memory/ack`` / ``object_ack``. Everything acknowledged survives a crash
(SQLite WAL, ``synchronous`` FULL by default): a restarted node re-opens ``db_path`` with all of it.
This node keeps the subscriptions, timers, service and publishing.
"""
from __future__ import annotations

import collections
import sys
import threading
import time
from pathlib import Path
from typing import Deque, Dict, List, Optional

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import UInt64

from codebind_core.geometry import PendingTransforms
from codebind_core.memory import MemoryConfig, Observation
from codebind_ros.conversions import embedding_msg
from codebind_ros.nodes.diagnostics import (DROP_INVALID, DROP_OVERLOAD, DROP_TRANSPORT, DiagnosticsReporter,
                                      NodeStats, ThrottledLog)
from codebind_ros.nodes.model_node import ModelNode
from codebind_ros.nodes.encoder_params import MODALITIES
from codebind_ros.nodes.memory_params import MemoryParams, params_for_model
from codebind_ros.msg import Embedding as EmbeddingMsg
from codebind_ros.msg import LocalizationArray, ProposalArray
from visualization_msgs.msg import MarkerArray
from codebind_ros.messaging.memory_answers import MemoryAnswers
from codebind_ros.messaging.query_server import QueryServer
from codebind_ros.messaging.qos import latched_qos, results_qos
from codebind_ros.conversions.camera_info import from_camera_info
from codebind_ros.conversions.image import to_depth
from codebind_ros.conversions.markers import object_markers
from codebind_ros.conversions.results import stamp_to_ns
from codebind_ros.messaging.sensor_subscription import SensorSubscription
from codebind_ros.messaging.sensor_pose import SensorPoses
from codebind_ros.messaging.spatial_topics import MEMORY_ACK, MEMORY_MARKERS, OBJECT_ACK, PROPOSALS
from codebind_ros.perception.depth_views import DepthViews
from codebind_ros.perception.memory_commits import CommitQueue, export_object_map
from codebind_ros.perception.memory_search import MAX_FETCH, default_db_path, dedupe, open_memory, text_queries
from codebind_ros.perception.placement import checked_observation, place_frame, place_point
from codebind_ros.messaging.stream_health import SequenceTracker
from codebind_ros.nodes.node_kinds import NODE_KINDS
from codebind_ros.nodes.session import context_ok, run_node
from codebind_ros.srv import QueryText
from codebind_ros.messaging.topics import (CAMERA_INFO, LOCALISATIONS, ODOMETRY, QUERY_SERVICE, SENSOR_TOPICS,
                                           embedding_topic)

_MAX_IMAGE_BYTES = 64 << 20  # depth images and camera infos: larger ones are refused unread
_MAX_MARKERS = 1000  # objects drawn (the most recently seen)
DROP_NO_TRANSFORM = "no_transform"  # a proposal frame whose sensor pose did not come in time
ATTACHED_MODALITIES = ("audio", "tactile")  # localised by the localiser, attached to the object there
__all__ = ["MemoryNode", "dedupe", "default_db_path", "main", "text_queries"]


def _peek(node: Node, name: str) -> str:
    """The string parameter ``name`` as the node was started with (override or ''), left undeclared."""
    node.declare_parameter(name, "", ParameterDescriptor(read_only=False))
    value = node.get_parameter(name).value
    node.undeclare_parameter(name)
    return value


class MemoryNode(ModelNode):
    """Store observations, serve QueryText.

    Args:
        model: an already loaded ``codebind_core`` model; when None, ``model_path`` is loaded.
        node_name: ROS node name.
        **node_kwargs: forwarded to :class:`rclpy.node.Node`.
    """

    def __init__(self, model=None, node_name: str = "codebind_memory", **node_kwargs):
        # declared with the model's tuned object-memory thresholds (models/<name>/memory.yaml) as defaults
        super().__init__(node_name, lambda node: params_for_model(_peek(node, "model_path")), model, **node_kwargs)
        p = self.params
        self.config = MemoryConfig(max_observations=p.max_observations, max_top_k=MAX_FETCH,
                                   max_text_chars=p.max_text_chars, synchronous=p.synchronous,
                                   on_codebook_mismatch=p.on_codebook_mismatch, index=p.index,
                                   ivf_nprobe=p.ivf_nprobe, ivf_min_observations=p.ivf_min_observations)
        opened = open_memory(self.model, self.model_id, p, self.config)
        self.db_path, self.memory, self.objects, self.answers = (opened.db_path, opened.memory, opened.objects,
                                                                 opened.search)
        for problem in opened.problems:
            self.get_logger().error(problem)
        self.stats = NodeStats()
        self.sequences = SequenceTracker(on_lost=lambda n: self.stats.on_dropped(DROP_TRANSPORT, n))
        self._warn = ThrottledLog(self.get_logger().warning, p.log_throttle_sec)
        self.commits = CommitQueue(self.memory, p.max_pending)
        self._waiting_lock = threading.Lock()
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
        self.replies = MemoryAnswers(self.answers, self.memory, self.objects, p.fixed_frame, self.query_modalities)
        self.query_server = QueryServer(self, QueryText, QUERY_SERVICE, self.replies,
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
        self.poses = SensorPoses(self, p.fixed_frame, p.transform_source, ODOMETRY, p.sensor_extrinsic,
                                 p.sensor_frame, p.transform_cache, on_invalid=self._drop, callback_group=inputs)
        self.waiting = PendingTransforms(p.fixed_frame, int(p.transform_wait * 1e9), p.max_waiting_frames)
        self._waiting_dropped = 0
        self.placed_stamps: Deque[int] = collections.deque(maxlen=10_000)  # proposal frames stored
        self.views = DepthViews()
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
                for kind, topic, callback in ((Image, SENSOR_TOPICS["depth"], self._on_depth),
                                              (CameraInfo, CAMERA_INFO, self._on_camera_info))]
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
    def _accepted_model(self) -> Optional[str]:
        return self.model_id if self.params.check_model_id else None

    def _observation(self, msg: EmbeddingMsg, stamp_ns: int, frame_id: str) -> Observation:
        arrays = embedding_msg.from_msg(msg)
        obs = Observation(msg.modality, arrays.codebook_set, arrays.codes, stamp_ns, frame_id,
                          specific_codes=arrays.specific_codes, model_id=msg.model_id)
        return checked_observation(obs, self.memory.codebooks, self._accepted_model())

    def _queue(self, observations: List[Observation], received: float) -> None:
        excess = self.commits.put(observations, received)
        if excess:
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
        with self._waiting_lock:
            self.waiting.push(item, frame_id, stamp, time.monotonic_ns())

    def _place_waiting(self) -> None:
        """Store every waiting frame whose sensor pose has come; count those dropped waiting."""
        with self._waiting_lock:
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
        """One proposal frame in the fixed frame (:func:`placement.place_frame`): observations
        queued, objects associated."""
        stamp, frame = stamp_to_ns(msg.header.stamp), msg.header.frame_id
        pose = transform if self.poses.kind != "none" else None  # 'none': the sensor frame is the fixed one
        items, unread = embedding_msg.proposals_from_msg(msg)
        placed = place_frame(items, stamp, frame, self.params.fixed_frame, pose, self.memory.codebooks,
                             self._accepted_model(), objects=self.objects is not None)
        for reason in unread + placed.dropped:
            self._drop(reason)
        self._queue(placed.observations, received)
        if self.objects is not None:
            view = self.views.view(stamp, frame, transform) if self.params.seen_empty_checks else None
            try:
                result = self.objects.observe(placed.proposals, stamp_ns=stamp, view=view)
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
            pose = transform if self.poses.kind != "none" else None
            self.objects.attach(modality, stamp, position=place_point(position, pose))
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
        done = self.commits.flush()
        for reason in done.dropped:
            self._drop(reason)
        if done.failed:
            self._warn(f"commit failed: {done.failed}")
        if not done.ids:
            return 0
        now = time.monotonic()
        for received in done.received:
            self.stats.on_processed(now - received)
        self.acknowledged = max(self.acknowledged, max(done.ids))
        self._publish_uint(self.ack_publisher, self.acknowledged)
        return len(done.ids)

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
        """Ranked observations for a text (:meth:`MemorySearch.search`)."""
        return self.answers.search(text, top_k, modality, since_ns, until_ns)

    def query_modalities(self) -> List[str]:
        """Modalities a query may name: the sensors' and whatever this database has stored."""
        return sorted(set(MODALITIES) | set(self.params.modality_list()) | set(self.memory.modalities))

    def publish_markers(self, force: bool = False) -> None:
        """The present objects (the most recently seen, at most 1000) as a MarkerArray in the fixed
        frame, the last query's answer highlighted; nothing when neither changed since the last
        one (the topic is latched: late subscribers still get it), unless ``force``."""
        if self.objects is None or not context_ok(self):
            return
        lit, text = self.replies.highlight, self.replies.highlight_text
        shown = (self.objects.version, text, tuple(sorted(lit.items())))
        if shown == self._markers_shown and not force:
            return
        objs = self.objects.recent(_MAX_MARKERS)
        msg = object_markers(objs, self.params.fixed_frame, self.get_clock().now().to_msg(), lit, text)
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
        return export_object_map(self.objects, self.params.export_json, self.params.export_ply, self._warn)

    def _extra(self):
        pending = len(self.commits)
        with self._waiting_lock:
            waiting = {f"waiting_dropped_{k}": str(v) for k, v in self.waiting.dropped.items()}
            waiting["waiting_for_pose"] = str(len(self.waiting))
        if self.objects is not None:
            waiting.update(objects=str(len(self.objects)), object_acknowledged_id=str(self.object_acknowledged),
                           objects_unattached=str(self.objects.unattached))
        waiting.update(transform_source=f"{self.poses.kind} ({self.poses.implementation})",
                       fixed_frame=self.params.fixed_frame)
        self.sequences.expire()
        queries = {f"queries_{k}": str(v) for k, v in self.query_server.counts.items()}
        cache = self.answers.text_cache
        queries.update(text_cache_hits=str(cache.hits), text_cache_misses=str(cache.misses))
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
            if hasattr(self, "commits"):
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
    return run_node(MemoryNode, "codebind_memory", args,
                    multi_threaded=NODE_KINDS["memory"].multi_threaded)


if __name__ == "__main__":
    sys.exit(main())
