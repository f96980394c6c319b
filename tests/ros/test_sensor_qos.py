"""Full-size sensor frames from a driver in another process, and what the encoder does with them.

The driver runs in its own process (tests/ros/sensor_publisher.py) set up as docs/ros.md tells a
robot (``FASTDDS_DEFAULT_PROFILES_FILE``, or for Jazzy's Fast DDS 2.14
``FASTRTPS_DEFAULT_PROFILES_FILE``, = the shipped large-frames profile), so that frames cross the
middleware's transport. Streams: 640 x 480 and 1280 x 720 rgb8, 640 x 480 16UC1 depth, a
300k-point cloud. Every frame sent is embedded or counted: received + lost in transport = sent,
and received = embedded + dropped (overload, invalid, shutdown).
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
from ros_testing import Collector, encoder_remaps, wait_until
from rclpy.node import Node
from rclpy.parameter import Parameter

from codebind_ros.messaging.middleware import large_frames_profile, profile_environment
from codebind_ros.nodes.diagnostics import DIAGNOSTICS_TOPIC, status_values
from codebind_ros.nodes.encoder_node import EncoderNode
from codebind_ros.msg import Embedding

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FRAMES = 3
CAMERA_FRAMES = 60  # 2 s at 30 Hz
STREAMS = {"camera_vga": "camera", "camera_hd": "camera", "depth_vga": "depth", "cloud_300k": "pointcloud"}


def qos_override(topic: str, policy: str, value):
    """The QoSOverridingOptions parameter of the sensor subscription on ``topic``."""
    return Parameter(f"qos_overrides.{topic}.subscription.{policy}", value=value)


def _encoders(spin, ros_context, tiny_model, topic, defaults=False, **params):
    """An encoder per stream; ``defaults``: only the modality and the topics are set."""
    encoders = {}
    for stream, modality in STREAMS.items():
        overrides = [Parameter("modality", value=modality)]
        if not defaults:
            overrides += [Parameter("warmup", value=False), Parameter("queue_size", value=FRAMES),
                          Parameter("diagnostics_period", value=0.2)]
        overrides += [Parameter(k, value=v) for k, v in params.items()]
        encoders[stream] = spin.add(EncoderNode(
            model=tiny_model, node_name=f"qos_{stream}", context=ros_context, parameter_overrides=overrides,
            cli_args=encoder_remaps(modality, f"{topic}/{stream}", f"{topic}/{stream}/out")))
    return encoders


def _publish(ros_context, topic, reliability, linger=0.0, wait=15.0, stream_frames="", lead_pause=0.0,
             streams=",".join(STREAMS), rate=0.0):
    """Run the driver process to the end; returns {stream: frames sent, "failed": {stream: n}}."""
    env = dict(os.environ, ROS_DOMAIN_ID=str(ros_context.get_domain_id()),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", **profile_environment(large_frames_profile()),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, str(HERE / "sensor_publisher.py"), "--prefix", topic, "--reliability",
           reliability, "--frames", str(FRAMES), "--linger", str(linger), "--wait", str(wait),
           "--stream-frames", stream_frames, "--lead-pause", str(lead_pause), "--streams", streams,
           "--rate", str(rate)]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _statuses(diagnostics: Collector, node_name: str):
    return [s for array in list(diagnostics.messages) for s in array.status
            if s.name == f"codebind/{node_name}"]


def _cleanup(spin, nodes):
    for node in nodes:
        spin.remove(node)


def _gid_in_message_info() -> bool:
    """rclpy 7.4+ (Kilted) names the publisher in each MessageInfo; Jazzy's rclpy 7.1 does not."""
    import rclpy.subscription

    info = getattr(rclpy.subscription, "MessageInfo", None)
    return info is not None and "publisher_gid" in getattr(info, "__annotations__", {})


def _accounted(encoder, sent: int, stream: str) -> dict:
    """Wait until every frame sent is received or counted lost, and every received one embedded or
    dropped with a reason; returns the figures.

    Without the publisher's gid in the MessageInfo (Jazzy) the node cannot count the frames lost
    before the first one delivered, and no reader can count those lost in transport after the last
    one delivered: there the frames outside the delivered span (the driver numbers from 1 to
    ``sent``) may be missing from the count, which must still never exceed what was sent
    (the middleware's own lost-sample reports may cover some of them)."""
    lost = lambda: int(encoder.stream.values()["lost_in_transport"])  # noqa: E731
    unseen = 0
    if not _gid_in_message_info():
        wait_until(lambda: encoder.stream.sequences.spans(), 10.0)
        spans = encoder.stream.sequences.spans()  # none: nothing delivered, nothing to count from
        unseen = sum((first - 1) + (sent - last) for first, last in spans) if spans else sent
    wait_until(lambda: encoder.stats.received + lost() == sent, 10.0)
    assert sent - unseen <= encoder.stats.received + lost() <= sent, \
        f"{stream}: {encoder.stats.received} of {sent} frames arrived, {lost()} counted lost, {unseen} unseen"
    assert encoder.stats.dropped["transport"] == lost()
    done = lambda: encoder.stats.processed + encoder.stats.dropped["overload"]  # noqa: E731
    assert wait_until(lambda: done() == encoder.stats.received, 60.0), encoder.stats.snapshot()
    assert encoder.stats.dropped["invalid"] == 0
    return {"sent": sent, "arrived": encoder.stats.received, "lost": lost(), "unseen (Jazzy)": unseen,
            "embedded": encoder.stats.processed, "overload": encoder.stats.dropped["overload"]}


