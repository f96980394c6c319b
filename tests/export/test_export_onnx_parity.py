"""ONNX export: every modality's graph in ONNX Runtime matches the torch model (CPU)."""
import json

import numpy as np
import onnx
import pytest
import torch

from codebind_core.config import ALL_MODALITIES
from codebind_core.export import decode_codes, load_codebooks
from codebind_core.export.verify import (FP16_MIN_CODE_AGREEMENT, FP16_MIN_MEAN_COSINE, FP32_MAX_ABS,
                                         check_parity)


@pytest.mark.parametrize("modality", ALL_MODALITIES)
def test_fp32_graph_matches_torch_with_identical_codes(tiny_model, exported, modality):
    # Batches 1 and 3 while the graph was traced at 2: the batch axis is really dynamic.
    report = check_parity(tiny_model, exported[modality, "fp32"], batch_sizes=(1, 3, 5))
    assert report.max_abs_shared <= FP32_MAX_ABS
    if modality != "text":
        assert report.max_abs_specific is not None and report.max_abs_specific <= FP32_MAX_ABS
    assert report.code_agreement == 1.0
    assert report.mean_cosine > 1 - 1e-5
    assert report.passed


@pytest.mark.parametrize("modality", ALL_MODALITIES)
def test_fp16_graph_within_stated_bound(tiny_model, exported, modality):
    report = check_parity(tiny_model, exported[modality, "fp16"], batch_sizes=(32,), seed=7)
    assert report.code_agreement >= FP16_MIN_CODE_AGREEMENT, report.line()
    assert report.mean_cosine >= FP16_MIN_MEAN_COSINE, report.line()


@pytest.mark.parametrize("modality", ["text", "depth", "audio"])
def test_graph_io_contract(exported, tiny_model, modality):
    g = exported[modality, "fp32"]
    model = onnx.load(str(g.onnx_path))
    assert model.opset_import[0].version >= 17
    inp = model.graph.input[0]
    dims = inp.type.tensor_type.shape.dim
    assert inp.name == g.manifest.input_name == "input"
    assert dims[0].dim_param and not dims[0].HasField("dim_value")  # dynamic batch
    assert [o.name for o in model.graph.output] == list(g.manifest.outputs)
    want = ["shared", "codes"] if modality == "text" else ["shared", "specific", "codes", "specific_codes"]
    assert list(g.manifest.outputs) == want
    assert g.manifest.clip_axis == (modality == "audio")
    if modality == "audio":  # (B, clips, 1, mel, frames) with the clip axis dynamic too
        assert dims[1].dim_param
    assert g.is_current()


def test_fp16_graph_holds_half_weights_and_float32_codebook(exported):
    g = exported["depth", "fp16"]
    model = onnx.load(str(g.onnx_path))
    types = {init.name: init.data_type for init in model.graph.initializer}
    halves = [n for n, t in types.items() if t == onnx.TensorProto.FLOAT16]
    assert len(halves) >= 10  # the trunk's weights
    books = [n for n in types if "codebook" in n]
    assert books and all(types[n] == onnx.TensorProto.FLOAT for n in books)
    fp32_size, fp16_size = exported["depth", "fp32"].onnx_path.stat().st_size, g.onnx_path.stat().st_size
    assert fp16_size < 0.7 * fp32_size


@pytest.mark.parametrize("modality", ["image", "eeg"])
def test_codebooks_as_plain_arrays_rebuild_the_graph_output(tiny_model, exported, modality):
    g = exported[modality, "fp32"]
    books = load_codebooks(g.codebooks_path)
    set_books = tiny_model.codebooks[g.manifest.codebook_set]
    assert torch.equal(books["shared"], set_books["shared"].codebook)
    assert torch.equal(books["specific"], set_books[modality].codebook)
    assert g.manifest.codebook_sizes == {"shared": 256, "specific": 64}
    from codebind_core.export import create_embedder

    emb = create_embedder(tiny_model, modality, "onnxruntime", onnx_path=g.onnx_path)(
        create_embedder(tiny_model, modality, "torch").example(4))
    # codes alone + the arrays give back the quantized embeddings the graph outputs (§3.3).
    assert torch.allclose(decode_codes(emb.codes, books["shared"]), emb.shared, atol=1e-6)
    assert torch.allclose(decode_codes(emb.specific_codes, books["specific"]), emb.specific, atol=1e-6)


def test_manifest_records_what_a_runtime_needs(exported, tiny_model):
    g = exported["audio", "fp16"]
    data = json.loads(g.manifest_path.read_text())
    assert data["modality"] == "audio" and data["precision"] == "fp16" and data["codebook_set"] == "audio"
    assert data["input_shape"] == [1, 1, 128, 204] and data["input_dtype"] == "float32"
    assert data["embed_dim"] == 64 and data["sub_dim"] == 8
    assert data["onnx_sha256"] and len(data["model_fingerprint"]) == 64
    text = exported["text", "fp32"].manifest
    assert text.input_dtype == "int64" and text.input_shape == (77,) and text.specific_dim is None
    assert text.codebook_set == tiny_model.config.codebook_set_for("text")


def test_export_leaves_the_model_untouched(tiny_model, exported):
    assert exported["tactile", "fp16"].onnx_path.is_file()  # the fp16 export halves a copy of the trunk
    assert all(p.dtype == torch.float32 for p in tiny_model.parameters())
    assert tiny_model.training is False


def test_graph_outputs_are_finite_and_unit_norm(tiny_model, exported):
    from codebind_core.export import create_embedder

    for modality in ("video", "pointcloud"):
        emb = create_embedder(tiny_model, modality, "onnxruntime", onnx_path=exported[modality, "fp32"].onnx_path)(
            create_embedder(tiny_model, modality, "torch").example(2))
        for t in (emb.shared, emb.specific):
            assert np.isfinite(t.numpy()).all()
            assert torch.allclose(t.norm(dim=-1), torch.ones(2), atol=1e-5)
