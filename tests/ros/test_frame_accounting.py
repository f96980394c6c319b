"""Every frame sent is accounted for, also those lost before the first and after the last one
delivered, and every proposal frame sent to the memory (real rclpy, the executor driven by hand
so that the reader's history overflows deterministically)."""
from __future__ import annotations

import time

import numpy as np
import pytest
from ros_testing import proposal_frame, wait_until
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image

from codebind_ros.conversions.image import array_to_image
from codebind_ros.messaging.qos import results_qos, sensor_qos
from codebind_ros.messaging.spatial_topics import PROPOSALS
from codebind_ros.msg import ProposalArray
from codebind_ros.nodes.encoder_node import EncoderNode
from codebind_ros.nodes.memory_node import MemoryNode

FRAME = array_to_image(np.zeros((48, 64, 3), np.uint8), "rgb8")


def _gid_in_message_info() -> bool:
    """rclpy 7.4+ (Kilted) names the publisher in each MessageInfo; Jazzy's rclpy 7.1 does not."""
    import rclpy.subscription

    info = getattr(rclpy.subscription, "MessageInfo", None)
    return info is not None and "publisher_gid" in getattr(info, "__annotations__", {})


class HandSpun:
    """One node spun only when the test says so."""

    def __init__(self, node, context):
        self.node = node
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(node)

    def until(self, cond, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.05)
        return cond()

    def close(self) -> None:
        self.executor.remove_node(self.node)
        self.node.destroy_node()
        self.executor.shutdown()


def _encoder(ros_context, tiny_model, topic, name):
    return EncoderNode(model=tiny_model, node_name=name, context=ros_context,
                       cli_args=["--ros-args", "-r", f"camera/image_raw:={topic}/image"], parameter_overrides=[
        Parameter("modality", value="camera"), Parameter("warmup", value=False),
        Parameter(f"qos_overrides.{topic}/image.subscription.depth", value=1)])


def test_frames_lost_after_the_last_delivered_one_are_counted_when_the_node_stops(ros_context, tiny_model, topic):
    """Nine frames overwritten in the depth-1 history and the tenth still held by the middleware
    when the node stops: before, none of the ten was counted anywhere."""
    encoder = _encoder(ros_context, tiny_model, topic, "acc_tail")
    spun = HandSpun(encoder, ros_context)
    helper = Node("acc_tail_driver", context=ros_context)
    try:
        pub = helper.create_publisher(Image, f"{topic}/image", sensor_qos(50, "reliable"))
        assert wait_until(lambda: pub.get_subscription_count() >= 1, 10.0)
        pub.publish(FRAME)
        assert spun.until(lambda: encoder.stats.processed == 1, 20.0)
        for _ in range(10):
            pub.publish(FRAME)
        time.sleep(1.0)  # in the reader's history; the node is not served again before it stops
        assert encoder.stats.received == 1
    finally:
        spun.close()  # destroy_node: drains the subscription, closes the sequence gaps
        helper.destroy_node()
    snap = encoder.stats.snapshot()
    assert snap.received == 2 and snap.dropped["shutdown"] == 1  # the 11th, taken at the end
    assert snap.dropped["transport"] == 9                         # the 2nd .. 10th, overwritten
    assert snap.processed + snap.dropped["shutdown"] + snap.dropped["transport"] == 11


def test_frames_lost_before_the_first_delivered_one_are_counted_for_a_later_publisher(
        ros_context, tiny_model, topic):
    """A driver that starts after the node: its numbers count from 1, so the four frames
    overwritten before the first one delivered are lost, not unheard of."""
    if not _gid_in_message_info():
        pytest.skip("this rclpy's MessageInfo names no publisher (rclpy < 7.4, e.g. Jazzy): loss is "
                    "counted from the first message delivered")
    encoder = _encoder(ros_context, tiny_model, topic, "acc_head")
    spun = HandSpun(encoder, ros_context)
    helper = Node("acc_head_driver", context=ros_context)
    try:
        settle = encoder.stream.discovery_settle_s
        assert spun.until(lambda: encoder.stream._early is not None, settle + 5.0)  # discovery settled
        pub = helper.create_publisher(Image, f"{topic}/image", sensor_qos(50, "reliable"))
        assert wait_until(lambda: pub.get_subscription_count() >= 1, 10.0)
        for _ in range(5):
            pub.publish(FRAME)
        time.sleep(1.0)
        assert spun.until(lambda: encoder.stats.processed == 1, 20.0)
        spun.until(lambda: False, 1.5)  # gaps confirmed after their grace
        assert encoder.stats.received == 1
        assert int(encoder.stream.values()["lost_in_transport"]) == 4
        assert encoder.stats.dropped["transport"] == 4
    finally:
        spun.close()
        helper.destroy_node()


def test_a_proposal_frame_lost_on_the_way_to_the_memory_is_counted(ros_context, tiny_model, topic, tmp_path):
    """Each frame's proposals are one message (nothing to pair, nothing left half-paired); frames
    that never arrive are counted from the publisher's sequence numbers."""
    node = MemoryNode(model=tiny_model, node_name="acc_memory", namespace=topic, context=ros_context,
                      parameter_overrides=[Parameter("db_path", value=str(tmp_path / "m.db")),
                                           Parameter("transform_source", value="none"),
                                           Parameter("seen_empty_checks", value=False),
                                           Parameter("commit_period", value=0.05)])
    spun = HandSpun(node, ros_context)
    helper = Node("acc_localiser", namespace=topic, context=ros_context)
    try:
        pub = helper.create_publisher(ProposalArray, PROPOSALS, results_qos(50))
        assert wait_until(lambda: pub.get_subscription_count() >= 1, 10.0)
        frames = [proposal_frame(tiny_model, ["a red sphere", "a blue box"], 10.0 + i,
                                 [(0.0, 0.0, 1.0), (0.5, 0.0, 2.0)]) for i in range(16)]
        pub.publish(frames[0])
        assert spun.until(lambda: node.stats.received == 2, 20.0)  # two proposals of one frame
        for frame in frames[1:]:  # 15 frames into a history of 10 that nobody takes meanwhile
            pub.publish(frame)
        time.sleep(1.0)
        assert spun.until(lambda: node.stats.received == 22, 20.0)  # the newest 10 frames
        spun.until(lambda: False, 1.5)
        assert node.sequences.expire() == 5 and node.stats.dropped["transport"] == 5
        assert spun.until(lambda: len(node.memory) == 22, 10.0)  # every proposal that came is stored
    finally:
        spun.close()
        helper.destroy_node()
