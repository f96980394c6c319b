"""Embeddings that never reach the memory node are counted: stored + counted lost == sent."""
from __future__ import annotations

import torch
from ros_testing import wait_for_subscribers, wait_until
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Header

from codebind_ros.conversions import embedding_msg
from codebind_ros.nodes.memory_node import MemoryNode
from codebind_ros.msg import Embedding
from codebind_ros.messaging.qos import results_qos
from codebind_ros.messaging.stream_health import SequenceTracker
from codebind_ros.messaging.topics import embedding_topic


def test_sequence_tracker_counts_gaps_once_and_forgives_reordering():
    now = [0.0]
    lost = []
    tracker = SequenceTracker(on_lost=lost.append, reorder_window=4, grace_s=1.0, clock=lambda: now[0])
    gid = {"implementation_identifier": "x", "data": [1, 2, 3]}
    for seq in (10, 11, 13, 12, 14, 20):  # 12 late (reordered), 15..19 missing
        tracker.observe({"publication_sequence_number": seq, "publisher_gid": gid})
    assert tracker.expire() == 2  # 15, 16 are >= 4 behind the newest (20): lost; 17..19 may still come
    now[0] = 2.0
    assert tracker.expire() == 5 and sum(lost) == 5
    other = {"implementation_identifier": "x", "data": [9]}
    tracker.observe({"publication_sequence_number": 7, "publisher_gid": other})  # a new source: no gap
    tracker.observe({"publication_sequence_number": None, "publisher_gid": other})
    assert tracker.expire() == 5 and tracker.unnumbered == 1


def test_loss_into_the_memory_node_is_counted_and_equals_sent_minus_stored(
        spin, ros_context, tiny_model, topic, tmp_path):
    node = spin.add(MemoryNode(model=tiny_model, node_name="memory", namespace=topic, context=ros_context,
                               parameter_overrides=[Parameter("db_path", value=str(tmp_path / "m.db")),
                                                    Parameter("commit_period", value=0.05),
                                                    Parameter("min_period", value=0.0),
                                                    Parameter("input_qos_depth", value=1),
                                                    Parameter("modalities", value="audio"),
                                                    Parameter("store_proposals", value=False)]))
    helper = spin.add(Node("helper_loss", namespace=topic, context=ros_context))
    pub = helper.create_publisher(Embedding, embedding_topic("audio"), results_qos(1))
    assert wait_for_subscribers(pub)
    with torch.no_grad():
        emb = tiny_model.encode_text(["a dog barking"])
    sent = 500
    for i in range(sent):
        msg = embedding_msg.to_msg(emb, 0, Header(frame_id="mic"), "audio", tiny_model.config.name)
        msg.header.stamp.sec, msg.header.stamp.nanosec = 100 + i, 0
        pub.publish(msg)
        if i == 0:  # loss is counted from the first message heard from a publisher
            assert wait_until(lambda: node.stats.received >= 1, 10.0)
    # the rest went far faster than one callback per message: the depth-1 queue overflowed
    last = [-1]

    def settled():  # nothing new stored for a while and every gap confirmed
        now = len(node.memory) + len(node.commits) + node.sequences.expire()
        done = now == last[0]
        last[0] = now
        return done and len(node.commits) == 0

    assert wait_until(settled, 30.0, period=1.5)
    node.flush()
    stored, lost = len(node.memory), node.sequences.expire()
    assert stored + lost == sent, (f"{stored} stored + {lost} counted lost != {sent} sent; "
                                   f"{node.stats.snapshot()} {node.sequences.values()}")
    assert lost > 0  # a depth-1 queue under a 500-message burst does lose: and it was counted
    snap = node.stats.snapshot()
    assert snap.dropped["transport"] == lost
    values = node._extra()
    assert values["lost_in_transport"] == str(lost)
