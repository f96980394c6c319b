"""Memory node in a fixed frame, with real rclpy nodes: proposal frames wait (bounded) for the
sensor pose from odometry and are stored in the fixed frame; objects, not frames, answer queries;
markers and export; frames without a pose and bad odometry are dropped and counted."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from nav_msgs.msg import Odometry
from ros_testing import Collector, wait_for_subscribers, wait_until
from ros_testing import call_query as _call
from ros_testing import odometry_msg as _odometry
from ros_testing import proposal_frame as _frame
from rclpy.node import Node
from rclpy.parameter import Parameter
from visualization_msgs.msg import MarkerArray

from codebind_core.memory import ObjectMemory
from codebind_ros.messaging.qos import latched_qos, results_qos
from codebind_ros.messaging.spatial_topics import MEMORY_MARKERS, PROPOSALS
from codebind_ros.msg import ProposalArray, QueryResult
from codebind_ros.nodes.memory_node import MemoryNode
from codebind_ros.srv import QueryText
from codebind_ros.tools.answer_format import format_answer


def test_proposals_wait_for_their_pose_and_become_objects_in_the_fixed_frame(spin, ros_context, tiny_model,
                                                                             topic, tmp_path):
    export = tmp_path / "objects.json"
    node = spin.add(MemoryNode(model=tiny_model, node_name="memory_world", namespace=topic, context=ros_context,
                               parameter_overrides=[
                                   Parameter("db_path", value=str(tmp_path / "m.db")),
                                   Parameter("commit_period", value=0.05),
                                   Parameter("transform_source", value="odometry"),
                                   Parameter("transform_wait", value=0.5), Parameter("seen_empty_checks", value=False),
                                   Parameter("query_min_score", value=-1.0), Parameter("query_margin", value=-1.0),
                                   Parameter("export_json", value=str(export)),
                                   Parameter("export_ply", value=str(tmp_path / "objects.ply"))]))
    helper = spin.add(Node("helper_world", namespace=topic, context=ros_context))
    odom = helper.create_publisher(Odometry, "odom", results_qos(100))
    props = helper.create_publisher(ProposalArray, PROPOSALS, results_qos())
    markers = Collector(helper, MarkerArray, MEMORY_MARKERS, latched_qos())
    assert wait_for_subscribers(odom) and wait_for_subscribers(props)

    # the body at (1, 2) facing +y: an object 1 m in front of the camera is at (1, 3, 0) in map
    odom.publish(_odometry(10.0, 1.0, 2.0, math.pi / 2))
    props.publish(_frame(tiny_model, ["a red sphere", "a blue box"], 11.0, [(0.0, 0.0, 1.0), (0.5, 0.0, 2.0)]))
    assert wait_until(lambda: len(node.waiting) == 1, 10.0), "the frame should wait for its pose"
    odom.publish(_odometry(12.0, 1.0, 2.0, math.pi / 2))  # the pose at 11 s is now known (interpolated)
    assert wait_until(lambda: len(node.objects) == 2 and node.acknowledged >= 2, 10.0)
    by_text = {}
    for obj in node.objects.objects():
        by_text[obj.id] = obj.position
    assert sorted(np.round(list(by_text.values()), 6).tolist()) == [[1.0, 3.0, 0.0], [1.5, 4.0, 0.0]]
    stored = node.memory.get(range(1, 3))
    assert {o.frame_id for o in stored.values()} == {"map"}

    # a frame whose pose never comes is dropped after transform_wait and counted
    props.publish(_frame(tiny_model, ["a green torus"], 100.0, [(0.0, 0.0, 1.0)]))
    assert wait_until(lambda: node.stats.snapshot().dropped.get("no_transform", 0) == 1, 10.0)
    assert len(node.objects) == 2 and len(node.waiting) == 0

    # bad odometry: counted as invalid, nothing breaks
    bad = _odometry(13.0, 1.0, 2.0, 0.0)
    bad.pose.pose.orientation.w = float("nan")
    odom.publish(bad)
    odom.publish(_odometry(14.0, 0.0, 0.0, 0.0, frame="elsewhere"))
    assert wait_until(lambda: node.stats.snapshot().dropped["invalid"] == 2, 10.0)

    # objects answer by default, one entry each, in the fixed frame; observations on request
    res = _call(helper, QueryText.Request(text="a red sphere", top_k=5))
    assert res.success and len(res.results) == 2 and res.results[0].kind == QueryResult.OBJECT
    top = res.results[0]
    assert top.frame_id == "map" and top.views == 1 and list(top.modalities) == ["camera"]
    assert (top.position.x, top.position.y, top.position.z) == pytest.approx((1.0, 3.0, 0.0), abs=1e-4)
    assert top.stamp.sec == 11 and top.score == pytest.approx(1.0, abs=1e-4)
    text = format_answer("a red sphere", res)
    assert "object #" in text and "(1.00, 3.00, 0.00) m in 'map'" in text and "seen by camera" in text
    obs = _call(helper, QueryText.Request(text="a red sphere", top_k=5, observations=True))
    assert obs.success and obs.results[0].kind == QueryResult.OBSERVATION and obs.results[0].frame_id == "map"
    node.params.query_min_score = 0.99  # the score threshold keeps weak hits out
    assert len(_call(helper, QueryText.Request(text="a red sphere", top_k=5)).results) == 1

    # markers: every object, the last answer highlighted with the query text
    assert wait_until(lambda: any(
        any(m.text.startswith("a red sphere: ") for m in a.markers) for a in markers.messages), 10.0)
    last = markers.messages[-1]
    assert sum(m.type == m.SPHERE for m in last.markers) == 2
    assert {m.header.frame_id for m in last.markers} == {"map"}

    # export: JSON (re-importable) and PLY
    written = node.export()
    assert export in written and (tmp_path / "objects.ply").is_file()
    data = json.loads(export.read_text())
    assert data["frame"] == "map" and len(data["objects"]) == 2
    with ObjectMemory.open(tmp_path / "other.db", node.memory.codebooks,
                           object_config=node.objects.config) as other:
        assert len(other.import_map(export)) == 2


def test_sigkill_while_mapping_keeps_every_acknowledged_observation_and_object(spin, ros_context, tiny_model,
                                                                               topic, tmp_path):
    """The memory node as its own process maps the player's tour (poses on odometry) and is
    killed mid-run; every observation and object acknowledged before the kill is in the
    database, and a restarted node answers with them."""
    import os
    import signal
    import subprocess
    import sys

    import codebind_core as cb
    from codebind_core.memory import CodebookSet, ObjectConfig
    from std_msgs.msg import UInt64

    from codebind_ros.messaging.spatial_topics import MEMORY_ACK, OBJECT_ACK
    from codebind_ros.nodes.localisation_node import LocalisationNode
    from codebind_ros.nodes.sensor_player import SensorPlayerNode

    model_dir = tmp_path / "tiny-ckpt"
    cb.save(tiny_model, model_dir)
    db = tmp_path / "memory.db"
    env = dict(os.environ, ROS_DOMAIN_ID=str(ros_context.get_domain_id()), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    cmd = [sys.executable, "-m", "codebind_ros.nodes.memory_node", "--ros-args", "-r", f"__ns:={topic}",
           "-p", f"model_path:={model_dir}", "-p", f"db_path:={db}", "-p", "commit_period:=0.05",
           "-p", "transform_source:=odometry"]
    helper = spin.add(Node("helper_kill_map", namespace=topic, context=ros_context))
    acks, object_acks = [], []
    helper.create_subscription(UInt64, MEMORY_ACK, lambda m: acks.append(m.data), latched_qos())
    helper.create_subscription(UInt64, OBJECT_ACK, lambda m: object_acks.append(m.data), latched_qos())
    log = tmp_path / "run1.log"
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        spin.add(LocalisationNode(model=tiny_model, node_name="loc_kill", namespace=topic, context=ros_context,
                                  parameter_overrides=[Parameter("model_id", value=model_dir.name)]))
        spin.add(SensorPlayerNode(node_name="player_kill", namespace=topic, context=ros_context, parameter_overrides=[
            Parameter("trajectory", value="tour"), Parameter("camera_rate", value=4.0),
            Parameter("depth_rate", value=4.0), Parameter("thermal_rate", value=0.0),
            Parameter("pointcloud_rate", value=0.0), Parameter("audio_rate", value=0.0),
            Parameter("tactile_rate", value=0.0), Parameter("noise_frames", value=1)]))
        assert wait_until(lambda: object_acks and max(object_acks) >= 3 and acks and max(acks) >= 6, 180.0), \
            log.read_text()[-3000:]
        proc.send_signal(signal.SIGKILL)  # mid-run: the player and the localiser keep going
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    acked, objects_acked = max(acks), max(object_acks)
    codebooks = CodebookSet.from_model(tiny_model)
    with ObjectMemory.open(db, codebooks, object_config=ObjectConfig("map")) as mem:
        stored = mem.observations.get(range(1, acked + 1))
        assert sorted(stored) == list(range(1, acked + 1)), "an acknowledged observation is missing"
        assert {o.frame_id for o in stored.values()} == {"map"}
        ids = {o.id for o in mem.objects()}
        # each acknowledged object is there, under its id or the one it was merged into (moved)
        lost = [i for i in range(1, objects_acked + 1) if mem.resolve(i) not in ids]
        assert not lost, f"acknowledged objects missing: {lost} of 1..{objects_acked}, stored {ids}"
        print("sigkill while mapping:", {"acknowledged observations": acked, "stored": len(mem.observations),
                                         "acknowledged objects": objects_acked, "stored objects": len(ids)})
    proc = subprocess.Popen(cmd, env=env, stdout=(tmp_path / "run2.log").open("w"), stderr=subprocess.STDOUT)
    try:
        client = helper.create_client(QueryText, "codebind/query")
        assert client.wait_for_service(timeout_sec=90.0)
        answer = None
        for _ in range(6):  # re-send: a request before the new server matched is lost
            future = client.call_async(QueryText.Request(text="a photo of a box.", top_k=100,
                                                         include_gone=True))
            if wait_until(future.done, 10.0):
                answer = future.result()
                break
            client.remove_pending_request(future)
        assert answer is not None and answer.success, answer
        assert f"of {len(ids)} objects" in answer.message or len(ids) >= objects_acked
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(timeout=30) == 0
        except subprocess.TimeoutExpired:
            proc.kill()
