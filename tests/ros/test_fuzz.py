"""Fuzzed malformed messages for every sensor type: the encoder stays up, counts each drop in
/diagnostics, logs at a throttled rate, and still encodes the next valid message."""
from __future__ import annotations

import time

import numpy as np
import pytest
from ros_testing import Collector, make_encoder, wait_for_subscribers, wait_until
from diagnostic_msgs.msg import DiagnosticArray
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rclpy.node import Node
from sensor_msgs.msg import Image, PointCloud2

from codebind_ros.conversions.audio import array_to_audio
from codebind_ros.conversions.image import array_to_image
from codebind_ros.conversions.pointcloud2 import xyz_to_cloud
from codebind_ros.nodes.diagnostics import status_values
from codebind_ros.msg import AudioData, Embedding

MAX_BYTES = 1 << 20  # the fuzzed encoders refuse larger messages unread
THROTTLE_S = 0.5
SETTINGS = settings(max_examples=15, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# ---- malformed message strategies --------------------------------------------------------------
def _image(encoding="rgb8", height=4, width=6, step=None, data_len=None, bigendian=0) -> Image:
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=bigendian)
    msg.step = width * 3 if step is None else step
    size = msg.step * height if data_len is None else data_len
    msg.data = bytes(size)
    return msg


@st.composite
def bad_images(draw, modality: str):
    kind = draw(st.sampled_from(["encoding", "short_step", "size", "empty", "huge_dims", "huge_data",
                                 "content"]))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    if kind == "encoding":
        enc = draw(st.text(alphabet="abcxyz0123456789_", min_size=0, max_size=8))
        return _image(enc if enc not in ("mono8", "rgb8") else "bogus", h, w)
    if kind == "short_step":
        return _image("rgb8", h, w, step=draw(st.integers(0, w * 3 - 1)))
    if kind == "size":
        delta = draw(st.integers(1, 50)) * draw(st.sampled_from([-1, 1]))
        return _image("rgb8", h, w, data_len=max(0, h * w * 3 + delta) if h * w * 3 + delta != h * w * 3 else 1)
    if kind == "empty":
        return _image("rgb8", 0, draw(st.integers(0, 5)), step=0, data_len=0)
    if kind == "huge_dims":
        return _image("rgb8", 1 << 20, 1 << 20, step=3 << 20, data_len=16)
    if kind == "huge_data":
        return _image("mono8", 1, MAX_BYTES + 1, step=MAX_BYTES + 1)
    # well-formed bytes with content the modality cannot take
    return {
        "camera": lambda: array_to_image(np.zeros((h, w), np.float32), "32FC1"),
        "tactile": lambda: array_to_image(np.zeros((h, w, 2), np.uint8), "8UC2"),
        "depth": lambda: array_to_image(np.full((h, w), np.nan, np.float32), "32FC1"),
        "thermal": lambda: array_to_image(np.full((h, w), np.nan, np.float32), "32FC1"),
    }[modality]()


@st.composite
def bad_clouds(draw):
    kind = draw(st.sampled_from(["no_xyz", "offset", "datatype", "row_step", "size", "empty",
                                 "all_nan", "point_step", "huge_data"]))
    n = draw(st.integers(1, 30))
    if kind == "empty":
        return xyz_to_cloud(np.zeros((0, 3), np.float32))
    if kind == "all_nan":
        return xyz_to_cloud(np.full((n, 3), np.nan, np.float32))
    if kind == "huge_data":
        msg = xyz_to_cloud(np.zeros((1, 3), np.float32))
        msg.width, msg.row_step = (MAX_BYTES // 12) + 1, ((MAX_BYTES // 12) + 1) * 12
        msg.data = bytes(msg.row_step)
        return msg
    msg = xyz_to_cloud(np.random.default_rng(n).normal(size=(n, 3)).astype(np.float32))
    if kind == "no_xyz":
        msg.fields = [f for f in msg.fields if f.name != draw(st.sampled_from("xyz"))]
    elif kind == "offset":
        msg.fields[0].offset = msg.point_step + draw(st.integers(0, 10))
    elif kind == "datatype":
        msg.fields[1].datatype = draw(st.sampled_from([0, 9, 200]))
    elif kind == "row_step":
        msg.row_step = draw(st.integers(0, msg.width * msg.point_step - 1))
    elif kind == "size":
        msg.data = bytes(len(msg.data) + draw(st.integers(1, 40)))
    elif kind == "point_step":
        msg.point_step = 0
    return msg


@st.composite
def bad_audio(draw):
    kind = draw(st.sampled_from(["format", "channels", "ragged", "empty", "nan", "rate", "huge_data"]))
    wave = np.sin(np.linspace(0, 100, 1600))[None]
    msg = array_to_audio(wave, 16000, "S16LE")
    if kind == "format":
        msg.sample_format = draw(st.sampled_from(["S24LE", "", "mp3", "f32le"]))
    elif kind == "channels":
        msg.channels = draw(st.sampled_from([0, 33, 1000]))
    elif kind == "ragged":
        msg.data = bytes(len(msg.data) - 1)
    elif kind == "empty":
        msg.data = b""
    elif kind == "nan":
        msg = array_to_audio(wave, 16000, "F32LE")
        msg.data = np.full(1600, np.nan, np.float32).tobytes()
    elif kind == "rate":
        msg.sample_rate = draw(st.sampled_from([0, 8000, 10_000_000]))
    else:
        msg.data = bytes(MAX_BYTES + 2)
    return msg


STRATEGIES = {
    "camera": (Image, bad_images("camera")),
    "depth": (Image, bad_images("depth")),
    "thermal": (Image, bad_images("thermal")),
    "tactile": (Image, bad_images("tactile")),
    "pointcloud": (PointCloud2, bad_clouds()),
    "audio": (AudioData, bad_audio()),
}


def _valid(modality: str):
    rng = np.random.default_rng(0)
    if modality == "pointcloud":
        return xyz_to_cloud(rng.normal(size=(256, 3)).astype(np.float32))
    if modality == "audio":
        return array_to_audio(0.1 * rng.normal(size=16000), 16000, "S16LE")
    if modality == "depth":
        return array_to_image(rng.uniform(0.5, 3.0, (24, 32)).astype(np.float32), "32FC1")
    if modality == "thermal":
        return array_to_image(rng.integers(0, 255, (24, 32), dtype=np.uint8), "mono8")
    return array_to_image(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), "rgb8")


