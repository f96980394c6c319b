"""onnxruntime-int8: the int8 graph through the Embedder interface, its calibration checks."""
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

import codebind_core as cb  # noqa: E402
from codebind_core.export import create_embedder  # noqa: E402
from codebind_core.export import ort_int8  # noqa: E402

DEMO = Path(__file__).resolve().parents[2] / "models" / "demo"
MODALITY = "depth"


@pytest.fixture(scope="module")
def model():
    return cb.load(str(DEMO), device="cpu")


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("int8-exports")


@pytest.fixture(scope="module")
def inputs(model):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(24, *model.encoders[MODALITY].expected_shape, generator=gen)


def _cos(a, b):
    return torch.nn.functional.cosine_similarity(a, b, dim=-1)


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_int8_backend_encodes_like_fp32_through_the_embedder_interface(model, export_dir, inputs, mode, tmp_path):
    opts = {"export_dir": export_dir, "threads": 1}
    if mode == "static":
        opts["calibration"] = ort_int8.save_calibration(tmp_path / "cal.safetensors", model, MODALITY,
                                                        inputs[:16], source="random test inputs")
    fp32 = create_embedder(model, MODALITY, "onnxruntime", **opts if mode == "dynamic" else
                           {"export_dir": export_dir, "threads": 1})
    int8 = create_embedder(model, MODALITY, "onnxruntime-int8", mode=mode, **opts)
    assert int8.modality == MODALITY and int8.codebook_set == fp32.codebook_set
    a, b = fp32(inputs), int8(inputs)
    assert b.shared.shape == a.shared.shape and b.codes.shape == a.codes.shape and b.codes.dtype == torch.int64
    # int8 weights and activations: a few per cent of relative error per layer, not a different map
    assert _cos(a.shared, b.shared).min() > 0.9
    assert (a.specific is None) == (b.specific is None)
    assert a.specific is None or _cos(a.specific, b.specific).min() > 0.9
    assert a.codes.shape[1] == 0 or (a.codes == b.codes).float().mean() > 0.5  # ONNX: trained codebooks only
    one = int8(int8.example(1))  # batch 1, as the nodes call it
    assert one.shared.shape == (1, a.shared.shape[1])
    # the VQ product and the heads stay float; the trunk is integer
    graph = onnx.load(str(int8.int8_path))
    ops = {n.name: n.op_type for n in graph.graph.node}
    kept = ort_int8.float_nodes(onnx.load(str(fp32.graph.onnx_path)))
    assert kept and all(ops.get(name, "MatMul") in ("MatMul", "Gemm") for name in kept)
    # the shipped demo (hard alignment) has only its head; a CodeBind model also 2 VQ products and a head
    assert sum(ops.get(name) in ("MatMul", "Gemm") for name in kept) >= (4 if model.quantized else 1)
    integer_ops = {"MatMulInteger", "DynamicQuantizeLinear"} if mode == "dynamic" else {"QuantizeLinear"}
    assert integer_ops & set(ops.values())


def test_quantized_graph_is_cached_and_rebuilt_for_new_calibration(model, export_dir, inputs, tmp_path):
    first = create_embedder(model, MODALITY, "onnxruntime-int8", export_dir=export_dir)
    stamp = first.int8_path.stat().st_mtime_ns
    again = create_embedder(model, MODALITY, "onnxruntime-int8", export_dir=export_dir)
    assert again.int8_path == first.int8_path and again.int8_path.stat().st_mtime_ns == stamp
    paths = set()
    for n in (8, 12):
        cal = ort_int8.save_calibration(tmp_path / f"cal{n}.safetensors", model, MODALITY, inputs[:n])
        paths.add(create_embedder(model, MODALITY, "onnxruntime-int8", mode="static", calibration=cal,
                                  export_dir=export_dir).int8_path)
    assert len(paths) == 2 and first.int8_path not in paths


