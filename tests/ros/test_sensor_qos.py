"""Full-size sensor frames from another process, under each sensor QoS setting (real rclpy).

The driver runs in its own process (tests/ros/sensor_publisher.py) so that frames cross the
middleware's transport, where a best-effort subscription loses large samples. Streams: 640 x 480
and 1280 x 720 rgb8, 640 x 480 16UC1 depth, a 300k-point cloud; a few frames each, and with the
default parameters 2 s of each camera stream at 30 Hz.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from ros_testing import Collector, wait_until
from rclpy.node import Node
from rclpy.parameter import Parameter

from codebind_ros.nodes.diagnostics import DIAGNOSTICS_TOPIC, status_values
from codebind_ros.nodes.encoder_node import EncoderNode
from codebind_ros.msg import Embedding

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FRAMES = 3
CAMERA_FRAMES = 60  # 2 s at 30 Hz
STREAMS = {"camera_vga": "camera", "camera_hd": "camera", "depth_vga": "depth", "cloud_300k": "pointcloud"}


def _encoders(spin, ros_context, tiny_model, topic, defaults=False, **params):
    """An encoder per stream; ``defaults``: only the modality and the topics are set."""
    encoders = {}
    for stream, modality in STREAMS.items():
        overrides = [Parameter("modality", value=modality),
                     Parameter("input_topic", value=f"{topic}/{stream}"),
                     Parameter("output_topic", value=f"{topic}/{stream}/out")]
        if not defaults:
            overrides += [Parameter("warmup", value=False), Parameter("queue_size", value=FRAMES),
                          Parameter("diagnostics_period", value=0.2)]
        overrides += [Parameter(k, value=v) for k, v in params.items()]
        encoders[stream] = spin.add(EncoderNode(model=tiny_model, node_name=f"qos_{stream}",
                                                context=ros_context, parameter_overrides=overrides))
    return encoders


def _publish(ros_context, topic, reliability, linger=0.0, wait=15.0, stream_frames="", lead_pause=0.0):
    """Run the driver process to the end; returns {stream: frames sent}."""
    env = dict(os.environ, ROS_DOMAIN_ID=str(ros_context.get_domain_id()),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, str(HERE / "sensor_publisher.py"), "--prefix", topic, "--reliability",
           reliability, "--frames", str(FRAMES), "--linger", str(linger), "--wait", str(wait),
           "--stream-frames", stream_frames, "--lead-pause", str(lead_pause)]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _statuses(diagnostics: Collector, node_name: str):
    return [s for array in list(diagnostics.messages) for s in array.status
            if s.name == f"codebind/{node_name}"]


def _cleanup(spin, nodes):
    for node in nodes:
        spin.remove(node)


def test_full_size_frames_from_a_reliable_driver_arrive_with_the_defaults(spin, ros_context, tiny_model, topic):
    encoders = _encoders(spin, ros_context, tiny_model, topic, defaults=True)
    helper = spin.add(Node("qos_helper_reliable", context=ros_context))
    outputs = {s: Collector(helper, Embedding, f"{topic}/{s}/out") for s in STREAMS}
    try:
        # the first frame of each stream goes 0.5 s ahead of the rest, so that it arrives whatever
        # the executor is doing: loss is counted from the first frame heard from a publisher
        sent = _publish(ros_context, topic, "reliable", lead_pause=0.5,
                        stream_frames=f"camera_vga={CAMERA_FRAMES},camera_hd={CAMERA_FRAMES}")
        report = {}
        for stream, encoder in encoders.items():
            frames = CAMERA_FRAMES if stream.startswith("camera") else FRAMES
            assert sent[stream] == frames
            # every frame arrives or is counted lost in transport: when the executor is starved of
            # the cores, a reliable KEEP_LAST reader's history overflows; the publisher's sequence
            # numbers reveal what was overwritten
            lost = lambda: int(encoder.stream.values()["lost_in_transport"])  # noqa: E731
            wait_until(lambda: encoder.stats.received + lost() == frames, 10.0)
            assert encoder.stats.received + lost() == frames, \
                f"{stream}: {encoder.stats.received} of {frames} frames arrived, {lost()} counted lost"
            assert encoder.stats.dropped["transport"] == lost()
            report[stream] = {"arrived": encoder.stats.received, "lost": lost()}
            # every received frame is embedded or counted as an overload drop, none is invalid
            assert wait_until(lambda: encoder.stats.processed + encoder.stats.dropped["overload"]
                              == encoder.stats.received, 60.0)
            assert encoder.stats.dropped["invalid"] == 0
            embedded = outputs[stream].wait_for(encoder.stats.processed, 10.0)
            assert len(embedded) == encoder.stats.processed >= 1
            # the newest frame is always embedded (the queue drops the oldest), in stamp order
            stamps = [m.header.stamp.sec for m in embedded]
            assert stamps == sorted(stamps) and stamps[-1] == 1000 + frames - 1, (stream, stamps)
            if stream.startswith("camera"):  # a steady stream: a frame embedded every few, not just the last
                assert encoder.stats.processed >= 3, \
                    f"{stream}: {encoder.stats.processed} of {frames} frames embedded at 30 Hz"
            assert encoder.stream.warnings() == []
            report[stream]["embedded"] = encoder.stats.processed
        print("reliable driver, default parameters:", report)
    finally:
        _cleanup(spin, [*encoders.values(), helper])


def test_a_best_effort_driver_with_a_reliable_subscription_is_reported(spin, ros_context, tiny_model, topic):
    encoders = _encoders(spin, ros_context, tiny_model, topic)
    helper = spin.add(Node("qos_helper_mismatch", context=ros_context))
    diagnostics = Collector(helper, DiagnosticArray, DIAGNOSTICS_TOPIC)
    try:
        # a mismatched subscription never matches: the driver publishes after a short wait
        _publish(ros_context, topic, "best_effort", linger=1.0, wait=1.0)
        for stream, encoder in encoders.items():
            assert encoder.stats.received == 0  # nothing crosses a reliability mismatch
            assert int(encoder.stream.values()["incompatible_qos"]) >= 1, stream
            assert "RELIABILITY" in encoder.stream.incompatible_policy
            # /diagnostics said so (WARN) while the driver was running
            warned = [s.message for s in _statuses(diagnostics, f"qos_{stream}")
                      if s.level == DiagnosticStatus.WARN and "incompatible QoS" in s.message]
            assert warned and "qos_reliability: best_effort" in warned[0], stream
        assert all(e.stream.warnings() == [] for e in encoders.values())  # the driver is gone
    finally:
        _cleanup(spin, [*encoders.values(), helper])


def test_best_effort_subscription_never_loses_frames_silently(spin, ros_context, tiny_model, topic):
    encoders = _encoders(spin, ros_context, tiny_model, topic, qos_reliability="best_effort",
                         stream_timeout=1.0)
    helper = spin.add(Node("qos_helper_best_effort", context=ros_context))
    diagnostics = Collector(helper, DiagnosticArray, DIAGNOSTICS_TOPIC)
    try:
        sent = _publish(ros_context, topic, "best_effort", linger=2.0)
        for stream, encoder in encoders.items():
            statuses = _statuses(diagnostics, f"qos_{stream}")
            warned = [s.message for s in statuses if s.level == DiagnosticStatus.WARN
                      and ("lost in transport" in s.message or "no message has arrived" in s.message)]
            # every frame arrived, or /diagnostics said that frames were lost or stopped arriving
            assert encoder.stats.received == sent[stream] or warned, \
                f"{stream}: {encoder.stats.received} of {sent[stream]} arrived and nothing was reported"
            if statuses:
                assert "publishers_matched" in status_values(statuses[-1])
    finally:
        _cleanup(spin, [*encoders.values(), helper])


def test_frames_overwritten_in_a_reliable_readers_history_are_counted_lost(ros_context, tiny_model, topic):
    """A busy executor, made deterministic: the node is not spun while 19 frames arrive into a
    depth-1 reliable history, so 18 are overwritten there; no middleware event reports that, the
    publisher's sequence numbers do."""
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from codebind_ros.conversions.image import array_to_image
    from codebind_ros.messaging.qos import sensor_qos

    encoder = EncoderNode(model=tiny_model, node_name="qos_overwritten", context=ros_context,
                          parameter_overrides=[Parameter("modality", value="camera"),
                                               Parameter("input_topic", value=f"{topic}/image"),
                                               Parameter("warmup", value=False),
                                               Parameter("qos_depth", value=1)])
    helper = Node("qos_overwriter", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(encoder)
    try:
        pub = helper.create_publisher(Image, f"{topic}/image", sensor_qos(50, "reliable"))
        assert wait_until(lambda: pub.get_subscription_count() >= 1, 10.0)
        frame = array_to_image(np.zeros((48, 64, 3), np.uint8), "rgb8")

        def spin_until(cond, timeout):
            end = time.monotonic() + timeout
            while not cond() and time.monotonic() < end:
                executor.spin_once(timeout_sec=0.05)
            return cond()

        pub.publish(frame)
        assert spin_until(lambda: encoder.stats.received == 1, 10.0)
        for _ in range(19):
            pub.publish(frame)
        time.sleep(1.0)  # delivered into the reader's history; nobody takes them
        spin_until(lambda: False, 1.5)  # now the executor runs: the newest frame, and the gap
        lost = int(encoder.stream.values()["lost_in_transport"])
        assert (encoder.stats.received, lost) == (2, 18)
        assert encoder.stats.dropped["transport"] == 18
        assert encoder.stream.reported_lost == 0  # what the middleware itself never said
    finally:
        executor.remove_node(encoder)
        encoder.destroy_node()
        helper.destroy_node()
        executor.shutdown()
