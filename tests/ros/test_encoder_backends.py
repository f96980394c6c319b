"""The encoder node on the ONNX Runtime backends, as ``backend:=...`` and ``backend_options`` select
them: a depth frame in, an Embedding out that matches the torch model (fp32 closely, int8 within
quantization error), and bad backend options refused at start-up with the backend's message."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from ros_testing import Collector, make_encoder, wait_for_subscribers, wait_until
from rclpy.node import Node
from sensor_msgs.msg import Image

import codebind_core as cb
from codebind_ros.conversions.image import array_to_image
from codebind_ros.msg import Embedding

pytest.importorskip("onnxruntime")

# backend -> (backend_options, closeness of the shared embedding to torch's: min cosine)
BACKENDS = {
    "onnxruntime": ({}, 0.9999),
    "onnxruntime-int8": ({"mode": "dynamic", "float_blocks": 1}, 0.9),
}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_encoder_node_runs_the_onnx_backends(spin, ros_context, tiny_model, topic, tmp_path, backend):
    extra, min_cos = BACKENDS[backend]
    options = json.dumps({"export_dir": str(tmp_path / "exports"), "threads": 1, **extra})
    encoder = spin.add(make_encoder(tiny_model, "depth", topic, ros_context, backend=backend,
                                    backend_options=options))
    assert type(encoder.embedder).__name__ == ("OnnxRuntimeInt8Embedder" if backend.endswith("int8")
                                               else "OnnxRuntimeEmbedder")
    helper = spin.add(Node(f"helper_{backend.replace('-', '_')}", context=ros_context))
    out = Collector(helper, Embedding, f"{topic}/out")
    pub = helper.create_publisher(Image, f"{topic}/in", 10)
    assert wait_for_subscribers(pub) and wait_until(lambda: encoder.publisher.get_subscription_count() >= 1)
    depth = cb.modalities.get("depth").example(np.random.default_rng(3)).astype(np.float32)
    pub.publish(array_to_image(depth, "32FC1"))
    (emb,) = out.wait_for(1, timeout=30.0)
    with torch.no_grad():
        want = tiny_model.encode("depth", tiny_model.preprocess("depth", [depth]))
    got = torch.tensor(np.asarray(emb.shared, dtype=np.float32))
    assert emb.modality == "depth" and emb.path == want.codebook_set
    assert len(emb.codes) == want.codes.shape[1]
    assert torch.nn.functional.cosine_similarity(got, want.shared[0], dim=0) > min_cos
    if backend == "onnxruntime":  # fp32: same codes as torch
        np.testing.assert_array_equal(np.asarray(emb.codes), want.codes[0].numpy())


@pytest.mark.parametrize("options, match", [
    ({"float_blocks": -1}, "float_blocks must be an integer >= 0"),
    ({"mode": "int4"}, "mode must be one of"),
    ({"mode": "static"}, "needs calibration"),
])
def test_bad_int8_options_are_refused_at_start_up(ros_context, tiny_model, topic, tmp_path, options, match):
    options = json.dumps({"export_dir": str(tmp_path / "exports"), **options})
    with pytest.raises(ValueError, match=match):
        make_encoder(tiny_model, "depth", topic, ros_context, backend="onnxruntime-int8", backend_options=options)