def test_full_size_frames_from_a_best_effort_driver_are_embedded_with_the_defaults(
        spin, ros_context, tiny_model, topic):
    """SensorDataQoS drivers: a reliable subscription (the old default) received none of these."""
    encoders = _encoders(spin, ros_context, tiny_model, topic, defaults=True)
    helper = spin.add(Node("qos_helper_best_effort", context=ros_context))
    outputs = {s: Collector(helper, Embedding, f"{topic}/{s}/out") for s in STREAMS}
    try:
        sent = _publish(ros_context, topic, "best_effort",
                        stream_frames=f"camera_vga={CAMERA_FRAMES},camera_hd={CAMERA_FRAMES}")
        report = {}
        for stream, encoder in encoders.items():
            assert sent["failed"][stream] == 0
            report[stream] = _accounted(encoder, sent[stream], stream)
            assert encoder.stream.values()["qos"] == "best_effort/keep_last(5)"
        for stream, encoder in encoders.items():
            embedded = outputs[stream].wait_for(encoder.stats.processed, 10.0)
            assert len(embedded) == encoder.stats.processed >= 1, (stream, report[stream])
            if stream.startswith("camera"):  # a steady stream: a frame embedded every few, not just one
                assert encoder.stats.processed >= 3, (stream, report[stream])
        print("best-effort driver, default parameters:", report)
    finally:
        _cleanup(spin, [*encoders.values(), helper])


def test_a_fast_reliable_driver_never_fails_to_publish(spin, ros_context, tiny_model, topic):
    """A reliable reader (the old default) made a 300 Hz reliable camera driver's publish() fail;
    the best-effort reader never pushes back, and every frame is still accounted for."""
    encoders = _encoders(spin, ros_context, tiny_model, topic, defaults=True)
    try:
        sent = _publish(ros_context, topic, "reliable", streams="camera_vga,cloud_300k", rate=300.0,
                        stream_frames="camera_vga=600,cloud_300k=60")
        assert sent["failed"] == {"camera_vga": 0, "cloud_300k": 0}
        assert (sent["camera_vga"], sent["cloud_300k"]) == (600, 60)
        for stream in ("camera_vga", "cloud_300k"):
            print(stream, _accounted(encoders[stream], sent[stream], stream))
    finally:
        _cleanup(spin, list(encoders.values()))


def test_an_explicit_reliable_subscription_is_reported_against_a_best_effort_driver(
        spin, ros_context, tiny_model, topic):
    """QoS overrides are honoured (rclpy's QoSOverridingOptions) and reported in /diagnostics."""
    stream = "camera_vga"
    encoder = spin.add(EncoderNode(model=tiny_model, node_name="qos_explicit", context=ros_context,
                                   cli_args=encoder_remaps("camera", f"{topic}/{stream}", f"{topic}/{stream}/out"),
                                   parameter_overrides=[
                                       Parameter("modality", value="camera"),
                                       Parameter("warmup", value=False), Parameter("diagnostics_period", value=0.2),
                                       qos_override(f"{topic}/{stream}", "reliability", "reliable")]))
    helper = spin.add(Node("qos_helper_mismatch", context=ros_context))
    diagnostics = Collector(helper, DiagnosticArray, DIAGNOSTICS_TOPIC)
    try:
        _publish(ros_context, topic, "best_effort", linger=1.0, wait=1.0, streams=stream)
        assert encoder.stats.received == 0  # nothing crosses a reliability mismatch
        assert int(encoder.stream.values()["incompatible_qos"]) >= 1
        assert "RELIABILITY" in encoder.stream.incompatible_policy
        statuses = _statuses(diagnostics, "qos_explicit")
        assert status_values(statuses[-1])["qos"] == "reliable/keep_last(5)"
        warned = [s.message for s in statuses
                  if s.level == DiagnosticStatus.WARN and "incompatible QoS" in s.message]
        assert warned and "qos_overrides" in warned[0]
        offered = [status_values(s)["publishers_offer"] for s in statuses]
        assert "best_effort" in offered  # what the driver offered, while it ran
    finally:
        _cleanup(spin, [encoder, helper])


def test_frames_overwritten_in_a_reliable_readers_history_are_counted_lost(ros_context, tiny_model, topic):
    """A busy executor, made deterministic: the node is not spun while 19 frames arrive into a
    depth-1 history, so 18 are overwritten there; no middleware event reports that, the
    publisher's sequence numbers do."""
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from codebind_ros.conversions.image import array_to_image
    from codebind_ros.messaging.qos import sensor_qos

    encoder = EncoderNode(model=tiny_model, node_name="qos_overwritten", context=ros_context,
                          cli_args=encoder_remaps("camera", f"{topic}/image", f"{topic}/image/out"),
                          parameter_overrides=[Parameter("modality", value="camera"),
                                               Parameter("warmup", value=False),
                                               qos_override(f"{topic}/image", "depth", 1)])
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
