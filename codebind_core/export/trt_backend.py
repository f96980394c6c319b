"""TensorRT backends of the :class:`Embedder` interface (CUDA only).

* ``tensorrt``: an engine built from the exported ONNX graph (:mod:`.tensorrt_engine`, cached next
  to the ONNX), run with the TensorRT 10 name-based API (``set_input_shape``,
  ``set_tensor_address``, ``execute_async_v3``) on torch CUDA tensors and torch's current stream.
* ``torch_tensorrt``: the alternative path, ``torch_tensorrt.compile`` of the same
  :class:`EncoderGraph` (dynamo IR, dynamic batch); compiled at start-up, not cached on disk
  (its saved programs are pickles, which codebind never loads).

Neither can be exercised on a machine without TensorRT and a GPU; both raise
:class:`TensorRTUnavailable` there.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Optional, Union

import torch

from ..types import Embedding
from .artifact import ExportedGraph
from ..inference import check_modality
from .onnx_graphs import EncoderGraph, input_shape
from .graph_io import prepare_input, to_embedding
from .onnx_export import DEFAULT_OPSET, OnnxExportConfig, ensure_exported, example_input
from .runtime import BACKENDS, Embedder
from .tensorrt_engine import TensorRTConfig, TensorRTUnavailable, import_tensorrt, load_or_build_engine
from .artifact import Manifest


def cuda_index(device: Union[int, str]) -> int:
    """CUDA device index from an int or a torch-style string ("cuda", "cuda:1")."""
    if isinstance(device, int) and not isinstance(device, bool) and device >= 0:
        return device
    match = re.fullmatch(r"cuda(?::(\d+))?", str(device))
    if match:
        return int(match.group(1) or 0)
    raise ValueError(f"the TensorRT backends run on a CUDA device ('cuda', 'cuda:N' or an index), got {device!r}")


def _require_cuda(device: int) -> torch.device:
    if not torch.cuda.is_available():
        raise TensorRTUnavailable("the TensorRT backends need a CUDA GPU; torch sees none here")
    if device >= torch.cuda.device_count():
        raise ValueError(f"CUDA device {device} does not exist ({torch.cuda.device_count()} visible)")
    return torch.device("cuda", device)


def _torch_dtype(trt, dtype) -> torch.dtype:
    table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32,
             trt.int8: torch.int8, trt.bool: torch.bool}
    if hasattr(trt, "int64"):
        table[trt.int64] = torch.int64
    if hasattr(trt, "bfloat16"):
        table[trt.bfloat16] = torch.bfloat16
    if dtype not in table:
        raise ValueError(f"unsupported TensorRT tensor dtype {dtype}")
    return table[dtype]


class TensorRTEmbedder(Embedder):
    """Run a TensorRT engine built from the exported ONNX graph of ``modality``.

    Args:
        model: the CodeBind model (tokenizer; export when ``onnx_path`` is not given).
        modality, codebook_set, specific: as for the other backends.
        onnx_path: an existing export; otherwise the model is exported (fp32 graph) first.
        engine_path, force_rebuild, fp16, workspace_bytes, min_batch, opt_batch, max_batch:
            :class:`TensorRTConfig` fields (Isaac ROS-style engine parameters).
        device: CUDA device: index, "cuda" or "cuda:N".
        opset: ONNX opset of the graph exported here (18 for parsers without opset 20).
    """

    def __init__(self, model, modality: str, codebook_set: Optional[str] = None,
                 onnx_path: Optional[Union[str, Path]] = None, export_dir: Optional[Union[str, Path]] = None,
                 specific: bool = True, engine_path: Optional[str] = None, force_rebuild: bool = False,
                 fp16: bool = True, workspace_bytes: int = 1 << 30, min_batch: int = 1, opt_batch: int = 8,
                 max_batch: int = 64, device: Union[int, str] = 0, opset: int = DEFAULT_OPSET):
        device = cuda_index(device)
        trt = import_tensorrt()
        self.torch_device = _require_cuda(device)
        check_modality(model, modality)
        config = TensorRTConfig(fp16=fp16, workspace_bytes=workspace_bytes, min_batch=min_batch,
                                opt_batch=opt_batch, max_batch=max_batch, engine_path=engine_path,
                                force_rebuild=force_rebuild, device=device)
        if onnx_path is None:
            export = OnnxExportConfig(precision="fp32", specific=specific, max_batch=max(max_batch, 2), opset=opset)
            onnx_path = ensure_exported(model, modality, export_dir, export,
                                        codebook_set=codebook_set).onnx_path
        graph = ExportedGraph.from_onnx(onnx_path)
        if graph.manifest.modality != modality:
            raise ValueError(f"{onnx_path} encodes {graph.manifest.modality!r}, not {modality!r}")
        self.engine_path, self.rebuilt = load_or_build_engine(onnx_path, config)
        self.model, self.modality, self.manifest = model, modality, graph.manifest
        self.codebook_set = graph.manifest.codebook_set
        self.max_batch = max_batch
        self._trt = trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(Path(self.engine_path).read_bytes())
        if self.engine is None:
            raise RuntimeError(f"TensorRT could not deserialize {self.engine_path}; rebuild with force_rebuild=True")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self._inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self._dtypes = {n: _torch_dtype(trt, self.engine.get_tensor_dtype(n)) for n in names}

    def __call__(self, batch) -> Embedding:
        x = prepare_input(batch, self.manifest, self.model.tokenize, max_batch=self.max_batch)
        name = self._inputs[0]
        x = x.to(self.torch_device, self._dtypes[name], non_blocking=True).contiguous()
        stream = torch.cuda.current_stream(self.torch_device)
        if not self.context.set_input_shape(name, tuple(x.shape)):
            raise ValueError(f"input shape {tuple(x.shape)} is outside the engine's optimisation profile")
        self.context.set_tensor_address(name, x.data_ptr())
        outputs: Dict[str, torch.Tensor] = {}
        for out in self._outputs:
            shape = tuple(self.context.get_tensor_shape(out))
            outputs[out] = torch.empty(shape, dtype=self._dtypes[out], device=self.torch_device)
            self.context.set_tensor_address(out, outputs[out].data_ptr())
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed (see its log)")
        return to_embedding(outputs, self.manifest)

    def example(self, batch_size: int = 1):
        if self.modality == "text":
            return ["an example"] * batch_size
        return example_input(self.model, self.modality, batch_size, clips=1)


class TorchTensorRTEmbedder(Embedder):
    """``torch_tensorrt.compile`` of the modality's :class:`EncoderGraph` (dynamic batch).

    ``fp16`` compiles the half-precision graph variant (trunk in half, VQ in float32);
    ``codebook_set`` as for the other backends."""

    def __init__(self, model, modality: str, codebook_set: Optional[str] = None, specific: bool = True,
                 fp16: bool = True, min_batch: int = 1, opt_batch: int = 8, max_batch: int = 64,
                 workspace_bytes: int = 1 << 30, device: Union[int, str] = 0):
        device = cuda_index(device)
        try:
            import torch_tensorrt
        except Exception as e:
            raise TensorRTUnavailable(f"torch_tensorrt is not installed ({type(e).__name__}: {e})") from e
        self.torch_device = _require_cuda(device)
        TensorRTConfig(fp16=fp16, min_batch=min_batch, opt_batch=opt_batch, max_batch=max_batch,
                       workspace_bytes=workspace_bytes, device=device)  # validates the numbers
        check_modality(model, modality)
        graph = EncoderGraph(model, modality, codebook_set, specific=specific, half=fp16, copy=True)
        graph = graph.eval().to(self.torch_device)
        self.model, self.modality, self.codebook_set = model, modality, graph.codebook_set
        self.max_batch = max_batch
        self.manifest = _manifest_like(model, graph, max_batch)
        clips = TensorRTConfig().clips if graph.clip_axis else (1, 1, 1)
        lo, opt, hi = ((b, *input_shape(model, modality, clips=c)) if graph.clip_axis
                       else (b, *input_shape(model, modality))
                       for b, c in zip((min_batch, opt_batch, max_batch), clips))
        dtype = torch.int64 if modality == "text" else torch.float32
        spec = torch_tensorrt.Input(min_shape=lo, opt_shape=opt, max_shape=hi, dtype=dtype)
        self._names = graph.output_names()
        self.compiled = torch_tensorrt.compile(
            graph, ir="dynamo", inputs=[spec], workspace_size=workspace_bytes,
            enabled_precisions={torch.float16, torch.float32} if fp16 else {torch.float32})

    @torch.inference_mode()
    def __call__(self, batch) -> Embedding:
        x = prepare_input(batch, self.manifest, self.model.tokenize, max_batch=self.max_batch)
        out = self.compiled(x.to(self.torch_device, non_blocking=True))
        out = out if isinstance(out, (tuple, list)) else (out,)
        return to_embedding(dict(zip(self._names, out)), self.manifest)

    def example(self, batch_size: int = 1):
        if self.modality == "text":
            return ["an example"] * batch_size
        return example_input(self.model, self.modality, batch_size, clips=1)


def _manifest_like(model, graph: EncoderGraph, max_batch: int):
    """An in-memory manifest describing ``graph`` (no files), for input checks and outputs."""
    spec = graph.spec(model)
    return Manifest(modality=spec.modality, codebook_set=spec.codebook_set,
                    precision="fp16" if graph.half else "fp32", opset=0, input_name="input",
                    input_shape=spec.input_shape, input_dtype=spec.input_dtype,
                    clip_axis=spec.clip_axis, outputs=spec.outputs, embed_dim=int(model.config.embed_dim),
                    specific_dim=None, sub_dim=None, codebook_sizes={}, onnx_file="", onnx_sha256="",
                    codebooks_file=None, model_name=model.config.name, model_fingerprint="",
                    max_batch=max_batch)


BACKENDS["tensorrt"] = TensorRTEmbedder
BACKENDS["torch_tensorrt"] = TorchTensorRTEmbedder
