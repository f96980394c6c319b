"""Runtime backends: one Embedder interface, the same Embedding from torch and ONNX Runtime."""
import os

import pytest
import torch

import codebind_core as cb
from codebind_core.export import BACKENDS, OnnxRuntimeEmbedder, create_embedder, ensure_exported
from codebind_core.export.onnx_export import OnnxExportConfig


def _same(a, b, atol=1e-4):
    assert (a.modality, a.codebook_set) == (b.modality, b.codebook_set)
    assert a.shared.shape == b.shared.shape and a.shared.dtype == b.shared.dtype == torch.float32
    assert (a.shared - b.shared).abs().max() <= atol
    assert torch.equal(a.codes, b.codes) and a.codes.dtype == torch.int64
    assert (a.specific is None) == (b.specific is None)
    if a.specific is not None:
        assert (a.specific - b.specific).abs().max() <= atol
        assert torch.equal(a.specific_codes, b.specific_codes)


def test_backends_registered():
    assert {"torch", "onnxruntime", "tensorrt", "torch_tensorrt"} <= set(BACKENDS)
    with pytest.raises(ValueError, match="unknown backend"):
        create_embedder(None, "depth", "openvino")


@pytest.mark.parametrize("modality", ["text", "depth", "audio"])
def test_onnxruntime_and_torch_return_the_same_structure(tiny_model, exported, modality):
    ort_e = create_embedder(tiny_model, modality, "onnxruntime", onnx_path=exported[modality, "fp32"].onnx_path)
    torch_e = create_embedder(tiny_model, modality, "torch")
    ort_e.warmup(2)
    batch = torch_e.example(3)
    _same(ort_e(batch), torch_e(batch))
    assert ort_e.codebook_set == torch_e.codebook_set


def test_audio_accepts_one_or_many_clips(tiny_model, exported):
    ort_e = create_embedder(tiny_model, "audio", "onnxruntime", onnx_path=exported["audio", "fp32"].onnx_path)
    torch_e = create_embedder(tiny_model, "audio", "torch")
    three = torch.randn(2, 3, 1, 128, 204)  # (B, clips, 1, mel, frames): clips averaged
    _same(ort_e(three), torch_e(three))
    one = torch.randn(2, 1, 128, 204)
    _same(ort_e(one), torch_e(one))


def test_core_speaks_image_and_names_it_for_the_ros_camera(tiny_model, exported):
    e = create_embedder(tiny_model, "image", "onnxruntime", onnx_path=exported["image", "fp32"].onnx_path)
    assert e.modality == "image"
    assert e(torch.randn(1, 3, 64, 64)).modality == "image"
    # the ROS sensor table maps camera -> image, not the core
    hint = "'camera' is the ROS sensor name; the core modality is 'image'"
    with pytest.raises(ValueError, match=hint):
        create_embedder(tiny_model, "camera", "onnxruntime", onnx_path=exported["image", "fp32"].onnx_path)
    with pytest.raises(ValueError, match=hint):
        create_embedder(tiny_model, "camera", "torch")


def test_bad_input_gets_a_clear_error(tiny_model, exported):
    depth = create_embedder(tiny_model, "depth", "onnxruntime", onnx_path=exported["depth", "fp32"].onnx_path)
    cases = [
        (torch.randn(2, 1, 32, 32), "shape"),
        (torch.full((1, 1, 64, 64), float("nan")), "NaN"),
        (torch.zeros(0, 1, 64, 64), "empty"),
        (torch.zeros(2, 1, 64, 64, dtype=torch.int32), "floating"),
        ("a depth image", "tensor"),
        (torch.zeros(1025, 1, 64, 64), "max batch"),
    ]
    for batch, match in cases:
        with pytest.raises(ValueError, match=match):
            depth(batch)
    text = create_embedder(tiny_model, "text", "onnxruntime", onnx_path=exported["text", "fp32"].onnx_path)
    for batch, match in (([], "non-empty"), (["ok", 3], "strings"), (torch.zeros(2, 5, dtype=torch.long), "length")):
        with pytest.raises(ValueError, match=match):
            text(batch)
    tokens = tiny_model.tokenize(["a mug"])  # token ids work as well as strings
    assert torch.equal(text(tokens).codes, text(["a mug"]).codes)


