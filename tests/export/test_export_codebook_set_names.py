"""The export layer names the codebook set (§3.4) ``codebook_set``: manifests written before the
rename (``path``) still load; the old keyword, attribute and CLI names are gone."""
import json
import os
import shutil

import pytest
import torch

from codebind_core.export import (ExportedGraph, Manifest, OnnxExportConfig, OnnxRuntimeEmbedder, create_embedder,
                                  ensure_exported, export_onnx)
from codebind_core.export.artifact import FORMAT_VERSION, model_fingerprint
from codebind_core.export.cli import main
from codebind_core.export.onnx_graphs import EncoderGraph


def _old_manifest(new: dict) -> dict:
    """A manifest as codebind wrote it before the rename (format_version 1, the set under "path"),
    spelled out key by key; the values that identify the graph come from a current export."""
    return {
        "modality": new["modality"], "path": new["codebook_set"], "precision": new["precision"],
        "opset": new["opset"], "input_name": new["input_name"], "input_shape": new["input_shape"],
        "input_dtype": new["input_dtype"], "clip_axis": new["clip_axis"], "outputs": new["outputs"],
        "embed_dim": new["embed_dim"], "specific_dim": new["specific_dim"], "sub_dim": new["sub_dim"],
        "codebook_sizes": new["codebook_sizes"], "onnx_file": new["onnx_file"],
        "onnx_sha256": new["onnx_sha256"], "codebooks_file": new["codebooks_file"],
        "model_name": new["model_name"], "model_fingerprint": new["model_fingerprint"],
        "max_batch": new["max_batch"], "torch_version": new["torch_version"], "format": "codebind-onnx",
        "format_version": 1, "extra": new["extra"],
    }


def _copy_with_old_manifest(g: ExportedGraph, out_dir) -> ExportedGraph:
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(g.onnx_path, out_dir / g.onnx_path.name)
    shutil.copy(g.codebooks_path, out_dir / g.codebooks_path.name)
    old = _old_manifest(json.loads(g.manifest_path.read_text()))
    (out_dir / g.manifest_path.name).write_text(json.dumps(old, indent=2, sort_keys=True))
    return ExportedGraph.from_onnx(out_dir / g.onnx_path.name)


def test_new_manifests_name_the_codebook_set(exported, tiny_model):
    data = json.loads(exported["depth", "fp32"].manifest_path.read_text())
    assert data["codebook_set"] == "depth" and "path" not in data
    assert data["format_version"] == FORMAT_VERSION == 2


def test_a_manifest_written_before_the_rename_still_loads_and_runs(exported, tiny_model, tmp_path):
    g = _copy_with_old_manifest(exported["text", "fp32"], tmp_path / "old")
    assert "path" in json.loads(g.manifest_path.read_text())
    assert g.manifest.codebook_set == tiny_model.config.codebook_set_for("text") == "video"
    assert g.manifest.format_version == 1 and g.is_current()
    e = OnnxRuntimeEmbedder(tiny_model, "text", onnx_path=g.onnx_path, codebook_set="video")
    out = e(["a red mug", "a chair"])
    assert e.codebook_set == out.codebook_set == "video"
    with torch.no_grad():
        ref = tiny_model.encode_text(["a red mug", "a chair"])
    assert torch.equal(out.codes, ref.codes)
    with pytest.raises(ValueError, match="codebooks"):
        OnnxRuntimeEmbedder(tiny_model, "text", onnx_path=g.onnx_path, codebook_set="depth")


def test_an_old_manifest_in_the_export_cache_is_reused(exported, tiny_model, tmp_path):
    cache = tmp_path / "cache"
    g = _copy_with_old_manifest(exported["depth", "fp32"], cache / model_fingerprint(tiny_model)[:16])
    stamp = os.stat(g.onnx_path).st_mtime_ns
    found = ensure_exported(tiny_model, "depth", cache, OnnxExportConfig())
    assert found.onnx_path == g.onnx_path and os.stat(g.onnx_path).st_mtime_ns == stamp  # not re-exported
    assert found.manifest.codebook_set == "depth"


def test_a_manifest_with_both_names_is_refused(exported, tmp_path):
    data = json.loads(exported["depth", "fp32"].manifest_path.read_text())
    data["path"] = data["codebook_set"]
    (tmp_path / "m.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="both 'codebook_set' and its old name 'path'"):
        Manifest.load(tmp_path / "m.json")


def test_the_old_name_is_gone_from_the_api(exported, tiny_model, tmp_path, capsys):
    """No alias of ``codebook_set`` is left: keywords, attributes and the CLI option are refused."""
    g = exported["text", "fp32"]
    e = create_embedder(tiny_model, "text", "onnxruntime", onnx_path=g.onnx_path)
    graph = EncoderGraph(tiny_model, "text", "audio")
    for obj in (g.manifest, e, create_embedder(tiny_model, "text", "torch"), graph, graph.spec(tiny_model)):
        assert not hasattr(obj, "path"), type(obj).__name__
    fields = json.loads(g.manifest_path.read_text())
    for call in (lambda: export_onnx(tiny_model, "text", tmp_path, path="audio"),
                 lambda: ensure_exported(tiny_model, "text", tmp_path, path="audio"),
                 lambda: create_embedder(tiny_model, "text", "onnxruntime", onnx_path=g.onnx_path, path="video"),
                 lambda: OnnxRuntimeEmbedder(tiny_model, "text", onnx_path=g.onnx_path, path="video"),
                 lambda: create_embedder(tiny_model, "text", "torch", path="audio"),
                 lambda: EncoderGraph(tiny_model, "text", path="audio"),
                 lambda: Manifest(**{"path" if k == "codebook_set" else k: v for k, v in fields.items()})):
        with pytest.raises(TypeError, match="path"):
            call()
    assert not any(tmp_path.iterdir())
    with pytest.raises(SystemExit) as exit_:
        main(["--preset", "tiny", "--out", str(tmp_path / "p"), "--modalities", "text", "--path", "depth"])
    assert exit_.value.code == 2 and "unrecognized arguments: --path" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_cli_codebook_set(tmp_path):
    out = tmp_path / "o"
    rc = main(["--preset", "tiny", "--targets", "depth", "thermal", "--out", str(out), "--modalities", "text",
               "--precision", "fp32", "--codebook-set", "thermal"])
    assert rc == 0
    assert json.loads((out / "text-thermal.fp32.json").read_text())["codebook_set"] == "thermal"
