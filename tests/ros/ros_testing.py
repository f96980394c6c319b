"""Helpers for the ROS tests: waiting, recording a topic, building an encoder or a memory node."""
from __future__ import annotations

import threading
import time
from typing import Callable, List


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, period: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` s pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period)
    return bool(predicate())


class Collector:
    """Records every message of one topic (with its arrival time)."""

    def __init__(self, node, msg_type, topic: str, qos=None):
        from codebind_ros.messaging.qos import results_qos

        self.messages: List = []
        self.arrivals: List[float] = []
        self._lock = threading.Lock()
        self.subscription = node.create_subscription(msg_type, topic, self._on, qos or results_qos(50))

    def _on(self, msg) -> None:
        with self._lock:
            self.messages.append(msg)
            self.arrivals.append(time.monotonic())

    def wait_for(self, count: int, timeout: float = 10.0) -> List:
        wait_until(lambda: len(self.messages) >= count, timeout)
        with self._lock:
            return list(self.messages)


def wait_for_subscribers(publisher, count: int = 1, timeout: float = 10.0) -> bool:
    """Discovery: wait until ``publisher`` sees ``count`` subscriptions."""
    return wait_until(lambda: publisher.get_subscription_count() >= count, timeout)


def encoder_remaps(modality: str, source: str, target: str) -> List[str]:
    """``cli_args`` remapping an encoder of ``modality`` to read ``source`` and publish on
    ``target`` (an unknown modality, refused by the node, gets the camera's names)."""
    from codebind_ros.messaging.topics import SENSOR_TOPICS, encoder_remaps as remaps

    return ["--ros-args", *remaps(modality if modality in SENSOR_TOPICS else "camera", source, target)]


def make_encoder(model, modality: str, topic: str, context, **params):
    """An EncoderNode remapped to ``<topic>/in`` -> ``<topic>/out`` with ``model`` and extra parameters."""
    from rclpy.parameter import Parameter

    from codebind_ros.nodes.encoder_node import EncoderNode

    overrides = [Parameter("modality", value=modality), Parameter("warmup", value=False)]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    return EncoderNode(model=model, node_name=f"enc_{modality}", context=context,
                       cli_args=encoder_remaps(modality, f"{topic}/in", f"{topic}/out"),
                       parameter_overrides=overrides)


def make_memory(model, topic: str, context, db, **params):
    """A MemoryNode named ``memory`` in namespace ``topic`` on the SQLite file ``db``: commits every
    0.05 s, stores every embedding, a fixed sensor (``transform_source: none``); extra parameters."""
    from rclpy.parameter import Parameter

    from codebind_ros.nodes.memory_node import MemoryNode

    overrides = [Parameter("db_path", value=str(db)), Parameter("commit_period", value=0.05),
                 Parameter("min_period", value=0.0), Parameter("transform_source", value="none")]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    return MemoryNode(model=model, node_name="memory", namespace=topic, context=context,
                      parameter_overrides=overrides)


def memory_of_texts(model, topic: str, context, db, texts, **params):
    """A MemoryNode named ``memory`` in namespace ``topic`` on ``db`` (object memory off: answers
    are observations; extra parameters) holding one camera observation per text, coded as the
    text's depth-set embedding, observation ``i`` stamped ``i + 1`` s: a query for a text finds
    its own observation first."""
    import numpy as np
    import torch
    from rclpy.parameter import Parameter

    from codebind_core.memory import Observation
    from codebind_ros.nodes.memory_node import MemoryNode

    params = {"objects": False, **params}
    overrides = [Parameter("db_path", value=str(db))] + [Parameter(k, value=v) for k, v in params.items()]
    node = MemoryNode(model=model, node_name="memory", namespace=topic, context=context,
                      parameter_overrides=overrides)
    with torch.no_grad():
        emb = model.encode_text(list(texts), codebook_set="depth")
    node.memory.add([Observation("camera", "depth", emb.codes[i].numpy().astype(np.uint16), (i + 1) * 10 ** 9,
                                 "map") for i in range(len(texts))])
    return node


def memory_feeder(helper, modality: str = "camera", depth: int = 10):
    """On node ``helper``: the memory's acknowledgements (a list the subscription fills) and a
    publisher of ``modality`` Embeddings, once the memory subscribes to it."""
    from std_msgs.msg import UInt64

    from codebind_ros.messaging.qos import latched_qos, results_qos
    from codebind_ros.messaging.spatial_topics import MEMORY_ACK
    from codebind_ros.messaging.topics import embedding_topic
    from codebind_ros.msg import Embedding

    acks: List[int] = []
    helper.create_subscription(UInt64, MEMORY_ACK, lambda m: acks.append(m.data), latched_qos())
    pub = helper.create_publisher(Embedding, embedding_topic(modality), results_qos(depth))
    return acks, pub


# ---- the memory node's world-frame inputs (odometry, proposal frames) and its query service ----
SEC = 1_000_000_000


def call_query(helper, request, timeout: float = 20.0):
    """One QueryText call to ``codebind/query`` (in ``helper``'s namespace); returns the response."""
    from codebind_ros.srv import QueryText

    client = helper.create_client(QueryText, "codebind/query")
    try:
        assert client.wait_for_service(timeout_sec=timeout)
        future = client.call_async(request)
        assert wait_until(future.done, timeout)
        return future.result()
    finally:
        helper.destroy_client(client)


def odometry_msg(sec: float, x: float, y: float, yaw: float, frame: str = "map", child: str = "base_link"):
    """nav_msgs/Odometry: the body at (x, y) in ``frame``, heading ``yaw`` (rad), at ``sec`` s."""
    import math

    from nav_msgs.msg import Odometry
    from std_msgs.msg import Header

    from codebind_ros.conversions.results import ns_to_stamp

    msg = Odometry(header=Header(stamp=ns_to_stamp(int(sec * SEC)), frame_id=frame), child_frame_id=child)
    msg.pose.pose.position.x, msg.pose.pose.position.y = x, y
    msg.pose.pose.orientation.z, msg.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    return msg


def proposal_frame(model, texts, sec: float, positions, path: str = "depth"):
    """A proposal frame in the camera optical frame: a ProposalArray of the texts' embeddings at
    their 3-D centres, 0.1 m boxes."""
    import torch
    from std_msgs.msg import Header

    from codebind_ros.conversions import embedding_msg
    from codebind_ros.conversions.results import ns_to_stamp
    from codebind_ros.msg import Proposal, ProposalArray

    header = Header(stamp=ns_to_stamp(int(sec * SEC)), frame_id="camera_optical_frame")
    with torch.no_grad():
        emb = model.encode_text(texts, codebook_set=path)
    frame = ProposalArray(header=header, proposals=[
        Proposal(embedding=embedding_msg.to_msg(emb, i, header, "camera", model.config.name), has_position=True)
        for i in range(len(texts))])
    for r, p in zip(frame.proposals, positions):
        r.position.x, r.position.y, r.position.z = p
        r.size.x = r.size.y = r.size.z = 0.1
    return frame
