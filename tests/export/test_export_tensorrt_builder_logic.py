"""The engine builder's own logic (flags, workspace, profile, fp32 pinning, caching), run against a
small recording stand-in of the documented TensorRT Python API.

This checks what codebind asks TensorRT to do; it does NOT verify TensorRT itself (not installable
here): test_engine_build_cache_and_parity in test_export_tensorrt_cache.py does, where it runs.
"""
import sys
import types

import pytest

from codebind_core.export import tensorrt_engine as te
from codebind_core.export.tensorrt_engine import TensorRTConfig


class _Recorder:
    """Stand-in for the parts of the ``tensorrt`` module the builder uses; records every call."""

    def __init__(self, version="10.3.0", parse_ok=True, layer_names=(), strongly_typed=True):
        self.calls = []
        rec = self
        self.__version__ = version
        self.float32, self.float16 = "float32", "float16"
        flags = {"EXPLICIT_BATCH": 0}
        if strongly_typed:
            flags["STRONGLY_TYPED"] = 1
        self.NetworkDefinitionCreationFlag = types.SimpleNamespace(**flags)
        self.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
        self.BuilderFlag = types.SimpleNamespace(FP16="FP16", OBEY_PRECISION_CONSTRAINTS="OBEY")

        class Logger:
            WARNING = "WARNING"

            def __init__(self, level):
                rec.calls.append(("logger", level))

        class Output:
            dtype = "float32"

        class Layer:
            def __init__(self, name):
                self.name, self.num_outputs, self.precision, self.out_types = name, 1, None, {}

            def get_output(self, i):
                return Output()

            def set_output_type(self, i, dtype):
                self.out_types[i] = dtype

        class Network:
            def __init__(self, flags):
                self.flags, self.layers = flags, [Layer(n) for n in layer_names]
                rec.network = self

            @property
            def num_layers(self):
                return len(self.layers)

            def get_layer(self, i):
                return self.layers[i]

        class Parser:
            num_errors = 0 if parse_ok else 1

            def __init__(self, network, logger):
                pass

            def parse_from_file(self, path):
                rec.calls.append(("parse", path))
                return parse_ok

            def get_error(self, i):
                return "Unsupported ONNX op Foo"

        class Profile:
            def set_shape(self, name, lo, opt, hi):
                rec.calls.append(("profile", name, lo, opt, hi))

        class Config:
            def set_memory_pool_limit(self, pool, size):
                rec.calls.append(("workspace", pool, size))

            def set_flag(self, flag):
                rec.calls.append(("flag", flag))

            def add_optimization_profile(self, profile):
                rec.calls.append(("add_profile",))

        class Builder:
            def __init__(self, logger):
                pass

            def create_network(self, flags):
                rec.calls.append(("network", flags))
                return Network(flags)

            def create_builder_config(self):
                return Config()

            def create_optimization_profile(self):
                return Profile()

            def build_serialized_network(self, network, config):
                rec.calls.append(("build",))
                return b"engine-bytes"

        self.Logger, self.Builder, self.OnnxParser = Logger, Builder, Parser

    def flags(self):
        return [c[1] for c in self.calls if c[0] == "flag"]


@pytest.fixture
def fake_trt(monkeypatch):
    def install(**kwargs):
        rec = _Recorder(**kwargs)
        monkeypatch.setitem(sys.modules, "tensorrt", rec)
        monkeypatch.setattr(te, "gpu_name", lambda device=0: "Stand-in GPU")
        return rec
    return install


def _copy(graph, tmp_path):
    import shutil

    for f in (graph.onnx_path, graph.manifest_path):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / graph.onnx_path.name


def test_fp32_graph_with_fp16_flag_pins_the_vq(exported, tmp_path, fake_trt):
    onnx = _copy(exported["depth", "fp32"], tmp_path)
    vq = sorted(te.vq_node_names(onnx))
    rec = fake_trt(layer_names=["node_conv2d", *vq])
    cfg = TensorRTConfig(fp16=True, workspace_bytes=256 << 20, min_batch=1, opt_batch=4, max_batch=16)
    path, built = te.load_or_build_engine(onnx, cfg)
    assert built and path.read_bytes() == b"engine-bytes"
    assert ("workspace", "WORKSPACE", 256 << 20) in rec.calls
    assert ("profile", "input", (1, 1, 64, 64), (4, 1, 64, 64), (16, 1, 64, 64)) in rec.calls
    assert rec.flags() == ["FP16", "OBEY"]
    assert ("network", 0) in rec.calls  # TensorRT 10: explicit batch is implicit, no flag
    pinned = [layer for layer in rec.network.layers if layer.precision == "float32"]
    assert [layer.name for layer in pinned] == vq and all(layer.out_types == {0: "float32"} for layer in pinned)
    assert rec.network.layers[0].precision is None  # the trunk keeps fp16 freedom
    # cached: the second call builds nothing
    n_builds = sum(c == ("build",) for c in rec.calls)
    assert te.load_or_build_engine(onnx, cfg) == (path, False)
    assert sum(c == ("build",) for c in rec.calls) == n_builds
    # forced, or another TensorRT version: rebuilt
    assert te.load_or_build_engine(onnx, TensorRTConfig(fp16=True, workspace_bytes=256 << 20, opt_batch=4,
                                                        max_batch=16, force_rebuild=True))[1]
    fake_trt(version="10.4.0")
    assert te.load_or_build_engine(onnx, cfg)[1]


def test_fp16_graph_is_built_strongly_typed(exported, tmp_path, fake_trt):
    onnx = _copy(exported["audio", "fp16"], tmp_path)
    rec = fake_trt()
    te.load_or_build_engine(onnx, TensorRTConfig(fp16=True, max_batch=8, opt_batch=2, clips=(1, 3, 4)))
    assert ("network", 1 << 1) in rec.calls  # STRONGLY_TYPED (= 1) bit
    assert "FP16" not in rec.flags()
    assert ("profile", "input", (1, 1, 1, 128, 204), (2, 3, 1, 128, 204), (8, 4, 1, 128, 204)) in rec.calls


def test_tensorrt_8_gets_explicit_batch_and_fp16_graphs_need_strong_typing(exported, tmp_path, fake_trt):
    onnx = _copy(exported["depth", "fp32"], tmp_path)
    rec = fake_trt(version="8.6.1", strongly_typed=False)
    te.load_or_build_engine(onnx, TensorRTConfig(fp16=False, max_batch=8))
    assert ("network", 1 << 0) in rec.calls and rec.flags() == []
    onnx16 = _copy(exported["depth", "fp16"], tmp_path)
    with pytest.raises(te.TensorRTUnavailable, match="strongly typed"):
        te.load_or_build_engine(onnx16, TensorRTConfig(max_batch=8))


def test_parser_errors_are_reported(exported, tmp_path, fake_trt):
    onnx = _copy(exported["depth", "fp32"], tmp_path)
    fake_trt(parse_ok=False)
    with pytest.raises(ValueError, match="Unsupported ONNX op Foo"):
        te.load_or_build_engine(onnx, TensorRTConfig(max_batch=8))
    assert not list(tmp_path.glob("*.engine"))
