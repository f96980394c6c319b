"""The localisation node: where in the camera image (and in 3-D) is the thing a query describes?

    ros2 run codebind_ros localisation_node --ros-args -p model_path:=/path/ckpt -p query_text:="a red ball"

Inputs, time-synchronised (:class:`codebind_ros.messaging.sync.ApproximateTimeSync`): the camera image,
the depth image (or, with ``use_cloud``, a PointCloud2 in the camera frame) and CameraInfo.
Per synchronised frame: class-agnostic proposals (dominant plane removed, DBSCAN clusters
projected into the image; image windows when the cloud has none or ``windows: always``), each
crop embedded with the model, and ranked against every standing query: the text on
``codebind/query_text`` (std_msgs/String) and the latest Embedding of each ``query_modalities``
sensor (an audio clip, a depth or thermal image ...). Per query it publishes a
LocalizationArray and RViz markers; the annotated camera image shows the first query's boxes.
``codebind/localise`` (QueryText) answers a text against the latest frame. Cloud proposals go to
the memory node as one ProposalArray per frame (each proposal's embedding, box, position and size
together).

Work is bounded: one synchronised frame waits at most (``queue_size``); older ones are dropped
and counted. Malformed inputs are dropped, counted and logged at a throttled rate. The sensor
subscriptions are best effort and refuse a message over ``max_message_bytes`` before
deserialising it (:mod:`codebind_ros.messaging.sensor_subscription`).
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

from codebind_ros.conversions import embedding_msg
from codebind_ros.perception.annotate import annotate
from codebind_ros.conversions.camera_info import from_camera_info
from codebind_ros.conversions.image import array_to_image, to_depth, to_rgb
from codebind_ros.conversions.pointcloud2 import to_xyz
from codebind_ros.nodes.diagnostics import (DROP_INVALID, DROP_OVERLOAD, DiagnosticsReporter, NodeStats,
                                      ThrottledLog)
from codebind_ros.nodes.model_node import ModelNode
from codebind_ros.nodes.localisation_params import LocalisationParams
from codebind_ros.perception.localiser import Frame, Localiser, Match, Query
from codebind_ros.conversions.markers import localisation_markers
from codebind_ros.msg import Embedding as EmbeddingMsg
from codebind_ros.msg import Localization, LocalizationArray, Proposal, ProposalArray
from codebind_ros.messaging.qos import latched_qos, results_qos
from codebind_ros.messaging.sensor_subscription import SensorSubscription
from codebind_ros.conversions.results import box_to_roi, ns_to_stamp, point, query_result, stamp_to_ns
from codebind_ros.nodes.node_kinds import NODE_KINDS
from codebind_ros.nodes.session import run_node
from codebind_ros.messaging.spatial_topics import LOCALISE_SERVICE, PROPOSALS
from codebind_ros.srv import QueryText
from codebind_ros.messaging.sync import ApproximateTimeSync
from codebind_ros.messaging.topics import (ANNOTATED_IMAGE, CAMERA_INFO, LOCALISATIONS, MARKERS, SENSOR_TOPICS,
                                 TEXT_QUERY, embedding_topic)
from codebind_ros.messaging.worker import LatestQueue, Worker

MAX_TEXT_CHARS = 256
MAX_TOP_K = 100


class LocalisationNode(ModelNode):
    """Localise queries of any modality in the synchronised camera frames (``model``, ``node_name``,
    ``**node_kwargs``: see :class:`ModelNode`; parameters :class:`LocalisationParams`)."""

    def __init__(self, model=None, node_name: str = "codebind_localisation", **node_kwargs):
        super().__init__(node_name, LocalisationParams, model, **node_kwargs)
        p = self.params
        self.model.eval()
        self.localiser = Localiser(self.model, p.proposal_config(), p.windows, p.max_proposals,
                                   crop_margin=p.crop_margin)
        self.stats = NodeStats()
        self._warn = ThrottledLog(self.get_logger().warning, p.log_throttle_sec)
        self._error = ThrottledLog(self.get_logger().error, p.log_throttle_sec)
        self._model_lock = threading.Lock()
        self._queries: Dict[str, Tuple[Query, float]] = {}  # source -> (query, monotonic arrival)
        self._queries_lock = threading.Lock()
        self.latest: Optional[Frame] = None
        if p.query_text:
            self.set_text_query(p.query_text)

        self.sync = ApproximateTimeSync(("camera", "geometry", "info"), self._on_set, p.sync_slop, p.sync_queue)
        self.queue: LatestQueue = LatestQueue(p.queue_size, on_drop=lambda n: self.stats.on_dropped(DROP_OVERLOAD, n))
        geometry_type, geometry_topic = ((PointCloud2, SENSOR_TOPICS["pointcloud"]) if p.use_cloud
                                         else (Image, SENSOR_TOPICS["depth"]))
        self.sensor_subscriptions = [
            SensorSubscription(self, kind, topic, lambda m, _info, name=name: self.sync.add(name, m),
                               p.max_message_bytes, on_refused=lambda why, name=name: self._drop(f"{name}: {why}"))
            for name, kind, topic in (("camera", Image, SENSOR_TOPICS["camera"]),
                                      ("geometry", geometry_type, geometry_topic),
                                      ("info", CameraInfo, CAMERA_INFO))]
        self.create_subscription(String, TEXT_QUERY, lambda m: self._on_text(m.data), latched_qos())
        for modality in p.query_modality_list():
            self.create_subscription(EmbeddingMsg, embedding_topic(modality), self._on_query_embedding, results_qos(5))

        self.results_pub = self.create_publisher(LocalizationArray, LOCALISATIONS, results_qos())
        self.markers_pub = self.create_publisher(MarkerArray, MARKERS, results_qos())
        self.image_pub = self.create_publisher(Image, ANNOTATED_IMAGE, results_qos(2))
        self.proposals_pub = self.create_publisher(ProposalArray, PROPOSALS, results_qos())
        self.service = self.create_service(QueryText, LOCALISE_SERVICE, self._on_localise,
                                           callback_group=MutuallyExclusiveCallbackGroup())
        self.diagnostics = DiagnosticsReporter(self, self.stats, hardware_id="localisation",
                                               period_s=p.diagnostics_period, extra=self._extra)
        self.worker = Worker(self.queue, self._process, 1, on_error=self._on_worker_error,
                             name="codebind-localisation").start()
        names = ", ".join(s.topic_name for s in self.sensor_subscriptions)  # resolved (remapped) names
        self.get_logger().info(f"localising in {names} ({self.model_id})")

    # ---- queries -----------------------------------------------------------------------------
    def set_text_query(self, text: str) -> None:
        """Make ``text`` the standing text query ('' clears it)."""
        if not text.strip():
            with self._queries_lock:
                self._queries.pop("text", None)
            return
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(f"query text has {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
        with self._model_lock:
            query = self.localiser.text_query(text)
        with self._queries_lock:
            self._queries["text"] = (query, float("inf"))  # a text query does not age

    def _on_text(self, text: str) -> None:
        try:
            self.set_text_query(text)
        except ValueError as exc:
            self._drop(f"text query: {exc}")

    def _on_query_embedding(self, msg: EmbeddingMsg) -> None:
        try:
            arrays = embedding_msg.from_msg(msg)  # ValueError when the shared part is empty
        except ValueError:
            arrays = None
        if arrays is None or not np.isfinite(arrays.shared).all() or not np.any(arrays.shared):
            self._drop(f"query embedding ({msg.modality}) is empty, zero or not finite")
            return
        query = Query(msg.modality, arrays.codebook_set, arrays.shared, stamp_ns=stamp_to_ns(msg.header.stamp))
        with self._queries_lock:
            self._queries[msg.modality] = (query, time.monotonic())

    def active_queries(self) -> List[Query]:
        """Standing queries, the text first; embedding queries older than query_max_age are skipped."""
        now = time.monotonic()
        with self._queries_lock:
            items = sorted(self._queries.items(), key=lambda kv: kv[0] != "text")
        return [q for _, (q, t) in items if t == float("inf") or now - t <= self.params.query_max_age]

    # ---- inputs ------------------------------------------------------------------------------
    def _on_set(self, camera, geometry, info) -> None:
        self.stats.on_received()
        self.queue.put((camera, geometry, info, time.monotonic()))

    def _convert(self, camera, geometry, info):
        rgb = to_rgb(camera)
        pinhole = from_camera_info(info)
        if self.params.use_cloud:
            if geometry.header.frame_id != camera.header.frame_id:
                raise ValueError(f"cloud frame '{geometry.header.frame_id}' differs from the camera frame "
                                 f"'{camera.header.frame_id}' (clouds must be in the camera frame)")
            return rgb, pinhole, None, to_xyz(geometry, colour=False)
        return rgb, pinhole, to_depth(geometry), None

    # ---- processing (worker thread) ----------------------------------------------------------
    def _process(self, items) -> None:
        for camera, geometry, info, received in items:
            try:
                rgb, pinhole, depth, cloud = self._convert(camera, geometry, info)
                with self._model_lock:
                    frame = self.localiser.frame(rgb, pinhole, stamp_to_ns(camera.header.stamp),
                                                 camera.header.frame_id, depth=depth, cloud=cloud)
            except ValueError as exc:
                self._drop(f"frame: {exc}")
                continue
            self.latest = frame
            if self.params.publish_proposals:
                self._publish_proposals(frame, camera.header)
            first: Optional[List[Match]] = None
            for query in self.active_queries():
                with self._model_lock:
                    matches = self.localiser.rank(frame, query, self.params.top_k)
                array = self.to_msg(frame, query, matches, camera.header)
                self.results_pub.publish(array)
                self.markers_pub.publish(localisation_markers(array))
                first = matches if first is None else first
            boxes = [m.proposal.box for m in first] if first is not None else [p.box for p in frame.proposals]
            self.image_pub.publish(array_to_image(annotate(frame.rgb, boxes), "rgb8", camera.header))
            self.stats.on_processed(time.monotonic() - received)

    def _publish_proposals(self, frame: Frame, header) -> None:
        keep = [i for i, p in enumerate(frame.proposals) if p.source == "cloud"]
        if not keep:
            return
        with self._model_lock:
            emb = self.localiser.embeddings(frame, "image", self.localiser.default_codebook_set)
        proposals = []
        for i in keep:
            geo = self._localization(frame, Match(0.0, i, frame.proposals[i]))
            proposals.append(Proposal(embedding=embedding_msg.to_msg(emb, i, header, "camera", self.model_id),
                                      box=geo.box, has_position=geo.has_position, position=geo.position,
                                      size=geo.size))
        self.proposals_pub.publish(ProposalArray(header=header, proposals=proposals))

    @staticmethod
    def _localization(frame: Frame, match: Match) -> Localization:
        p = match.proposal
        out = Localization(score=match.score, box=box_to_roi(p.box), has_position=p.position is not None,
                           embedding_id=f"{frame.stamp_ns}/{match.index}")
        out.position = point(p.position)
        if p.size is not None:
            out.size.x, out.size.y, out.size.z = (float(v) for v in p.size)
        return out

    def to_msg(self, frame: Frame, query: Query, matches: List[Match], header) -> LocalizationArray:
        return LocalizationArray(header=header, query_modality=query.modality, query_text=query.text,
                                 query_stamp=ns_to_stamp(query.stamp_ns),
                                 results=[self._localization(frame, m) for m in matches])

    # ---- service -----------------------------------------------------------------------------
    def _on_localise(self, request: QueryText.Request, response: QueryText.Response):
        frame = self.latest
        try:
            if frame is None:
                raise ValueError("no synchronised camera frame received yet")
            if len(request.text) > MAX_TEXT_CHARS:
                raise ValueError(f"query text has {len(request.text)} characters; the limit is {MAX_TEXT_CHARS}")
            if request.top_k < 1:
                raise ValueError(f"top_k must be >= 1, got {request.top_k}")
            with self._model_lock:
                query = self.localiser.text_query(request.text)
                matches = self.localiser.rank(frame, query, min(request.top_k, MAX_TOP_K))
        except ValueError as exc:
            response.success, response.message = False, str(exc)
            return response
        response.success = True
        response.message = f"{len(matches)} of {len(frame.proposals)} proposals"
        response.results = [query_result(m.score, m.index, "camera", frame.stamp_ns, frame.frame_id,
                                          m.proposal.position, m.proposal.box) for m in matches]
        return response

    # ---- health ------------------------------------------------------------------------------
    def _drop(self, reason: str) -> None:
        self.stats.on_dropped(DROP_INVALID, detail=reason)
        self._warn(f"dropped: {reason}")

    def _on_worker_error(self, exc: BaseException) -> None:
        detail = f"{type(exc).__name__}: {exc}"
        self.stats.on_error(detail)
        self._error(f"localisation failed: {detail}")

    def _extra(self):
        frame = self.latest
        return {"queries": ",".join(q.modality for q in self.active_queries()),
                "proposals": str(len(frame.proposals)) if frame is not None else "0",
                "sync_emitted": str(self.sync.emitted), "sync_discarded": str(self.sync.discarded),
                "model_id": self.model_id}

    def destroy_node(self) -> None:
        worker = getattr(self, "worker", None)  # None: the constructor failed before it started
        if worker is not None:
            worker.stop()
        super().destroy_node()


def main(args: Optional[List[str]] = None) -> int:
    """``localisation_node`` executable. Single-threaded: the model runs in the node's worker thread,
    and the callbacks wait at most for one frame's ranking (the model lock). On rclpy's
    MultiThreadedExecutor the node localised 36-69 of ~80-100 frames at 10 Hz in 4 of 6 runs,
    p99 0.5-2.8 s; on this one every frame in every run, p99 43.5-56.1 ms
    (benchmarks/ros_localisation_latency.py, docs/benchmarks.md)."""
    return run_node(LocalisationNode, "codebind_localisation", args,
                    multi_threaded=NODE_KINDS["localisation"].multi_threaded)


if __name__ == "__main__":
    sys.exit(main())
