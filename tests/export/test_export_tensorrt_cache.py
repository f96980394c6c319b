"""TensorRT engine cache: keys, engine paths, staleness and profile shapes (no TensorRT needed).

Building and running engines needs TensorRT and a CUDA GPU; those tests skip here with the reason.
"""
import dataclasses
import json

import pytest
import torch

from codebind_core.export import create_embedder, tensorrt_available
from codebind_core.export.artifact import ExportedGraph
from codebind_core.export.tensorrt_engine import (EngineKey, TensorRTConfig, TensorRTUnavailable,
                                                  engine_path_for, is_stale, load_or_build_engine,
                                                  profile_shapes, sidecar_path, vq_node_names,
                                                  write_engine)

HAS_TRT_GPU = tensorrt_available() and torch.cuda.is_available()
NO_TRT = "TensorRT and a CUDA GPU are not available on this machine (engine build/run unverified here)"


def _key(onnx="a" * 64, version="10.3.0", gpu="NVIDIA H100", **cfg):
    return EngineKey.create(onnx, version, gpu, TensorRTConfig(**cfg))


def test_key_changes_with_every_ingredient():
    base = _key()
    assert base.digest == _key().digest  # deterministic
    variants = [_key(onnx="b" * 64), _key(version="10.4.0"), _key(gpu="NVIDIA Jetson Orin"),
                _key(fp16=False), _key(workspace_bytes=2 << 30), _key(max_batch=32), _key(opt_batch=4),
                _key(clips=(1, 2, 8))]
    digests = {v.digest for v in variants}
    assert base.digest not in digests and len(digests) == len(variants)
    # Where the engine goes and whether a rebuild is forced do not change what is built.
    assert _key(engine_path="/x.engine").digest == _key(force_rebuild=True).digest == base.digest


def test_engine_path_next_to_onnx_or_explicit(tmp_path):
    key = _key()
    onnx = tmp_path / "depth.fp32.onnx"
    assert engine_path_for(onnx, key, TensorRTConfig()) == tmp_path / f"depth.fp32.{key.digest[:16]}.engine"
    assert engine_path_for(onnx, key, TensorRTConfig(engine_path=str(tmp_path / "e.plan"))) == tmp_path / "e.plan"


def test_staleness(tmp_path):
    key = _key()
    engine = tmp_path / "depth.engine"
    assert is_stale(engine, key) == "no engine file"
    engine.write_bytes(b"serialized")
    assert "no sidecar" in is_stale(engine, key)
    write_engine(engine, b"serialized engine", key)
    assert is_stale(engine, key) is None
    side = json.loads(sidecar_path(engine).read_text())
    assert side["digest"] == key.digest and side["tensorrt_version"] == "10.3.0"
    assert "tensorrt_version" in is_stale(engine, _key(version="10.5.0"))
    assert "gpu_name" in is_stale(engine, _key(gpu="NVIDIA L4"))
    assert "onnx_sha256" in is_stale(engine, _key(onnx="c" * 64))
    assert "options" in is_stale(engine, _key(fp16=False))
    engine.write_bytes(b"truncated")  # same key, other bytes
    assert "changed" in is_stale(engine, key)
    sidecar_path(engine).write_text("{not json")
    assert is_stale(engine, key) == "unreadable sidecar"


def test_profile_shapes(exported):
    cfg = TensorRTConfig(min_batch=1, opt_batch=8, max_batch=32, clips=(1, 3, 6))
    lo, opt, hi = profile_shapes(exported["depth", "fp32"].manifest, cfg)
    assert (lo, opt, hi) == ((1, 1, 64, 64), (8, 1, 64, 64), (32, 1, 64, 64))
    lo, opt, hi = profile_shapes(exported["audio", "fp32"].manifest, cfg)
    assert (lo, opt, hi) == ((1, 1, 1, 128, 204), (8, 3, 1, 128, 204), (32, 6, 1, 128, 204))
    assert profile_shapes(exported["text", "fp32"].manifest, cfg)[2] == (32, 77)
    with pytest.raises(ValueError, match="exported max batch"):
        profile_shapes(exported["depth", "fp32"].manifest, TensorRTConfig(max_batch=4096))