def test_onnx_path_must_fit_modality_and_weights(tiny_model, exported):
    with pytest.raises(ValueError, match="encodes 'depth'"):
        create_embedder(tiny_model, "thermal", "onnxruntime", onnx_path=exported["depth", "fp32"].onnx_path)
    torch.manual_seed(1)
    other = cb.create_model(tiny_model.config).eval()  # same architecture, other weights
    with pytest.raises(ValueError, match="different weights"):
        create_embedder(other, "depth", "onnxruntime", onnx_path=exported["depth", "fp32"].onnx_path)
    with pytest.raises(ValueError, match="not found"):
        create_embedder(tiny_model, "depth", "onnxruntime", onnx_path="/nonexistent/depth.onnx")
    text = exported["text", "fp32"]  # bridges quantize with the first target's codebooks by default
    assert text.manifest.codebook_set == tiny_model.config.targets[0] != "depth"
    with pytest.raises(ValueError, match="codebooks"):
        create_embedder(tiny_model, "text", "onnxruntime", onnx_path=text.onnx_path, codebook_set="depth")


def test_export_on_demand_is_cached_and_refreshed(tmp_path):
    torch.manual_seed(0)
    model = cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["thermal"])).eval()
    a = create_embedder(model, "thermal", "onnxruntime", export_dir=tmp_path, specific=False)
    first = a.graph.onnx_path
    stamp = os.stat(first).st_mtime_ns
    b = create_embedder(model, "thermal", "onnxruntime", export_dir=tmp_path, specific=False)
    assert b.graph.onnx_path == first and os.stat(first).st_mtime_ns == stamp  # reused, not re-exported
    out = b(torch.randn(2, 1, 64, 64))
    assert out.specific is None and out.specific_codes is None and out.codes.shape == (2, 8)
    with torch.no_grad():  # new weights -> a new fingerprint -> a fresh export
        model.heads["thermal"].shared.weight.mul_(-1)
    c = create_embedder(model, "thermal", "onnxruntime", export_dir=tmp_path, specific=False)
    assert c.graph.onnx_path != first
    x = torch.randn(2, 1, 64, 64)
    assert torch.equal(c(x).codes, model.encode("thermal", x, specific=False).codes)


def test_unquantized_model_exports_without_codes(tmp_path):
    torch.manual_seed(0)
    cfg = cb.CodeBindConfig.preset("tiny", targets=["eeg"], decouple=False)
    model = cb.create_model(cfg).eval()
    g = ensure_exported(model, "eeg", tmp_path, OnnxExportConfig())
    assert g.manifest.outputs == ("shared",) and g.codebooks_path is None
    e = OnnxRuntimeEmbedder(model, "eeg", onnx_path=g.onnx_path)
    x = torch.randn(3, 16, 256)
    _same(e(x), create_embedder(model, "eeg", "torch")(x))


def test_fp16_graph_runs_through_the_same_interface(tiny_model, exported):
    e = create_embedder(tiny_model, "tactile", "onnxruntime", onnx_path=exported["tactile", "fp16"].onnx_path)
    out = e(torch.randn(4, 3, 64, 64))
    assert out.shared.dtype == torch.float32 and out.codes.dtype == torch.int64
    assert torch.allclose(out.shared.norm(dim=-1), torch.ones(4), atol=1e-5)


def test_ort_options_are_validated(tiny_model, exported):
    path = exported["depth", "fp32"].onnx_path
    with pytest.raises(ValueError, match="optimization"):
        create_embedder(tiny_model, "depth", "onnxruntime", onnx_path=path, optimization="max")
    with pytest.raises(ValueError, match="device"):
        create_embedder(tiny_model, "depth", "onnxruntime", onnx_path=path, device="tpu")
    with pytest.raises(ValueError, match="threads"):
        create_embedder(tiny_model, "depth", "onnxruntime", onnx_path=path, threads=0)
    with pytest.raises(ValueError, match="CUDAExecutionProvider"):
        if "CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers():
            pytest.skip("onnxruntime-gpu is installed here")
        create_embedder(tiny_model, "depth", "onnxruntime", onnx_path=path, device="cuda")


def test_external_weights_file_travels_with_the_graph(tmp_path):
    # What graphs over protobuf's 2 GB get (ImageBind-huge trunks), forced here on a tiny model.
    torch.manual_seed(0)
    model = cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["depth"])).eval()
    g = ensure_exported(model, "depth", tmp_path, OnnxExportConfig(external_data=True))
    data = g.onnx_path.with_name(g.onnx_path.name + ".data")
    assert data.is_file() and data.stat().st_size > g.onnx_path.stat().st_size
    assert not list(g.onnx_path.parent.glob(".export-*"))  # scratch folder cleaned up
    x = torch.randn(2, 1, 64, 64)
    _same(OnnxRuntimeEmbedder(model, "depth", onnx_path=g.onnx_path)(x), model.encode("depth", x))
    assert g.is_current()
    with open(data, "r+b") as f:  # the weights are part of the graph's identity
        f.write(b"\1\2\3\4")
    assert not g.is_current()
