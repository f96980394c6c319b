"""ONNX export of one modality: encoder + heads + compositional VQ, dynamic batch axis.

Uses the ``torch.export`` based ONNX exporter (opset >= 18, default 20). The fp16 variant runs trunk
and heads in float16 and quantizes in float32 (:class:`EncoderGraph` with ``half=True``); inputs and
outputs stay float32 / int64 in both variants so one runtime feeds either. The codebooks are inside
the graph (codes and quantized vectors are outputs) and written apart as plain arrays.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import torch

from .artifact import (INPUT_NAME, PRECISIONS, ExportedGraph, Manifest, external_data_path,
                       graph_sha256, model_fingerprint, save_codebooks, stem_for)
from ..config_base import Config
from ..inference import check_modalities, check_modality
from .onnx_graphs import EncoderGraph, input_shape
from ..modalities import model_options

MIN_OPSET = 18  # the torch.export-based exporter's lowest opset
DEFAULT_OPSET = 20  # opset 20 has a Gelu op: ~15% faster in ONNX Runtime than the Erf form


@dataclass
class OnnxExportConfig(Config):
    """Options of :func:`export_onnx`.

    Attributes:
        precision: "fp32" or "fp16" (trunk + heads in half, VQ in float32).
        opset: ONNX opset (>= 18; default 20, whose Gelu op ONNX Runtime runs faster; a TensorRT
            parser without opset 20 needs 18).
        specific: export the specific part too (§3.4: optional at inference).
        max_batch: upper bound of the dynamic batch axis.
        merge_lora: fold LoRA adapters into the trunk weights before export.
        optimize: run the exporter's graph optimisation (constant folding, dead code removal).
        external_data: weights in a ``<name>.onnx.data`` file next to the graph: None = only when
            the graph would exceed protobuf's 2 GB (e.g. ImageBind-huge trunks).
    """

    precision: str = "fp32"
    opset: int = DEFAULT_OPSET
    specific: bool = True
    max_batch: int = 1024
    merge_lora: bool = True
    optimize: bool = True
    external_data: Optional[bool] = None

    def validate(self) -> None:
        super().validate()
        self.check_choice("precision", PRECISIONS)
        self.check_range("opset", MIN_OPSET, 1000, integer=True)
        self.check_range("max_batch", 2, 1 << 31, integer=True)


def example_input(model, modality: str, batch_size: int = 2, clips: int = 2) -> torch.Tensor:
    """A random input of the exported graph's shape (token ids for text)."""
    shape = input_shape(model, modality, clips)
    if modality == "text":
        return model.tokenize(["an example"] * batch_size)
    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch_size, *shape, generator=gen)


def _dynamic_shapes(graph: EncoderGraph, max_batch: int):
    dims = {0: torch.export.Dim("batch", min=1, max=max_batch)}
    if graph.clip_axis:
        dims[1] = torch.export.Dim("clips", min=1, max=64)
    return {"x": dims}


