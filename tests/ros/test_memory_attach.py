"""A sound or a touch attaches to the object it came from, through a real memory node: the
localiser's answer (a LocalizationArray of query modality audio / tactile, in the camera frame)
waits for the sensor pose (odometry), is placed in the fixed frame and attached to the nearest
object; one far from every object is counted unattached; one without a position or of another
modality changes nothing."""
from __future__ import annotations

import math

import pytest
from nav_msgs.msg import Odometry
from ros_testing import SEC, call_query, odometry_msg, proposal_frame, wait_for_subscribers, wait_until
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Header

from codebind_ros.conversions.results import ns_to_stamp
from codebind_ros.messaging.qos import results_qos
from codebind_ros.messaging.spatial_topics import PROPOSALS
from codebind_ros.messaging.topics import LOCALISATIONS
from codebind_ros.msg import Localization, LocalizationArray, ProposalArray, QueryResult
from codebind_ros.nodes.memory_node import MemoryNode
from codebind_ros.srv import QueryText

# body pose A: at (1, 2) facing +y; pose B: at (0, 3.5) facing +x (camera optical frame: z forward,
# x right, y down). The sphere is 1 m ahead of the camera in A, at (1, 3, 0) in map; the box at (1.5, 4, 0).
SPHERE, BOX = (1.0, 3.0, 0.0), (1.5, 4.0, 0.0)


def _located(modality: str, sec: float, positions, query_sec: float = 0.0) -> LocalizationArray:
    """The localiser's answer for a ``modality`` query: results best first, in the camera frame
    at ``sec``; ``positions`` entries of None have no 3-D position."""
    msg = LocalizationArray(header=Header(stamp=ns_to_stamp(int(sec * SEC)), frame_id="camera_optical_frame"),
                            query_modality=modality, query_stamp=ns_to_stamp(int(query_sec * SEC)))
    for i, p in enumerate(positions):
        r = Localization(score=0.9 - 0.1 * i, has_position=p is not None, embedding_id=f"{sec}/{i}")
        if p is not None:
            r.position.x, r.position.y, r.position.z = p
        msg.results.append(r)
    return msg


def _by_place(node):
    """{'sphere' / 'box': MemoryObject} of the node's objects."""
    out = {}
    for obj in node.objects.objects():
        for name, where in (("sphere", SPHERE), ("box", BOX)):
            if math.dist(obj.position, where) < 1e-3:
                out[name] = obj
    return out


