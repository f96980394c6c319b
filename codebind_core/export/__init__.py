"""Export and deployment runtime.

* :func:`export_onnx` / :func:`export_all`: encoder + heads + compositional VQ of a modality as an
  ONNX graph (dynamic batch, fp32 or fp16) with a manifest and the codebooks as plain arrays.
* :func:`create_embedder`: one :class:`Embedder` interface over the backends in :data:`BACKENDS`
  ("torch", "onnxruntime", "onnxruntime-int8", "tensorrt", "torch_tensorrt"); all return an
  :class:`Embedding`.
* :mod:`.tensorrt_engine`: TensorRT engine build + cache (needs TensorRT and a GPU).
* :mod:`.fast_vq`: CPU compositional-VQ encoding at (or above) faiss PQ speed.
"""
from .artifact import ExportedGraph, Manifest, decode_codes, load_codebooks
from .onnx_export import OnnxExportConfig, ensure_exported, export_all, export_onnx
from .ort_backend import OnnxRuntimeEmbedder  # importing registers "onnxruntime" in BACKENDS
from .ort_int8 import OnnxRuntimeInt8Embedder  # registers "onnxruntime-int8"
from .runtime import BACKENDS, Embedder, TorchEmbedder, create_embedder, example_batch
from .tensorrt_engine import TensorRTConfig, TensorRTUnavailable, tensorrt_available
from .trt_backend import TensorRTEmbedder, TorchTensorRTEmbedder  # registers "tensorrt", "torch_tensorrt"

__all__ = ["BACKENDS", "Embedder", "ExportedGraph", "Manifest", "OnnxExportConfig", "OnnxRuntimeEmbedder",
           "OnnxRuntimeInt8Embedder",
           "TensorRTConfig", "TensorRTEmbedder", "TensorRTUnavailable", "TorchEmbedder",
           "TorchTensorRTEmbedder", "create_embedder", "decode_codes", "ensure_exported", "example_batch",
           "export_all", "export_onnx", "load_codebooks", "tensorrt_available"]
