"""int8 ONNX Runtime backend (``onnxruntime-int8``): the fp32 export, quantized for CPUs.

The trunk's MatMul / Gemm (and Conv, static mode) weights become int8 (per output channel);
activations are quantized per call (``mode="dynamic"``) or with scales calibrated on inputs of the
training data (``mode="static"``, QDQ format; ONNX Runtime fuses it into integer kernels, which use
VNNI / AVX-512 where the CPU has them). The compositional VQ (§3.3: the sub-vector x codebook
product feeding the arg-max), every Gemm (the shared / specific heads, and the attention output
projections of the OpenCLIP towers, which the exporter also emits as Gemm) and the first
``float_blocks`` transformer blocks stay float32, so codes are chosen from float scores of slightly
perturbed embeddings. The first block is kept by default: an error made there passes through every
later block, and keeping it raised the base audio encoder's code agreement with fp32 from 94.2 %
to 95.8 % of sub-vectors at 2.39x fp32's speed instead of 2.73x (docs/benchmarks.md).

A calibration file (:func:`save_calibration`) holds preprocessed inputs and names the model
(fingerprint) and modality they were made for; :func:`load_calibration` refuses a file of another
model or modality. The quantized graph is cached next to the fp32 export
(``<stem>.int8-<mode>[-<calibration sha>].onnx`` + a ``.json`` naming its sources) and rebuilt
when the fp32 graph or the calibration changes.
"""
from __future__ import annotations

import ast
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..inference import check_modality
from .artifact import INPUT_NAME, graph_sha256, model_fingerprint, sha256_file
from .onnx_export import OnnxExportConfig, ensure_exported
from .onnx_graphs import has_clip_axis, input_shape
from .ort_backend import OnnxRuntimeEmbedder, open_session
from .runtime import BACKENDS

MODES = ("dynamic", "static")
FLOAT_BLOCKS = 1  # leading transformer blocks kept in float32 (see the module docstring)
CALIBRATION_KIND = "codebind-int8-calibration"


@dataclass
class Calibration:
    """Preprocessed calibration inputs of one modality and the model they were made for."""

    inputs: torch.Tensor
    modality: str
    model_fingerprint: str
    source: str
    sha256: str


def save_calibration(path: Union[str, Path], model, modality: str, inputs: torch.Tensor,
                     source: str = "") -> Path:
    """Write (N, ...) preprocessed ``inputs`` of ``modality`` (token ids for text) as safetensors,
    tagged with ``model``'s fingerprint, the modality and a free-text ``source``."""
    check_modality(model, modality)
    if not torch.is_tensor(inputs) or inputs.ndim < 2 or inputs.shape[0] < 1:
        raise ValueError(f"calibration inputs must be an (N, ...) tensor with N >= 1, got "
                         f"{getattr(inputs, 'shape', type(inputs).__name__)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"kind": CALIBRATION_KIND, "modality": modality, "model_fingerprint": model_fingerprint(model),
            "source": source}
    save_file({"inputs": inputs.detach().cpu().contiguous()}, str(path), metadata=meta)
    return path


