"""Topics are fixed relative names that users remap, as image_pipeline's nodes are: a remapping
rule moves an encoder's input and output, a namespace moves every name of a node, QoS overrides
are keyed by the name after remapping, and a former ``*_topic`` parameter is refused by name
(rclpy alone would keep it unread and the node would listen on its default topic)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ros_testing import Collector, make_memory, wait_for_subscribers, wait_until
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from codebind_ros.conversions.image import array_to_image
from codebind_ros.messaging.qos import sensor_qos
from codebind_ros.msg import Embedding
from codebind_ros.nodes.encoder_node import EncoderNode
from codebind_ros.nodes.encoder_params import EncoderParams
from codebind_ros.nodes.localisation_node import LocalisationNode
from codebind_ros.nodes.localisation_params import LocalisationParams
from codebind_ros.nodes.memory_params import MemoryParams
from codebind_ros.nodes.params import declare
from codebind_ros.nodes.sensor_player_params import PlayerParams

ROOT = Path(__file__).resolve().parents[2]
GLOBAL = {"/diagnostics", "/rosout", "/parameter_events", "/tf", "/tf_static"}  # absolute on purpose


def _encoder(model, context, name, *ros_args, **params):
    overrides = [Parameter("warmup", value=False)] + [Parameter(k, value=v) for k, v in params.items()]
    return EncoderNode(model=model, node_name=name, context=context, cli_args=["--ros-args", *ros_args],
                       parameter_overrides=overrides)


def _names(node):
    """Every topic and service name of ``node``, resolved (a service keeps the name it was given)."""
    return ({s.topic_name for s in node.subscriptions} | {p.topic_name for p in node.publishers}
            | {node.resolve_service_name(s.srv_name) for s in node.services})


def _frame(seed=0):
    return array_to_image(np.random.default_rng(seed).integers(0, 255, (24, 32, 3), dtype=np.uint8), "rgb8")


def test_a_remapped_encoder_reads_and_publishes_only_where_remapped(spin, ros_context, tiny_model, topic):
    source, target = f"{topic}/driver/image", f"{topic}/robot/embeddings"
    encoder = spin.add(_encoder(tiny_model, ros_context, "remapped", "-r", f"camera/image_raw:={source}",
                                "-r", f"codebind/embeddings/camera:={target}", modality="camera"))
    assert (encoder.input_topic, encoder.output_topic) == (source, target)
    assert encoder.subscription.topic_name == source and encoder._extra()["input_topic"] == source
    helper = spin.add(Node("remap_helper", context=ros_context))
    remapped_out = Collector(helper, Embedding, target)
    default_out = Collector(helper, Embedding, "/codebind/embeddings/camera")
    driver = helper.create_publisher(Image, source, sensor_qos(5, "reliable"))
    default_in = helper.create_publisher(Image, "/camera/image_raw", sensor_qos(5, "reliable"))
    assert wait_for_subscribers(driver)
    assert wait_until(lambda: encoder.publisher.get_subscription_count() >= 1)
    assert default_in.get_subscription_count() == 0  # nothing listens on the default name
    default_in.publish(_frame(1))
    driver.publish(_frame(2))
    (msg,) = remapped_out.wait_for(1, timeout=20.0)
    assert msg.modality == "camera" and len(msg.shared) > 0
    assert not wait_until(lambda: len(remapped_out.messages) > 1 or default_out.messages, timeout=1.0)
    assert encoder.stats.received == 1  # the frame on /camera/image_raw never arrived


@pytest.mark.parametrize("key, reliability", [
    ("{topic}/driver/image", ReliabilityPolicy.RELIABLE),      # the remapped, fully qualified name
    ("/camera/image_raw", ReliabilityPolicy.BEST_EFFORT),      # the name before remapping: unused
    ("camera/image_raw", ReliabilityPolicy.BEST_EFFORT),
])
def test_qos_overrides_are_keyed_by_the_remapped_name(ros_context, tiny_model, topic, key, reliability):
    encoder = _encoder(tiny_model, ros_context, "qos_remapped", "-r", f"camera/image_raw:={topic}/driver/image",
                       **{"modality": "camera",
                          f"qos_overrides.{key.format(topic=topic)}.subscription.reliability": "reliable"})
    try:
        assert encoder.subscription.qos_profile.reliability == reliability
        assert encoder.has_parameter(f"qos_overrides.{topic}/driver/image.subscription.reliability")
    finally:
        encoder.destroy_node()


def test_a_namespace_applies_to_every_name_of_an_encoder(spin, ros_context, tiny_model, topic):
    """``-r __ns:=`` moves the depth encoder's image, CameraInfo and Embedding topics; the
    CameraInfo's focal length reaches the conversion."""
    encoder = spin.add(_encoder(tiny_model, ros_context, "spaced", "-r", f"__ns:={topic}",
                                modality="depth", use_camera_info=True))
    names = _names(encoder)
    assert {f"{topic}/camera/depth/image_raw", f"{topic}/camera/camera_info",
            f"{topic}/codebind/embeddings/depth"} <= names
    assert all(n.startswith(f"{topic}/") or n in GLOBAL for n in names), sorted(names)
    helper = spin.add(Node("ns_helper", namespace=topic, context=ros_context))
    out = Collector(helper, Embedding, "codebind/embeddings/depth")
    info_pub = helper.create_publisher(CameraInfo, "camera/camera_info", sensor_qos(1, "reliable"))
    depth_pub = helper.create_publisher(Image, "camera/depth/image_raw", sensor_qos(5, "reliable"))
    assert wait_for_subscribers(info_pub) and wait_for_subscribers(depth_pub)
    assert wait_until(lambda: encoder.publisher.get_subscription_count() >= 1)
    info = CameraInfo(width=32, height=24)
    info.k = [250.0, 0.0, 16.0, 0.0, 250.0, 12.0, 0.0, 0.0, 1.0]
    info_pub.publish(info)
    assert wait_until(lambda: encoder.context_info.camera_k is not None, timeout=10.0)
    assert encoder.context_info.camera_k[0, 0] == 250.0
    depth_pub.publish(array_to_image(np.full((24, 32), 1.5, np.float32), "32FC1"))
    (msg,) = out.wait_for(1, timeout=20.0)
    assert msg.modality == "depth"