@pytest.fixture(scope="module")
def rig(spin, ros_context, tiny_model):
    """One encoder per sensor type (generous queue, so every message is examined) and a helper."""
    helper = spin.add(Node("fuzz_helper", context=ros_context))
    encoders, publishers, outputs = {}, {}, {}
    for modality, (msg_type, _) in STRATEGIES.items():
        topic = f"/fuzz/{modality}"
        encoders[modality] = spin.add(make_encoder(
            tiny_model, modality, topic, ros_context, queue_size=64, max_message_bytes=MAX_BYTES,
            log_throttle_sec=THROTTLE_S, diagnostics_period=0.2))
        publishers[modality] = helper.create_publisher(msg_type, f"{topic}/in", 100)
        outputs[modality] = Collector(helper, Embedding, f"{topic}/out")
    diagnostics = Collector(helper, DiagnosticArray, "/diagnostics")
    for modality, pub in publishers.items():
        assert wait_for_subscribers(pub), modality
        assert wait_until(lambda: encoders[modality].publisher.get_subscription_count() >= 1)
    return encoders, publishers, outputs, diagnostics


def _latest_values(diagnostics: Collector, node_name: str):
    for array in reversed(list(diagnostics.messages)):
        for status in array.status:
            if status.name == f"codebind/{node_name}":
                return status_values(status)
    return None


@pytest.mark.parametrize("modality", sorted(STRATEGIES))
def test_malformed_messages_are_dropped_counted_and_throttled(rig, modality):
    encoders, publishers, outputs, diagnostics = rig
    encoder, pub = encoders[modality], publishers[modality]
    sent = []
    started = time.monotonic()

    @SETTINGS
    @given(msg=STRATEGIES[modality][1])
    def publish_one(msg):
        before = encoder.stats.snapshot().received
        pub.publish(msg)
        sent.append(msg)
        # one at a time, so the queue never overflows and every drop is an 'invalid' one
        assert wait_until(lambda: encoder.stats.snapshot().received > before, timeout=10.0)
        assert wait_until(lambda: len(encoder.queue) == 0 and not encoder.worker.busy.is_set(), 10.0)

    publish_one()
    snap = encoder.stats.snapshot()
    assert snap.received == len(sent) > 0
    assert snap.dropped["invalid"] == len(sent), snap.last_error
    assert snap.processed == 0 and snap.errors == 0 and snap.dropped["overload"] == 0
    assert encoder.worker.alive

    # throttled: at most one warning per period, the rest counted as suppressed
    elapsed = time.monotonic() - started
    assert encoder._warn.logged + encoder._warn.suppressed_total == len(sent)
    assert encoder._warn.logged <= 1 + elapsed / THROTTLE_S

    # the drops reach /diagnostics
    name = encoder.get_name()
    assert wait_until(lambda: (_latest_values(diagnostics, name) or {}).get("dropped_invalid")
                      == str(len(sent)), timeout=5.0)
    assert _latest_values(diagnostics, name)["errors"] == "0"

    # still alive: a valid message is encoded
    pub.publish(_valid(modality))
    assert len(outputs[modality].wait_for(1, timeout=20.0)) == 1
    assert encoder.stats.snapshot().processed == 1
