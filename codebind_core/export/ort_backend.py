"""ONNX Runtime backend of the :class:`Embedder` interface (CPU, or CUDA where installed)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional, Sequence, Union

import torch

from ..inference import check_modality
from ..types import Embedding
from .artifact import ExportedGraph, model_fingerprint
from .graph_io import prepare_input, to_embedding
from .onnx_export import OnnxExportConfig, ensure_exported, example_input
from .runtime import BACKENDS, Embedder

DEVICES = ("cpu", "cuda", "cuda:<index>")
OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")
# ONNX Runtime 1.31's NCHWc layout pass crashes (SIGSEGV) on some float16 graphs on CPU; our graphs
# have a single convolution (patch embedding), so leaving it out of fp16 sessions costs nothing.
FP16_CPU_DISABLED_OPTIMIZERS = ["NchwcTransformer"]


def session_options(threads: Optional[int], optimization: str):
    """ONNX Runtime session options: intra-op threads and graph optimisation level."""
    import onnxruntime as ort

    if optimization not in OPTIMIZATION_LEVELS:
        raise ValueError(f"optimization must be one of {OPTIMIZATION_LEVELS}, got {optimization!r}")
    so = ort.SessionOptions()
    so.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization]
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        so.intra_op_num_threads = threads
    return so


def providers_for(device: str) -> list:
    """ONNX Runtime execution providers for a torch-style device string."""
    if str(device) == "cpu":
        return ["CPUExecutionProvider"]
    match = re.fullmatch(r"cuda(?::(\d+))?", str(device))
    if match:
        return [("CUDAExecutionProvider", {"device_id": int(match.group(1) or 0)}), "CPUExecutionProvider"]
    raise ValueError(f"device must be one of {DEVICES}, got {device!r}")


def open_session(onnx_path: Union[str, Path], device: str = "cpu", threads: Optional[int] = None,
                 optimization: str = "all", fp16: bool = False):
    """An ``onnxruntime.InferenceSession`` on ``device`` ("cpu", "cuda" or "cuda:N")."""
    import onnxruntime as ort

    providers = providers_for(device)
    first = providers[0] if isinstance(providers[0], str) else providers[0][0]
    if first not in ort.get_available_providers():
        raise ValueError(f"ONNX Runtime here has no {first} (available: "
                         f"{ort.get_available_providers()}); install onnxruntime-gpu for CUDA")
    disabled: List[str] = FP16_CPU_DISABLED_OPTIMIZERS if fp16 else []
    return ort.InferenceSession(str(onnx_path), session_options(threads, optimization),
                                providers=providers, disabled_optimizers=disabled)


class OnnxRuntimeEmbedder(Embedder):
    """Encode with an exported ONNX graph in ONNX Runtime.

    Args:
        model: the CodeBind model (text tokenization; export when ``onnx_path`` is not given).
        modality: the modality to encode.
        codebook_set: codebook set (§3.4) for bridges; must match the graph's when ``onnx_path`` is
            given.
        onnx_path: a graph written by :func:`export_onnx`; checked against ``model``'s fingerprint.
        precision: "fp32" or "fp16" graph, when exporting.
        export_dir: where to export (see :func:`ensure_exported`).
        specific: include the specific part, when exporting.
        device: "cpu", "cuda" or "cuda:N".
        threads: intra-op threads (default: ONNX Runtime's choice).
        optimization: graph optimisation level ("all" by default).
        check_fingerprint: refuse an ``onnx_path`` exported from other weights.
        max_batch: upper bound of the batch axis, when exporting.
    """

    def __init__(self, model, modality: str, codebook_set: Optional[str] = None,
                 onnx_path: Optional[Union[str, Path]] = None, precision: str = "fp32",
                 export_dir: Optional[Union[str, Path]] = None, specific: bool = True, device: str = "cpu",
                 threads: Optional[int] = None, optimization: str = "all", check_fingerprint: bool = True,
                 max_batch: int = 1024):
        check_modality(model, modality)
        if onnx_path is None:
            cfg = OnnxExportConfig(precision=precision, specific=specific, max_batch=max_batch)
            self.graph = ensure_exported(model, modality, export_dir, cfg, codebook_set=codebook_set)
        else:
            self.graph = ExportedGraph.from_onnx(onnx_path)
            if self.graph.manifest.modality != modality:
                raise ValueError(f"{onnx_path} encodes {self.graph.manifest.modality!r}, not {modality!r}")
            if (codebook_set is not None
                    and model.config.codebook_set_for(modality, codebook_set) != self.graph.manifest.codebook_set):
                raise ValueError(f"{onnx_path} quantizes with the {self.graph.manifest.codebook_set!r} codebooks, "
                                 f"not {codebook_set!r}")
            if check_fingerprint and self.graph.manifest.model_fingerprint != model_fingerprint(model):
                raise ValueError(f"{onnx_path} was exported from different weights than this model; "
                                 "re-export it (or pass check_fingerprint=False)")
        self.manifest = self.graph.manifest
        self.model = model
        self.modality = modality
        self.codebook_set = self.manifest.codebook_set
        self.device = device
        self.session = open_session(self.graph.onnx_path, device, threads, optimization,
                                    fp16=self.manifest.precision == "fp16")
        self._outputs = [o.name for o in self.session.get_outputs()]

    def _tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        return self.model.tokenize(texts)

    def __call__(self, batch) -> Embedding:
        x = prepare_input(batch, self.manifest, self._tokenize)
        values = self.session.run(self._outputs, {self.manifest.input_name: x.numpy()})
        return to_embedding({n: torch.from_numpy(v) for n, v in zip(self._outputs, values)}, self.manifest)

    def example(self, batch_size: int = 1):
        if self.modality == "text":
            return ["an example"] * batch_size
        return example_input(self.model, self.modality, batch_size, clips=1)


BACKENDS["onnxruntime"] = OnnxRuntimeEmbedder