@contextlib.contextmanager
def _quiet():
    """The exporter prints progress lines and warnings; keep a CLI's output readable."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _default_domain_opset(path: Path) -> int:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next(int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx"))


def export_onnx(model, modality: str, out_dir: Union[str, Path], config: Optional[OnnxExportConfig] = None,
                codebook_set: Optional[str] = None, fingerprint: Optional[str] = None) -> ExportedGraph:
    """Export ``modality`` of ``model`` to ``out_dir`` (created) and return the artefact.

    Writes ``<stem>.<precision>.onnx``, ``<stem>.<precision>.json`` (manifest) and
    ``<stem>.codebooks.safetensors``. ``codebook_set`` picks the codebook set (§3.4) as in
    :meth:`CodeBind.encode`. ``fingerprint`` (from
    :func:`model_fingerprint`) is computed when not given. The model is not modified (its
    train/eval mode is restored)."""
    config = config or OnnxExportConfig()
    check_modality(model, modality)
    was_training = model.training
    try:
        model.eval()
        return _export(model, modality, Path(out_dir), config, codebook_set, fingerprint)
    finally:
        model.train(was_training)


def _export(model, modality: str, out_dir: Path, config: OnnxExportConfig, codebook_set: Optional[str],
            fingerprint: Optional[str]) -> ExportedGraph:
    graph = EncoderGraph(model, modality, codebook_set, specific=config.specific,
                         half=config.precision == "fp16", merge_lora=config.merge_lora).eval()
    spec = graph.spec(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem_for(modality, spec.codebook_set, model.config.codebook_set_for(modality))
    onnx_path = out_dir / f"{stem}.{config.precision}.onnx"
    x = example_input(model, modality)
    with _quiet(), torch.no_grad():
        program = torch.onnx.export(
            graph, (x,), dynamo=True, opset_version=config.opset, input_names=[INPUT_NAME],
            output_names=list(spec.outputs), dynamic_shapes=_dynamic_shapes(graph, config.max_batch),
            optimize=config.optimize, verify=False)
    # Written in a scratch folder under the final name (graphs over 2 GB get a "<name>.data" file
    # the graph refers to by name), checked, then moved into place.
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".export-") as scratch:
        staged = Path(scratch) / onnx_path.name
        program.save(str(staged), external_data=config.external_data)
        opset = _default_domain_opset(staged)
        if opset != config.opset:
            raise ValueError(f"the exporter wrote opset {opset}, not the requested {config.opset}")
        stale = external_data_path(onnx_path)
        if stale.exists():
            stale.unlink()
        for f in sorted(Path(scratch).iterdir(), key=lambda f: f == staged):  # the graph last
            os.replace(f, out_dir / f.name)
    books_file = None
    books = {}
    if graph.quantized:
        books["shared"] = graph.vq_shared.codebook
        if graph.vq_specific is not None:
            books["specific"] = graph.vq_specific.codebook
        books_file = f"{stem}.codebooks.safetensors"
        save_codebooks(out_dir / books_file, books)
    q = model.config.quantizer
    manifest = Manifest(
        modality=modality, codebook_set=spec.codebook_set, precision=config.precision, opset=config.opset,
        input_name=INPUT_NAME, input_shape=spec.input_shape, input_dtype=spec.input_dtype,
        clip_axis=spec.clip_axis, outputs=spec.outputs, embed_dim=int(model.config.embed_dim),
        specific_dim=int(model.config.specific_dim) if graph.specific else None,
        sub_dim=int(q.sub_dim) if graph.quantized else None,
        codebook_sizes={k: int(v.shape[0]) for k, v in books.items()},
        onnx_file=onnx_path.name, onnx_sha256=graph_sha256(onnx_path), codebooks_file=books_file,
        model_name=model.config.name, model_fingerprint=fingerprint or model_fingerprint(model),
        max_batch=config.max_batch, extra=_export_options(config), preprocess=preprocess_options(model, modality))
    manifest_path = onnx_path.with_suffix(".json")
    manifest.save(manifest_path)
    return ExportedGraph(onnx_path, manifest_path, out_dir / books_file if books_file else None, manifest)


def preprocess_options(model, modality: str) -> Dict[str, Any]:
    """The options ``model.preprocess`` gives ``modality`` by default: its input geometry and the
    preprocessing it was trained with (what a runtime must feed the graph)."""
    if modality == "text":
        return {}
    return {**model_options(modality, model.config.inputs), **model.trained_options(modality)}


def exportable_modalities(model) -> List[str]:
    """Every modality ``model`` can encode: text, image and its targets."""
    return ["text", "image", *model.encoders.keys()]


def export_all(model, out_dir: Union[str, Path], modalities: Optional[Iterable[str]] = None,
               precisions: Sequence[str] = PRECISIONS, **options) -> List[ExportedGraph]:
    """Export several modalities and precisions (default: all of both) into ``out_dir``.
    ``options`` are fields of :class:`OnnxExportConfig` other than ``precision``."""
    names = list(modalities) if modalities is not None else exportable_modalities(model)
    check_modalities(names, exportable_modalities(model))
    fingerprint = model_fingerprint(model)
    return [export_onnx(model, m, out_dir, OnnxExportConfig(precision=p, **options), fingerprint=fingerprint)
            for m in names for p in precisions]


def default_export_dir() -> Path:
    """Where runtimes export graphs they were not given: ``$CODEBIND_CACHE/onnx`` or
    ``~/.cache/codebind/onnx``."""
    root = os.environ.get("CODEBIND_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "codebind")
    return Path(root) / "onnx"


def ensure_exported(model, modality: str, export_dir: Optional[Union[str, Path]] = None,
                    config: Optional[OnnxExportConfig] = None, codebook_set: Optional[str] = None) -> ExportedGraph:
    """Return an up-to-date export of ``modality``, exporting only when needed.

    Exports go to ``export_dir/<fingerprint[:16]>/`` (default :func:`default_export_dir`); an
    existing export is reused when its manifest names this model's fingerprint, the same
    codebook set and options, and its ONNX file is unchanged."""
    config = config or OnnxExportConfig()
    check_modality(model, modality)
    fingerprint = model_fingerprint(model)
    out_dir = Path(export_dir or default_export_dir()) / fingerprint[:16]
    resolved = model.config.codebook_set_for(modality, codebook_set)
    stem = stem_for(modality, resolved, model.config.codebook_set_for(modality))
    onnx_path = out_dir / f"{stem}.{config.precision}.onnx"
    if onnx_path.is_file() and onnx_path.with_suffix(".json").is_file():
        try:
            found = ExportedGraph.from_onnx(onnx_path)
        except ValueError:
            found = None
        if found is not None and _matches(found.manifest, fingerprint, config, resolved) and found.is_current():
            return found
    return export_onnx(model, modality, out_dir, config, codebook_set=codebook_set, fingerprint=fingerprint)


def _export_options(config: OnnxExportConfig) -> Dict[str, str]:
    """Options recorded in the manifest that change the graph (besides precision and opset)."""
    return {"specific": str(config.specific), "merge_lora": str(config.merge_lora),
            "optimize": str(config.optimize), "external_data": str(config.external_data)}


def _matches(m: Manifest, fingerprint: str, config: OnnxExportConfig, codebook_set: str) -> bool:
    return (m.model_fingerprint == fingerprint and m.codebook_set == codebook_set and m.opset == config.opset
            and m.precision == config.precision and m.max_batch == config.max_batch
            and m.extra == _export_options(config) and m.torch_version == torch.__version__)
