"""/tf and /tf_static without tf2_ros (real rclpy; tf2_msgs as scripts/build_interfaces.sh builds it):
the reader's lookups, the memory node's ``transform_source: tf`` and the sensor player's /tf."""
from __future__ import annotations

import math

import numpy as np
import pytest
from ros_testing import Collector, wait_for_subscribers, wait_until
from ros_testing import proposal_frame as _frame
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Header

from codebind_core.geometry import RigidTransform, TransformNotYetAvailable
from codebind_ros.conversions.results import ns_to_stamp
from codebind_ros.messaging.qos import results_qos
from codebind_ros.conversions.transforms import transform_to_msg
from codebind_ros.messaging.spatial_topics import PROPOSALS
from codebind_ros.messaging.tf_reader import TF_STATIC_TOPIC, TF_TOPIC, TfReader, listener_qos
from codebind_ros.msg import ProposalArray

tf2_msgs = pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs is built by scripts/build_interfaces.sh")
from geometry_msgs.msg import TransformStamped  # noqa: E402

SEC = 10 ** 9
OPTICAL = RigidTransform((0.0, 0.0, 0.5), (-0.5, 0.5, -0.5, 0.5))  # base_link <- camera optical, 0.5 m up


def _stamped(parent, child, sec, transform: RigidTransform):
    t = TransformStamped(header=Header(stamp=ns_to_stamp(int(sec * SEC)), frame_id=parent), child_frame_id=child)
    transform_to_msg(transform, t.transform)
    return t


def _body(x, y, yaw):
    return RigidTransform((x, y, 0.0), (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)))


def _publishers(helper):
    tf = helper.create_publisher(tf2_msgs.TFMessage, TF_TOPIC, listener_qos(False))
    static = helper.create_publisher(tf2_msgs.TFMessage, TF_STATIC_TOPIC, listener_qos(True))
    return tf, static


def test_reader_chains_static_and_interpolated_dynamic_transforms(spin, ros_context):
    helper = spin.add(Node("tf_helper_reader", context=ros_context))
    tf, static = _publishers(helper)
    # the static transform goes out before the reader exists: /tf_static is transient local
    static.publish(tf2_msgs.TFMessage(transforms=[_stamped("base_link", "camera_optical_frame", 0, OPTICAL)]))
    invalid = []
    node = spin.add(Node("tf_reader_node", context=ros_context))
    reader = TfReader(node, cache_s=60.0, on_invalid=invalid.append)
    assert wait_until(lambda: reader.received == 1, 10.0), "the latched static transform should arrive"
    assert wait_for_subscribers(tf)
    bad = _stamped("map", "base_link", 11, _body(0, 0, 0))
    bad.transform.rotation.w = float("nan")
    loop = _stamped("camera_optical_frame", "map", 11, _body(0, 0, 0))  # would close a loop
    tf.publish(tf2_msgs.TFMessage(transforms=[_stamped("map", "base_link", 10, _body(1.0, 2.0, 0.0)), bad]))
    tf.publish(tf2_msgs.TFMessage(transforms=[_stamped("map", "base_link", 12, _body(3.0, 2.0, 0.0)), loop]))
    assert wait_until(lambda: reader.received == 3 and len(invalid) == 2, 10.0), (reader.received, invalid)
    assert "unit quaternion" in invalid[0] and "loop" in invalid[1]
    # map <- camera at 11 s: the body half-way, (2, 2, 0); the camera 0.5 m above it, looking along +x
    got = reader.lookup("map", "camera_optical_frame", 11 * SEC)
    np.testing.assert_allclose(got.apply(np.array([0.0, 0.0, 1.0])), [3.0, 2.0, 0.5], atol=1e-9)
    with pytest.raises(TransformNotYetAvailable):
        reader.lookup("map", "camera_optical_frame", 13 * SEC)