def load_calibration(path: Union[str, Path], model, modality: str) -> Calibration:
    """Read a calibration file; ValueError unless it was made for this model and modality."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"calibration file not found: {path}")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            inputs = f.get_tensor("inputs") if "inputs" in f.keys() else None
    except Exception as exc:  # safetensors raises its own error types for malformed files
        raise ValueError(f"{path} is not a calibration file ({exc})") from None
    if meta.get("kind") != CALIBRATION_KIND or inputs is None:
        raise ValueError(f"{path} is not a calibration file (make one with save_calibration)")
    if meta.get("modality") != modality:
        raise ValueError(f"calibration file {path} holds {meta.get('modality')!r} inputs, not {modality!r}")
    ours = model_fingerprint(model)
    theirs = meta.get("model_fingerprint", "")
    if theirs != ours:
        raise ValueError(f"calibration file {path} was made for another model (fingerprint {theirs[:16]}, "
                         f"this model {ours[:16]}); calibrate again with save_calibration for this model")
    return Calibration(inputs, modality, theirs, meta.get("source", ""), sha256_file(path))


# A transformer block's name scope in the exporter's node metadata: ``trunk.transformer.blocks.0``
# (our towers), ``...transformer.resblocks.0`` (OpenCLIP's).
_BLOCK_SCOPE = re.compile(r"(?:^|\.)(?:blocks|resblocks)\.(\d+)$")
_SCOPES_KEY = "pkg.torch.onnx.name_scopes"


def check_float_blocks(float_blocks) -> None:
    """ValueError unless ``float_blocks`` is an integer >= 0."""
    if isinstance(float_blocks, bool) or not isinstance(float_blocks, int) or float_blocks < 0:
        raise ValueError(f"float_blocks must be an integer >= 0, got {float_blocks!r}")


def block_index(node) -> Optional[int]:
    """The transformer block a node of a torch-exported graph belongs to (None outside the blocks),
    read from the name scopes the exporter records in each node's metadata."""
    for prop in node.metadata_props:
        if prop.key == _SCOPES_KEY:
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return None
            found = [int(m.group(1)) for m in map(_BLOCK_SCOPE.search, scopes) if m]
            return found[-1] if found else None
    return None


def float_nodes(onnx_model, float_blocks: int = 0) -> List[str]:
    """Nodes kept in float32: every MatMul / Gemm whose output feeds an ArgMax (the VQ scores),
    every Gemm (also under ``<name>_MatMul``: the quantizer splits Gemm into MatMul + Add), and
    every MatMul / Gemm of the first ``float_blocks`` transformer blocks (:func:`block_index`)."""
    check_float_blocks(float_blocks)
    consumers: Dict[str, List] = {}
    for node in onnx_model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    keep = []
    for node in onnx_model.graph.node:
        if node.op_type not in ("MatMul", "Gemm"):
            continue
        feeds_argmax = any(c.op_type == "ArgMax" for out in node.output for c in consumers.get(out, []))
        block = block_index(node) if float_blocks else None
        if node.op_type == "Gemm":
            keep += [node.name, f"{node.name}_MatMul"]
        elif feeds_argmax or (block is not None and block < float_blocks):
            keep.append(node.name)
    return keep


class _Reader:
    """ONNX Runtime CalibrationDataReader over (N, ...) inputs, one sample per batch."""

    def __init__(self, inputs: torch.Tensor):
        self._feeds = [{INPUT_NAME: inputs[i:i + 1].numpy()} for i in range(inputs.shape[0])]
        self._items = iter(self._feeds)

    def get_next(self):
        return next(self._items, None)

    def rewind(self) -> None:
        """Start again from the first input (some calibration methods read the data twice)."""
        self._items = iter(self._feeds)


