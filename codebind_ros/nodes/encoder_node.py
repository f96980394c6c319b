"""The encoder node: one sensor topic in, one codebind_ros/Embedding per message out.

    ros2 run codebind_ros encoder_node --ros-args -p modality:=depth -p model_path:=/path/ckpt \
        -r camera/depth/image_raw:=/my_driver/depth

It reads the modality's topic of :data:`codebind_ros.messaging.topics.SENSOR_TOPICS` and publishes
on ``codebind/embeddings/<modality>``, both relative names that remapping rules point elsewhere.

Work is bounded: the subscription callback only checks the size and queues the message in a
:class:`LatestQueue` (``queue_size``); a worker thread takes the newest ``batch_size`` messages,
converts, preprocesses, encodes and publishes. When the model is slower than the sensor, the
oldest pending messages are dropped and counted (``dropped_overload`` in /diagnostics). A
malformed message is dropped, counted (``dropped_invalid``) and logged at a throttled rate; the
node never dies of its input. The sensor subscription (:mod:`codebind_ros.messaging.sensor_subscription`)
is best effort (QoS overridable with ``qos_overrides.<topic>.subscription.*``, ``<topic>`` the
resolved name: after remapping and namespace, e.g. ``/my_driver/depth``) and refuses a
message over ``max_message_bytes`` before deserialising it.

Every frame is accounted for: received = embedded + dropped (overload, invalid, shutdown), and
frames sent but never delivered are ``dropped_transport``. When the node stops it takes what the
middleware still holds, counts that and its queue as ``dropped_shutdown``, closes the sequence
gaps and logs the totals.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import torch
from sensor_msgs.msg import CameraInfo

from codebind_ros.conversions import embedding_msg, sensors
from codebind_ros.messaging.audio_window import AudioWindow
from codebind_ros.conversions.audio import array_to_audio, audio_to_array
from codebind_ros.nodes.diagnostics import (DROP_INVALID, DROP_OVERLOAD, DROP_SHUTDOWN, DROP_TRANSPORT,
                                      DiagnosticsReporter, NodeStats, ThrottledLog)
from codebind_ros.nodes.encoder_params import EncoderParams
from codebind_ros.nodes.model_node import ModelNode
from codebind_ros.msg import Embedding as EmbeddingMsg
from codebind_ros.nodes.params import parse_mapping
from codebind_ros.nodes.trained_preprocess import preprocess_notes
from codebind_ros.messaging.qos import results_qos, sensor_overrides, sensor_qos
from codebind_ros.messaging.sensor_subscription import SensorSubscription
from codebind_ros.messaging.stream_health import StreamMonitor
from codebind_ros.nodes.node_kinds import NODE_KINDS
from codebind_ros.nodes.session import run_node
from codebind_ros.messaging.topics import CAMERA_INFO, embedding_topic
from codebind_ros.messaging.worker import LatestQueue, Worker


@dataclass
class Pending:
    """A received message waiting for the model."""

    msg: object
    received: float  # time.monotonic() at reception


class EncoderNode(ModelNode):
    """Encode one sensor stream with a CodeBind model (``model``, ``node_name``, ``**node_kwargs``:
    see :class:`ModelNode`; parameters :class:`EncoderParams`)."""

    def __init__(self, model=None, node_name: str = "codebind_encoder", **node_kwargs):
        super().__init__(node_name, EncoderParams, model, **node_kwargs)
        from codebind_core.export import create_embedder

        p = self.params
        self.sensor = sensors.get(p.modality)
        self.preprocess_options = parse_mapping(p.preprocess_options, "parameter preprocess_options")
        for level, note in preprocess_notes(self.model, self.sensor.core, self.preprocess_options,
                                            p.use_camera_info):
            if level == "warning":  # one call site per severity: rclpy refuses a changed one
                self.get_logger().warning(note)
            else:
                self.get_logger().info(note)
        backend_options = {"device": p.device, "specific": p.publish_specific,
                           **parse_mapping(p.backend_options, "parameter backend_options")}
        self.embedder = create_embedder(self.model, self.sensor.core, backend=p.backend, **backend_options)
        if self.sensor.core == "pointcloud":  # compile the sampling kernels now, not on the first cloud
            from codebind_core.modalities.pointcloud_kernels import warm_up

            warm_up()
        if p.warmup:
            self.embedder.warmup(1)

        self.audio_window = (AudioWindow(p.audio_window_seconds, p.audio_hop_seconds)
                             if p.audio_window_seconds > 0 else None)
        self.context_info = sensors.SensorContext()
        self.limits = sensors.Limits(p.max_pixels, p.max_points, p.max_audio_seconds)
        self.stats = NodeStats()
        self._unaccounted = 0  # messages of the batch in the model that nothing has counted yet
        self.queue: LatestQueue[Pending] = LatestQueue(
            p.queue_size, on_drop=lambda n: self.stats.on_dropped(DROP_OVERLOAD, n))
        self._warn = ThrottledLog(self.get_logger().warning, p.log_throttle_sec)
        self._error = ThrottledLog(self.get_logger().error, p.log_throttle_sec)
        self.publisher = self.create_publisher(EmbeddingMsg, embedding_topic(p.modality), results_qos())
        self.output_topic = self.publisher.topic_name  # resolved: namespace and remapping applied
        # resolved (namespace, remapping): the name in logs, /diagnostics and qos_overrides keys
        self.input_topic = self.resolve_topic_name(self.sensor.default_topic)
        self.stream = StreamMonitor(
            self.input_topic, p.stream_timeout, on_lost=lambda n: self.stats.on_dropped(DROP_TRANSPORT, n),
            hint=" (a reliable subscription set by qos_overrides.<topic>.subscription.reliability "
                 "does not match a best-effort driver; the default, best_effort, does)")
        self.sensor_subscription = SensorSubscription(
            self, self.sensor.message, self.sensor.default_topic, self._on_message, p.max_message_bytes,
            on_refused=self._on_refused, monitor=self.stream)
        self.subscription = self.sensor_subscription.subscription
        if p.use_camera_info:
            self.create_subscription(CameraInfo, CAMERA_INFO, self._on_camera_info,
                                     sensor_qos(1), qos_overriding_options=sensor_overrides())
        self.diagnostics = DiagnosticsReporter(self, self.stats, hardware_id=p.modality,
                                               period_s=p.diagnostics_period, extra=self._extra,
                                               warnings=self.stream.warnings)
        self.worker: Worker[Pending] = Worker(self.queue, self._encode_batch, p.batch_size,
                                              on_error=self._on_worker_error,
                                              name=f"codebind-encoder-{p.modality}").start()
        self.get_logger().info(f"encoding {p.modality} from '{self.input_topic}' to "
                               f"'{self.output_topic}' with {p.backend} ({self.model_id})")

    # ---- subscription side: cheap, never blocks on the model --------------------------------
    def _on_refused(self, reason: str) -> None:
        """A message refused before deserialising (too large, or not deserializable)."""
        self.stats.on_received()
        self._drop_invalid(reason)

    def _on_message(self, msg, info=None) -> None:
        """A deserialized message (its sequence number has gone to the stream monitor)."""
        self.stats.on_received()
        try:
            sensors.check_limits(msg, self.limits)
        except ValueError as exc:
            self._drop_invalid(str(exc))
            return
        if self.audio_window is not None:
            msg = self._window(msg)
            if msg is None:
                return
        pending = Pending(msg, time.monotonic())
        if self.queue.put(pending) is pending:  # closed: the node is stopping (a full queue
            self.stats.on_dropped(DROP_SHUTDOWN)  # evicts, and counts, the oldest instead)

    def _window(self, chunk):
        """Audio streams: add ``chunk`` to the sliding window; a message when a window is due."""
        try:
            window = self.audio_window.push(audio_to_array(chunk), chunk.sample_rate)
        except ValueError as exc:
            self._drop_invalid(str(exc))
            return None
        if window is None:
            return None
        return array_to_audio(window, chunk.sample_rate, "F32LE", header=chunk.header)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
        self.context_info.camera_k = k if k[0, 0] > 0 else None

    # ---- worker side --------------------------------------------------------------------------
    def _encode_batch(self, items: List[Pending]) -> None:
        batch, kept = [], []
        for item in items:
            tensor = self._preprocess(item.msg)
            if tensor is not None:
                batch.append(tensor)
                kept.append(item)
        if not kept:
            return
        self._unaccounted = len(kept)  # what a failure from here on costs (the rest are counted)
        embedding = self.embedder(torch.cat(batch))
        for i, item in enumerate(kept):
            out = embedding_msg.to_msg(embedding, i, item.msg.header, self.params.modality, self.model_id)
            self.publisher.publish(out)
            self.stats.on_processed(time.monotonic() - item.received)
            self._unaccounted -= 1

    def _preprocess(self, msg) -> Optional[torch.Tensor]:
        """Message -> (1, ...) model input, or None when the message is malformed (counted)."""
        try:
            raw = self.sensor.convert(msg)
            options = {**self.preprocess_options, **self.sensor.options(msg, self.context_info)}
            return self.model.preprocess(self.sensor.core, [raw], **options)
        except ValueError as exc:
            self._drop_invalid(str(exc))
        except Exception as exc:  # not a validation error: still the input's doing; keep going
            self._drop_invalid(f"{type(exc).__name__}: {exc}")
        return None

    def _drop_invalid(self, reason: str) -> None:
        self.stats.on_dropped(DROP_INVALID, detail=reason)
        self._warn(f"dropped a {self.params.modality} message: {reason}")

    def _on_worker_error(self, exc: BaseException) -> None:
        detail = f"{type(exc).__name__}: {exc}"
        lost, self._unaccounted = max(1, self._unaccounted), 0  # the failed batch's uncounted messages
        self.stats.on_error(detail, count=lost)
        self._error(f"encoding failed ({lost} message{'s' if lost > 1 else ''}): {detail}")

    def _extra(self):
        return {"queue_depth": str(len(self.queue)), "queue_size": str(self.params.queue_size),
                "model_id": self.model_id, "backend": self.params.backend,
                "input_topic": self.input_topic, **self.stream.values()}

    def destroy_node(self) -> None:
        worker = getattr(self, "worker", None)  # None: the constructor failed before it started
        if worker is not None:
            worker.stop()
            self.account_for_the_rest()
        super().destroy_node()

    def account_for_the_rest(self) -> None:
        """The stream ends here: what the queue and the middleware still hold is dropped and
        counted (``dropped_shutdown``), open sequence gaps are lost; the totals are logged."""
        left = len(self.queue.take(self.queue.maxlen, timeout=0))
        if left:
            self.stats.on_dropped(DROP_SHUTDOWN, left)
        self.sensor_subscription.drain()  # each one counted by _on_message (the queue is closed)
        self.stream.close()
        s = self.stats.snapshot()
        self.get_logger().info(
            f"stopped: {s.received} received, {s.processed} embedded, dropped "
            + ", ".join(f"{k} {v}" for k, v in sorted(s.dropped.items())))


def main(args: Optional[List[str]] = None) -> int:
    """``encoder_node`` executable: spin one EncoderNode until shutdown."""
    return run_node(EncoderNode, "codebind_encoder", args,
                    multi_threaded=NODE_KINDS["encoder"].multi_threaded)


if __name__ == "__main__":
    sys.exit(main())