def test_a_namespace_applies_to_every_name_of_the_localisation_and_memory_nodes(ros_context, tiny_model, topic,
                                                                                 tmp_path):
    localisation = LocalisationNode(model=tiny_model, node_name="loc", context=ros_context,
                                    cli_args=["--ros-args", "-r", f"__ns:={topic}"])
    memory = make_memory(tiny_model, topic, ros_context, tmp_path / "m.db", transform_source="odometry")
    try:
        wanted = {localisation: {"camera/image_raw", "camera/depth/image_raw", "camera/camera_info",
                                 "codebind/query_text", "codebind/localisations", "codebind/embeddings/audio"},
                  memory: {"odom", "camera/depth/image_raw", "camera/camera_info", "codebind/embeddings/camera",
                           "codebind/localisations", "codebind/query"}}
        for node, relative in wanted.items():
            names = _names(node)
            assert {f"{topic}/{n}" for n in relative} <= names, (node.get_name(), sorted(names))
            assert all(n.startswith(f"{topic}/") or n in GLOBAL for n in names), sorted(names)
    finally:
        localisation.destroy_node()
        memory.destroy_node()


@pytest.mark.parametrize("cls, given, expected", [
    (EncoderParams, {"input_topic": "/my/image"}, "--ros-args -r camera/image_raw:=/my/image"),
    (EncoderParams, {"modality": "depth", "input_topic": "/d"}, "-r camera/depth/image_raw:=/d"),
    (EncoderParams, {"output_topic": "out"}, "-r codebind/embeddings/camera:=out"),
    (EncoderParams, {"modality": "depth", "camera_info_topic": "/i"},
     "-p use_camera_info:=true -r camera/camera_info:=/i"),
    (EncoderParams, {"input_topic": ""}, "leave input_topic out"),
    (LocalisationParams, {"cloud_topic": "/lidar"}, "-r camera/points:=/lidar"),
    (LocalisationParams, {"camera_topic": "/c"}, "Node(remappings=[('camera/image_raw', '/c')])"),
    (MemoryParams, {"odometry_topic": "/odometry/filtered"}, "-r odom:=/odometry/filtered"),
    (MemoryParams, {"depth_topic": "/d"}, "-r camera/depth/image_raw:=/d"),
    (PlayerParams, {"odometry_topic": ""}, "leave odometry_topic out and use --ros-args -p publish_odometry:=false"),
    (PlayerParams, {"odometry_topic": "/sim/odom"}, "-r odom:=/sim/odom"),
])
def test_a_former_topic_parameter_is_refused_with_the_remapping_to_use(ros_context, cls, given, expected):
    node = Node("retired", context=ros_context, parameter_overrides=[Parameter(k, value=v) for k, v in given.items()])
    try:
        assert not node.has_parameter(next(iter(given)))  # rclpy alone: kept unread, no word
        old = [k for k in given if k.endswith("_topic")][0]
        with pytest.raises(ValueError, match=f"parameter {old} no longer exists") as info:
            declare(node, cls)
        assert expected in str(info.value)
    finally:
        node.destroy_node()
    node = Node("current", context=ros_context, parameter_overrides=[  # the same node without it declares
        Parameter(k, value=v) for k, v in given.items() if not k.endswith("_topic")])
    try:
        declare(node, cls)
    finally:
        node.destroy_node()


def test_the_encoder_executable_exits_with_the_remapping_to_use(ros_context, tmp_path):
    env = dict(os.environ, ROS_DOMAIN_ID=str(ros_context.get_domain_id()), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    done = subprocess.run([sys.executable, "-m", "codebind_ros.nodes.encoder_node", "--ros-args",
                           "-p", "modality:=thermal", "-p", "input_topic:=/flir/image"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "-r thermal/image_raw:=/flir/image" in done.stderr and "Traceback" not in done.stderr