def test_calibration_of_another_model_or_modality_is_refused(model, export_dir, inputs, tmp_path):
    other = cb.create_model(cb.CodeBindConfig.preset("tiny", targets=[MODALITY])).eval()
    theirs = ort_int8.save_calibration(tmp_path / "other.safetensors", other, MODALITY, inputs[:4])
    with pytest.raises(ValueError, match="made for another model"):
        create_embedder(model, MODALITY, "onnxruntime-int8", mode="static", calibration=theirs,
                        export_dir=export_dir)
    audio = torch.randn(4, *model.encoders["audio"].expected_shape)
    wrong_modality = ort_int8.save_calibration(tmp_path / "audio.safetensors", model, "audio", audio)
    with pytest.raises(ValueError, match="holds 'audio' inputs, not 'depth'"):
        create_embedder(model, MODALITY, "onnxruntime-int8", mode="static", calibration=wrong_modality,
                        export_dir=export_dir)
    not_calibration = tmp_path / "weights.safetensors"
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, str(not_calibration))
    for bad, match in ((not_calibration, "not a calibration file"), (tmp_path / "missing.safetensors", "not found")):
        with pytest.raises(ValueError, match=match):
            ort_int8.load_calibration(bad, model, MODALITY)
    with pytest.raises(ValueError, match="needs calibration"):
        create_embedder(model, MODALITY, "onnxruntime-int8", mode="static", export_dir=export_dir)
    with pytest.raises(ValueError, match="mode must be one of"):
        create_embedder(model, MODALITY, "onnxruntime-int8", mode="int4", export_dir=export_dir)
    ours = ort_int8.load_calibration(ort_int8.save_calibration(tmp_path / "ok.safetensors", model, MODALITY,
                                                               inputs[:4], source="unit test"), model, MODALITY)
    assert ours.source == "unit test" and np.array_equal(ours.inputs.numpy(), inputs[:4].numpy())


def test_leading_blocks_stay_float_and_bring_the_codes_closer(model, export_dir, inputs):
    """``float_blocks``: the first N transformer blocks keep their float MatMuls; each setting is
    its own cached graph; keeping every block float leaves the embedding nearer fp32 than none."""
    fp32 = create_embedder(model, MODALITY, "onnxruntime", export_dir=export_dir, threads=1)
    graph = onnx.load(str(fp32.graph.onnx_path))
    blocks = {ort_int8.block_index(n) for n in graph.graph.node} - {None}
    assert blocks == set(range(len(blocks))) and len(blocks) >= 2  # the tiny depth trunk's blocks
    none, first = ort_int8.float_nodes(graph, 0), ort_int8.float_nodes(graph, 1)
    weights = {i.name for i in graph.graph.initializer}
    added = {n.name: n for n in graph.graph.node if n.name in set(first) - set(none)}
    assert added and all(ort_int8.block_index(n) == 0 for n in added.values())
    assert any(n.input[1] in weights for n in added.values())  # block 0's weight MatMuls
    by_setting = {k: create_embedder(model, MODALITY, "onnxruntime-int8", export_dir=export_dir, threads=1,
                                     float_blocks=k) for k in (0, 1, len(blocks))}
    assert len({e.int8_path for e in by_setting.values()}) == 3
    ops = {k: {n.name: n.op_type for n in onnx.load(str(e.int8_path)).graph.node} for k, e in by_setting.items()}
    assert all(ops[1].get(name) == "MatMul" for name in added)  # left as float MatMul
    assert not any(ops[0].get(name) == "MatMul" and added[name].input[1] in weights for name in added)
    assert "MatMulInteger" in set(ops[1].values())  # the later blocks are still integer
    ref = fp32(inputs).shared
    err = {k: (1 - _cos(ref, e(inputs).shared)).mean().item() for k, e in by_setting.items()}
    assert err[len(blocks)] < err[0], err
    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="float_blocks"):
            create_embedder(model, MODALITY, "onnxruntime-int8", export_dir=export_dir, float_blocks=bad)


def test_a_graph_without_block_names_warns_that_every_block_is_quantized(model, export_dir, tmp_path):
    fp32 = create_embedder(model, MODALITY, "onnxruntime", export_dir=export_dir, threads=1)
    graph = onnx.load(str(fp32.graph.onnx_path))
    for node in graph.graph.node:
        del node.metadata_props[:]  # as a graph from another exporter
    bare = tmp_path / "bare.onnx"
    onnx.save(graph, str(bare))
    assert all(ort_int8.block_index(n) is None for n in graph.graph.node)
    with pytest.warns(UserWarning, match="names no transformer blocks"):
        ort_int8.quantize_graph(bare, tmp_path / "bare.int8.onnx", float_blocks=1)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ort_int8.quantize_graph(bare, tmp_path / "bare0.int8.onnx", float_blocks=0)  # nothing asked, no warning