def test_memory_node_places_proposals_with_the_pose_from_tf(spin, ros_context, tiny_model, topic, tmp_path):
    from codebind_ros.nodes.memory_node import MemoryNode

    helper = spin.add(Node("tf_helper_memory", namespace=topic, context=ros_context))
    tf, static = _publishers(helper)
    static.publish(tf2_msgs.TFMessage(transforms=[_stamped("base_link", "camera_optical_frame", 0, OPTICAL)]))
    node = spin.add(MemoryNode(model=tiny_model, node_name="memory_tf", namespace=topic, context=ros_context,
                               parameter_overrides=[Parameter("db_path", value=str(tmp_path / "m.db")),
                                                    Parameter("commit_period", value=0.05),
                                                    Parameter("transform_source", value="tf"),
                                                    Parameter("transform_wait", value=0.5),
                                                    Parameter("seen_empty_checks", value=False)]))
    assert node.poses.implementation in ("tf_reader", "tf2_ros")
    props = helper.create_publisher(ProposalArray, PROPOSALS, results_qos())
    assert wait_for_subscribers(tf) and wait_for_subscribers(props)
    # the body at (1, 2) facing +y: 1 m in front of the camera is (1, 3, 0.5) in map
    tf.publish(tf2_msgs.TFMessage(transforms=[_stamped("map", "base_link", 10, _body(1.0, 2.0, math.pi / 2))]))
    props.publish(_frame(tiny_model, ["a red sphere", "a blue box"], 11.0, [(0.0, 0.0, 1.0), (0.5, 0.0, 2.0)]))
    assert wait_until(lambda: len(node.waiting) == 1, 10.0), "the frame should wait for its pose"
    tf.publish(tf2_msgs.TFMessage(transforms=[_stamped("map", "base_link", 12, _body(1.0, 2.0, math.pi / 2))]))
    assert wait_until(lambda: len(node.objects) == 2, 10.0)
    positions = sorted(np.round([o.position for o in node.objects.objects()], 6).tolist())
    assert positions == [[1.0, 3.0, 0.5], [1.5, 4.0, 0.5]]
    # a frame whose pose never comes is dropped after transform_wait and counted
    props.publish(_frame(tiny_model, ["a green torus"], 100.0, [(0.0, 0.0, 1.0)]))
    assert wait_until(lambda: node.stats.snapshot().dropped.get("no_transform", 0) == 1, 10.0)
    assert len(node.objects) == 2


def test_sensor_player_tf_is_its_odometry(spin, ros_context, topic):
    from nav_msgs.msg import Odometry

    from codebind_ros.conversions.transforms import pose_to_transform
    from codebind_ros.nodes.sensor_player import SensorPlayerNode

    helper = spin.add(Node("tf_helper_player", context=ros_context))
    static = Collector(helper, tf2_msgs.TFMessage, TF_STATIC_TOPIC, listener_qos(True))
    tf = Collector(helper, tf2_msgs.TFMessage, TF_TOPIC, listener_qos(False))
    odom = Collector(helper, Odometry, f"{topic}/odom", results_qos(100))
    params = {"trajectory": "tour", "camera_rate": 5.0, "depth_rate": 0.0, "thermal_rate": 0.0,
              "pointcloud_rate": 0.0, "audio_rate": 0.0, "tactile_rate": 0.0}
    spin.add(SensorPlayerNode(node_name="player_tf", namespace=topic, context=ros_context,
                              parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]))
    assert wait_until(lambda: len(odom.messages) >= 3 and len(tf.messages) >= 3 and static.messages, 30.0)
    (extrinsic,) = static.messages[-1].transforms
    assert (extrinsic.header.frame_id, extrinsic.child_frame_id) == ("base_link", "camera_optical_frame")
    by_stamp = {(t.header.stamp.sec, t.header.stamp.nanosec): t for m in list(tf.messages) for t in m.transforms}
    for o in list(odom.messages)[:3]:
        t = by_stamp[(o.header.stamp.sec, o.header.stamp.nanosec)]
        assert (t.header.frame_id, t.child_frame_id) == (o.header.frame_id, o.child_frame_id) == ("map", "base_link")
        want = pose_to_transform(o.pose.pose)
        r, q = t.transform.translation, t.transform.rotation
        np.testing.assert_allclose([r.x, r.y, r.z], want.translation, atol=1e-9)
        np.testing.assert_allclose(np.abs(np.dot([q.x, q.y, q.z, q.w], want.rotation)), 1.0, atol=1e-9)