@pytest.mark.parametrize("kwargs,match", [
    (dict(min_batch=0), "min_batch"), (dict(opt_batch=100, max_batch=64), "opt_batch"),
    (dict(clips=(2, 1, 3)), "clips"), (dict(workspace_bytes=1024), "workspace"), (dict(device=-1), "device"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TensorRTConfig(**kwargs)


def test_vq_layers_are_identified_for_fp32_pinning(exported):
    names = vq_node_names(exported["depth", "fp32"].onnx_path)
    import onnx

    graph = onnx.load(str(exported["depth", "fp32"].onnx_path)).graph
    ops = {n.op_type for n in graph.node if n.name in names}
    assert {"MatMul", "ArgMax", "Gather"} <= ops  # the codebook scores, the codes, the codevectors
    assert sum(n.op_type == "ArgMax" for n in graph.node if n.name in names) == 2  # shared + specific
    # and nothing of the trunk: no attention softmax, no layer norm
    assert not ops & {"Softmax", "LayerNormalization"}


@pytest.mark.skipif(HAS_TRT_GPU, reason="TensorRT is installed: the unavailable path does not apply")
def test_clear_error_without_tensorrt(exported, tiny_model):
    with pytest.raises(TensorRTUnavailable, match="TensorRT"):
        load_or_build_engine(exported["depth", "fp32"].onnx_path)
    for backend in ("tensorrt", "torch_tensorrt"):
        with pytest.raises(TensorRTUnavailable):
            create_embedder(tiny_model, "depth", backend)


@pytest.mark.skipif(not HAS_TRT_GPU, reason=NO_TRT)
def test_engine_build_cache_and_parity(exported, tiny_model, tmp_path):  # pragma: no cover - GPU only
    import shutil

    src = exported["depth", "fp32"]
    for f in (src.onnx_path, src.manifest_path, src.codebooks_path):
        shutil.copy(f, tmp_path / f.name)
    onnx = tmp_path / src.onnx_path.name
    cfg = TensorRTConfig(fp16=False, max_batch=8, opt_batch=2)
    path, built = load_or_build_engine(onnx, cfg)
    assert built and path.is_file()
    assert load_or_build_engine(onnx, cfg) == (path, False)
    assert load_or_build_engine(onnx, dataclasses.replace(cfg, force_rebuild=True))[1]
    emb = create_embedder(tiny_model, "depth", "tensorrt", onnx_path=onnx, fp16=False, max_batch=8, opt_batch=2)
    x = torch.randn(3, 1, 64, 64)
    ref = tiny_model.encode("depth", x)
    got = emb(x)
    assert torch.equal(got.codes.cpu(), ref.codes)
    assert (got.shared.cpu() - ref.shared).abs().max() < 1e-3


def test_exported_graph_detects_edited_onnx(exported, tmp_path):
    import shutil

    src = exported["thermal", "fp32"]
    for f in (src.onnx_path, src.manifest_path):
        shutil.copy(f, tmp_path / f.name)
    g = ExportedGraph.from_onnx(tmp_path / src.onnx_path.name)
    assert g.is_current()
    with open(g.onnx_path, "ab") as f:
        f.write(b"\0")
    assert not g.is_current()


def test_device_strings_as_the_ros_node_passes_them(tiny_model):
    from codebind_core.export.ort_backend import providers_for
    from codebind_core.export.trt_backend import cuda_index

    assert [cuda_index(d) for d in ("cuda", "cuda:2", 3)] == [0, 2, 3]
    for bad in ("cpu", "cuda:x", -1, "gpu"):
        with pytest.raises(ValueError, match="CUDA device"):
            cuda_index(bad)
    with pytest.raises(ValueError, match="CUDA device"):  # before any TensorRT import
        create_embedder(tiny_model, "depth", "tensorrt", device="cpu")
    assert providers_for("cpu") == ["CPUExecutionProvider"]
    assert providers_for("cuda:1") == [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    with pytest.raises(ValueError, match="device must be"):
        providers_for("cuda:")
