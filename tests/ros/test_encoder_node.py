"""Encoder node, with real rclpy nodes: every sensor type in -> Embedding out, equal to the core."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from ros_testing import Collector, make_encoder, wait_for_subscribers, wait_until
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Header

import codebind_core as cb
from codebind_ros.conversions.audio import array_to_audio
from codebind_ros.conversions.image import array_to_image
from codebind_ros.conversions.pointcloud2 import xyz_to_cloud
from codebind_ros.nodes.encoder_node import EncoderNode
from codebind_ros.msg import AudioData, Embedding


def _thermal_u16(rng):
    return (rng.uniform(0.3, 0.6, (40, 56)) * 65535).astype(np.uint16)


def _cloud_raw(rng):
    pts = cb.modalities.get("pointcloud").example(rng).astype(np.float32)
    pts[:, 3:] = np.round(pts[:, 3:] * 255) / 255  # colours travel as 8-bit packed rgb
    return pts


# modality -> (message type, raw numpy -> (message, the raw input the core should see))
CASES = {
    "camera": (Image, lambda rng: _img(cb.modalities.get("image").example(rng), "rgb8")),
    "tactile": (Image, lambda rng: _img(cb.modalities.get("tactile").example(rng), "bgr8", bgr=True)),
    "depth": (Image, lambda rng: _img(cb.modalities.get("depth").example(rng), "32FC1")),
    "thermal": (Image, lambda rng: _img(_thermal_u16(rng), "mono16", bigendian=True)),
    "pointcloud": (PointCloud2, lambda rng: (lambda p: (xyz_to_cloud(p), p))(_cloud_raw(rng))),
    "audio": (AudioData, lambda rng: (lambda w: (array_to_audio(w, 16000, "F32LE"), w))(
        cb.modalities.get("audio").example(rng).astype(np.float32))),
}
CORE = {"camera": "image"}


def _img(raw, encoding, bgr=False, bigendian=False):
    pixels = raw[:, :, ::-1] if bgr else raw
    step = None if raw.ndim == 2 else raw.shape[1] * 3 + 4  # padded rows for colour images
    return array_to_image(pixels, encoding, step=step, is_bigendian=bigendian), raw


@pytest.mark.parametrize("modality", sorted(CASES))
def test_each_sensor_publishes_the_core_embedding(spin, ros_context, tiny_model, topic, modality):
    msg_type, build = CASES[modality]
    rng = np.random.default_rng(1)
    encoder = spin.add(make_encoder(tiny_model, modality, topic, ros_context))
    helper = spin.add(Node(f"helper_{modality}", context=ros_context))
    out = Collector(helper, Embedding, f"{topic}/out")
    pub = helper.create_publisher(msg_type, f"{topic}/in", 10)
    assert wait_for_subscribers(pub)
    assert wait_until(lambda: encoder.publisher.get_subscription_count() >= 1)

    msg, raw = build(rng)
    msg.header = Header(frame_id=f"{modality}_frame")
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1234, 567_000_000
    pub.publish(msg)
    received = out.wait_for(1, timeout=20.0)
    assert len(received) == 1, f"no Embedding from the {modality} encoder"
    emb = received[0]

    core = CORE.get(modality, modality)
    options = {"sample_rate": 16000} if modality == "audio" else {}
    with torch.no_grad():
        expected = tiny_model.encode(core, tiny_model.preprocess(core, [raw], **options))
    assert emb.header.frame_id == f"{modality}_frame"
    assert (emb.header.stamp.sec, emb.header.stamp.nanosec) == (1234, 567_000_000)
    assert emb.modality == modality and emb.path == expected.codebook_set
    assert emb.model_id == tiny_model.config.name
    np.testing.assert_allclose(np.asarray(emb.shared), expected.shared[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(np.asarray(emb.specific), expected.specific[0].numpy(), atol=1e-5)
    np.testing.assert_array_equal(np.asarray(emb.codes), expected.codes[0].numpy())
    np.testing.assert_array_equal(np.asarray(emb.specific_codes), expected.specific_codes[0].numpy())
    assert encoder.stats.snapshot().processed == 1


def test_specific_part_can_be_left_out(spin, ros_context, tiny_model, topic):
    encoder = spin.add(make_encoder(tiny_model, "depth", topic, ros_context, publish_specific=False))
    helper = spin.add(Node("helper_nospec", context=ros_context))
    out = Collector(helper, Embedding, f"{topic}/out")
    pub = helper.create_publisher(Image, f"{topic}/in", 10)
    assert wait_for_subscribers(pub) and wait_until(lambda: encoder.publisher.get_subscription_count() >= 1)
    depth = cb.modalities.get("depth").example(np.random.default_rng(2))
    pub.publish(array_to_image((np.nan_to_num(depth) * 1000).astype(np.uint16), "16UC1"))  # millimetres
    (emb,) = out.wait_for(1, timeout=20.0)
    assert len(emb.specific) == 0 and len(emb.specific_codes) == 0
    assert len(emb.shared) == tiny_model.config.embed_dim
    assert len(emb.codes) == tiny_model.config.embed_dim // tiny_model.config.quantizer.sub_dim


def test_bad_parameters_raise_clear_errors(ros_context, tiny_model, topic):
    with pytest.raises(ValueError, match="modality must be one of"):
        make_encoder(tiny_model, "lidar", topic, ros_context)
    with pytest.raises(ValueError, match="queue_size .* must be >= batch_size"):
        make_encoder(tiny_model, "depth", topic, ros_context, queue_size=1, batch_size=4)
    with pytest.raises(ValueError, match="preprocess_options must be a mapping"):
        make_encoder(tiny_model, "audio", topic, ros_context, preprocess_options="[1, 2]")
    with pytest.raises(ValueError, match="parameter queue_size must be of type int"):
        make_encoder(tiny_model, "depth", topic, ros_context, queue_size="many")
    with pytest.raises(ValueError, match="audio_window_seconds/audio_hop_seconds need modality 'audio'"):
        make_encoder(tiny_model, "depth", topic, ros_context, audio_window_seconds=1.0)
    node = make_encoder(tiny_model, "depth", topic, ros_context, diagnostics_period=2)  # int is fine
    assert node.params.diagnostics_period == 2.0 and isinstance(node.params.diagnostics_period, float)
    node.destroy_node()
    with pytest.raises(ValueError, match="model_path is empty"):
        EncoderNode(node_name="enc_nomodel", context=ros_context,
                    parameter_overrides=[Parameter("modality", value="depth")])


def test_audio_stream_is_embedded_in_sliding_windows(spin, ros_context, tiny_model, topic):
    from codebind_ros.messaging.audio_window import AudioWindow

    encoder = spin.add(make_encoder(tiny_model, "audio", topic, ros_context, queue_size=8,
                                    audio_window_seconds=1.0, audio_hop_seconds=0.5))
    helper = spin.add(Node("helper_audio_stream", context=ros_context))
    out = Collector(helper, Embedding, f"{topic}/out")
    pub = helper.create_publisher(AudioData, f"{topic}/in", 50)
    assert wait_for_subscribers(pub) and wait_until(lambda: encoder.publisher.get_subscription_count() >= 1)
    wave = np.sin(np.arange(32000) * 2 * np.pi * 440 / 16000).astype(np.float32) * 0.5
    chunks = np.split(wave, 20)  # 20 chunks of 100 ms
    for i, chunk in enumerate(chunks):
        header = Header(frame_id="mic")
        header.stamp.sec = i
        pub.publish(array_to_audio(chunk, 16000, "F32LE", header=header))
        assert wait_until(lambda: encoder.stats.snapshot().received == i + 1, timeout=10.0)
    # windows end after chunks 10, 15, 20 (1 s of sound, then every 0.5 s)
    received = out.wait_for(3, timeout=20.0)
    assert [m.header.stamp.sec for m in received] == [9, 14, 19]
    with torch.no_grad():
        expected = tiny_model.encode("audio", tiny_model.preprocess("audio", [wave[16000:]]))
    np.testing.assert_allclose(np.asarray(received[-1].shared), expected.shared[0].numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="must not exceed the window"):
        AudioWindow(1.0, 2.0)