def test_sound_and_touch_attach_to_the_object_they_came_from(spin, ros_context, tiny_model, topic, tmp_path):
    node = spin.add(MemoryNode(model=tiny_model, node_name="memory_attach", namespace=topic, context=ros_context,
                               parameter_overrides=[
                                   Parameter("db_path", value=str(tmp_path / "m.db")),
                                   Parameter("commit_period", value=0.05),
                                   Parameter("transform_source", value="odometry"),
                                   Parameter("transform_wait", value=10.0),
                                   Parameter("seen_empty_checks", value=False),
                                   Parameter("query_min_score", value=-1.0), Parameter("query_margin", value=-1.0)]))
    helper = spin.add(Node("helper_attach", namespace=topic, context=ros_context))
    odom = helper.create_publisher(Odometry, "odom", results_qos(100))
    props = helper.create_publisher(ProposalArray, PROPOSALS, results_qos())
    located = helper.create_publisher(LocalizationArray, LOCALISATIONS, results_qos())
    assert all(wait_for_subscribers(p) for p in (odom, props, located))

    # the objects, through the node's normal inputs: a proposal frame at 11 s seen from pose A
    for sec, pose in ((10.0, (1.0, 2.0, math.pi / 2)), (12.0, (1.0, 2.0, math.pi / 2)), (14.0, (0.0, 3.5, 0.0))):
        odom.publish(odometry_msg(sec, *pose))
    props.publish(proposal_frame(tiny_model, ["a red sphere", "a blue box"], 11.0,
                                 [(0.0, 0.0, 1.0), (0.5, 0.0, 2.0)]))
    assert wait_until(lambda: len(node.objects) == 2 and len(_by_place(node)) == 2, 10.0), \
        [o.position for o in node.objects.objects()]
    before = _by_place(node)
    assert all(o.modalities == ("camera",) and o.last_seen_ns == 11 * SEC for o in before.values())

    # a sound heard at 14.5 s, localised in the frame of 15 s: the body is then at pose B (odometry
    # up to 14 s only, so it waits for its pose), where the sphere is at (0.5, 0, 1) in the camera
    # frame. Only the top result counts (the second one is near the box).
    located.publish(_located("audio", 15.0, [(0.52, 0.0, 1.0), (-0.5, 0.0, 1.5)], query_sec=14.5))
    assert wait_until(lambda: len(node.waiting) == 1, 10.0), "the sound should wait for its sensor pose"
    assert "audio" not in _by_place(node)["sphere"].modalities
    odom.publish(odometry_msg(30.0, 0.0, 3.5, 0.0))  # pose B until 30 s
    assert wait_until(lambda: "audio" in _by_place(node)["sphere"].modalities, 10.0)

    # a touch (no query stamp: the frame's stamp counts) near the box, at (-0.5, 0, 1.5) from pose B
    located.publish(_located("tactile", 16.0, [(-0.5, 0.05, 1.45)]))
    assert wait_until(lambda: "tactile" in _by_place(node)["box"].modalities, 10.0)

    # a sound far from every object (5 m ahead: (5, 3.5, 0) in map) attaches to nothing, counted
    located.publish(_located("audio", 17.0, [(0.0, 0.0, 5.0)], query_sec=17.0))
    assert wait_until(lambda: node.objects.unattached == 1, 10.0)

    # neither a localisation without a position nor one of another modality changes anything
    located.publish(_located("tactile", 18.0, [None, (0.5, 0.0, 1.0)]))  # the top result has no position
    located.publish(_located("camera", 18.0, [(0.5, 0.0, 1.0)]))
    located.publish(_located("text", 18.0, [(-0.5, 0.0, 1.5)]))
    located.publish(_located("audio", 18.0, []))
    located.publish(_located("audio", 19.0, [(0.0, 0.0, 6.0)], query_sec=19.0))  # sentinel: the second unattached
    assert wait_until(lambda: node.objects.unattached == 2, 10.0)
    assert len(node.waiting) == 0 and node.stats.snapshot().dropped.get("no_transform", 0) == 0

    after = _by_place(node)
    assert len(node.objects) == 2
    assert after["sphere"].modalities == ("camera", "audio")
    assert after["sphere"].last_seen_ns == int(14.5 * SEC)  # the sound's stamp, not its frame's
    assert after["box"].modalities == ("camera", "tactile")
    assert after["box"].last_seen_ns == 16 * SEC
    assert node._extra()["objects_unattached"] == "2"

    # the query service answers with the attached modalities and the new last-seen stamps
    res = call_query(helper, QueryText.Request(text="a red sphere", top_k=5))
    assert res.success and len(res.results) == 2 and all(r.kind == QueryResult.OBJECT for r in res.results)
    by_id = {r.object_id: r for r in res.results}
    sphere, box = by_id[after["sphere"].id], by_id[after["box"].id]
    assert list(sphere.modalities) == ["camera", "audio"] and list(box.modalities) == ["camera", "tactile"]
    assert (sphere.stamp.sec, sphere.stamp.nanosec) == (14, 500_000_000)
    assert (box.stamp.sec, box.stamp.nanosec) == (16, 0)
    assert (sphere.position.x, sphere.position.y, sphere.position.z) == pytest.approx(SPHERE, abs=1e-4)
    assert sphere.views == 1 and box.views == 1  # attaching is not a view
    for modality, name in (("audio", "sphere"), ("tactile", "box")):
        only = call_query(helper, QueryText.Request(text="a red sphere", top_k=5, modality=modality))
        assert only.success and [r.object_id for r in only.results] == [after[name].id], (modality, only.message)