def quantize_graph(fp32_path: Union[str, Path], out_path: Union[str, Path], mode: str = "dynamic",
                   calibration: Optional[torch.Tensor] = None, float_blocks: int = FLOAT_BLOCKS) -> Path:
    """Quantize an fp32 export to int8 (see the module docstring); static mode needs inputs."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "static" and calibration is None:
        raise ValueError("static int8 quantization needs calibration inputs")
    graph = onnx.load(str(fp32_path), load_external_data=False)
    keep = float_nodes(graph, float_blocks)
    if float_blocks and all(block_index(n) is None for n in graph.graph.node):
        warnings.warn(f"float_blocks={float_blocks}: {fp32_path} names no transformer blocks in its node "
                      "metadata (an export by another tool?); every block is quantized", stacklevel=2)
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.name + ".tmp")
    if mode == "dynamic":
        quantize_dynamic(str(fp32_path), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Gemm"], nodes_to_exclude=keep)
    else:
        reader = type("Reader", (_Reader, CalibrationDataReader), {})(calibration.float()
                                                                      if calibration.is_floating_point()
                                                                      else calibration)
        quantize_static(str(fp32_path), str(tmp), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                        op_types_to_quantize=["MatMul", "Gemm", "Conv"], nodes_to_exclude=keep)
    tmp.replace(out_path)
    return out_path


def ensure_quantized(fp32_path: Path, mode: str, calibration: Optional[Calibration],
                     float_blocks: int = FLOAT_BLOCKS) -> Path:
    """The cached int8 graph of an fp32 export, (re)built when its sources or options changed."""
    tag = mode if calibration is None else f"{mode}-{calibration.sha256[:12]}"
    if float_blocks != FLOAT_BLOCKS:
        tag += f"-float{float_blocks}"
    out = fp32_path.with_name(fp32_path.name.replace(".fp32.onnx", f".int8-{tag}.onnx"))
    sources = {"fp32_sha256": graph_sha256(fp32_path), "mode": mode,
               "calibration_sha256": calibration.sha256 if calibration else None, "float_blocks": float_blocks}
    record = out.with_suffix(".json")
    if out.is_file() and record.is_file():
        try:
            stored = json.loads(record.read_text())
        except ValueError:
            stored = {}
        if stored.get("sources") == sources and stored.get("int8_sha256") == graph_sha256(out):
            return out
    quantize_graph(fp32_path, out, mode, calibration.inputs if calibration else None, float_blocks)
    record.write_text(json.dumps({"sources": sources, "int8_sha256": graph_sha256(out)}, indent=1))
    return out


class OnnxRuntimeInt8Embedder(OnnxRuntimeEmbedder):
    """:class:`OnnxRuntimeEmbedder` on the int8 graph (CPU).

    Args:
        model, modality, codebook_set, export_dir, specific, threads, optimization, max_batch: as
            for :class:`OnnxRuntimeEmbedder` (the fp32 export is made or reused first).
        mode: ``dynamic`` (default; no calibration) or ``static`` (needs ``calibration``).
        calibration: a file written by :func:`save_calibration` for this model and modality.
        float_blocks: leading transformer blocks kept in float32 (default 1; 0 quantizes them all).
    """

    def __init__(self, model, modality: str, codebook_set: Optional[str] = None, mode: str = "dynamic",
                 calibration: Optional[Union[str, Path]] = None, export_dir: Optional[Union[str, Path]] = None,
                 specific: bool = True, threads: Optional[int] = None, optimization: str = "all",
                 max_batch: int = 1024, device: str = "cpu", float_blocks: int = FLOAT_BLOCKS):
        check_modality(model, modality)
        check_float_blocks(float_blocks)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if device != "cpu":
            raise ValueError(f"the int8 backend runs on the CPU, got device={device!r}")
        if mode == "static" and calibration is None:
            raise ValueError("mode='static' needs calibration=<file from save_calibration>")
        cal = load_calibration(calibration, model, modality) if calibration is not None else None
        if cal is not None:
            clips = int(cal.inputs.shape[1]) if has_clip_axis(model, modality) else 1
            if tuple(cal.inputs.shape[1:]) != tuple(input_shape(model, modality, clips)):
                raise ValueError(f"calibration inputs have shape {tuple(cal.inputs.shape[1:])}, the "
                                 f"{modality} graph takes {tuple(input_shape(model, modality, clips))}")
        cfg = OnnxExportConfig(precision="fp32", specific=specific, max_batch=max_batch)
        self.graph = ensure_exported(model, modality, export_dir, cfg, codebook_set=codebook_set)
        self.manifest = self.graph.manifest
        self.model = model
        self.modality = modality
        self.codebook_set = self.manifest.codebook_set
        self.device = device
        self.mode = mode
        self.float_blocks = float_blocks
        self.int8_path = ensure_quantized(self.graph.onnx_path, mode, cal, float_blocks)
        self.session = open_session(self.int8_path, "cpu", threads, optimization)
        self._outputs = [o.name for o in self.session.get_outputs()]


def calibration_inputs(model, modality: str, raws: Sequence) -> torch.Tensor:
    """Preprocess raw training samples of ``modality`` into calibration inputs."""
    if modality == "text":
        return model.tokenize(list(raws))
    return model.preprocess(modality, list(raws))


BACKENDS["onnxruntime-int8"] = OnnxRuntimeInt8Embedder
