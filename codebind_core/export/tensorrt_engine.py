"""TensorRT engines built from the exported ONNX graphs, cached next to them.

Written against the documented TensorRT (8.6 / 10.x) Python API: ``trt.Builder``, a network
definition (``EXPLICIT_BATCH`` where the version still has the flag), ``trt.OnnxParser``,
``IBuilderConfig.set_memory_pool_limit(WORKSPACE, ...)``, ``set_flag(FP16)``, one optimisation
profile for batch ``min..max``, ``build_serialized_network``. The library is imported only when an
engine is built or loaded; everything else here (cache keys, engine paths, staleness, profile
shapes) is plain Python.

Cache: an engine is stored as ``<onnx stem>.<key[:16]>.engine`` next to the ONNX file (or at
``engine_path``) with a ``.engine.json`` sidecar holding the key's ingredients. The key hashes the
ONNX bytes (sha256), the TensorRT version, the GPU name and the build options, so a new graph, a
TensorRT upgrade or another GPU makes the cached engine stale and it is rebuilt (also when
``force_rebuild``), as Isaac ROS's ``engine_file_path`` / ``force_engine_update`` do.

Precision. An fp16 ONNX export (trunk in half, VQ in float32, explicit casts) is built as a
``STRONGLY_TYPED`` network: TensorRT keeps exactly the graph's types. An fp32 export with
``fp16=True`` is built with ``BuilderFlag.FP16``; the layers named after the VQ's ONNX nodes
(codebook matmul, ArgMax, Gather, normalisation) are then pinned to float32 with
``OBEY_PRECISION_CONSTRAINTS`` so half precision does not move codes by rounding the codebook
scores (layers TensorRT names differently from their ONNX node are not pinned).
"""
from __future__ import annotations

import ast
import contextlib
import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Set, Tuple, Union

from ..atomic import atomic_write_bytes, atomic_write_text
from ..config_base import Config
from .artifact import ExportedGraph, Manifest, sha256_file

ENGINE_FORMAT_VERSION = 1
# Scopes of the VQ modules in the exported graph (attribute names in EncoderGraph).
VQ_SCOPES = ("vq_shared", "vq_specific")
Shape = Tuple[int, ...]


class TensorRTUnavailable(RuntimeError):
    """Raised when an engine must be built or run but TensorRT (or CUDA) is not installed."""


def tensorrt_available() -> bool:
    """Whether the ``tensorrt`` Python package imports here."""
    try:
        import tensorrt  # noqa: F401
    except Exception:
        return False
    return True


def import_tensorrt():
    """The ``tensorrt`` module, or :class:`TensorRTUnavailable` with the reason."""
    try:
        import tensorrt as trt
    except Exception as e:
        raise TensorRTUnavailable(
            f"TensorRT is not installed ({type(e).__name__}: {e}); install the tensorrt wheel "
            "matching your CUDA on the GPU machine, or use the 'torch'/'onnxruntime' backend") from e
    return trt


@dataclass
class TensorRTConfig(Config):
    """Engine build options (names follow Isaac ROS's TensorRT node where one exists).

    Attributes:
        fp16: allow half-precision kernels (``enable_fp16``); the VQ stays float32.
        workspace_bytes: builder workspace memory pool limit (``max_workspace_size``).
        min_batch, opt_batch, max_batch: the optimisation profile of the batch axis.
        clips: (min, opt, max) of the clip axis for clip-axis graphs (audio).
        engine_path: explicit engine file (``engine_file_path``); default: next to the ONNX.
        force_rebuild: rebuild even when a current engine is cached (``force_engine_update``).
        device: CUDA device index the engine is built for.
    """

    fp16: bool = True
    workspace_bytes: int = 1 << 30
    min_batch: int = 1
    opt_batch: int = 8
    max_batch: int = 64
    clips: Tuple[int, int, int] = (1, 3, 8)
    engine_path: Optional[str] = None
    force_rebuild: bool = False
    device: int = 0

    def validate(self) -> None:
        super().validate()
        if not (1 <= self.min_batch <= self.opt_batch <= self.max_batch):
            raise ValueError(f"need 1 <= min_batch <= opt_batch <= max_batch, got "
                             f"{self.min_batch}, {self.opt_batch}, {self.max_batch}")
        if len(self.clips) != 3 or not (1 <= self.clips[0] <= self.clips[1] <= self.clips[2]):
            raise ValueError(f"clips must be (min, opt, max) with 1 <= min <= opt <= max, got {self.clips}")
        if self.workspace_bytes < (1 << 20):
            raise ValueError(f"workspace_bytes must be at least 1 MiB, got {self.workspace_bytes}")
        if self.device < 0:
            raise ValueError(f"device must be a CUDA device index >= 0, got {self.device}")

    def build_options(self) -> Dict[str, object]:
        """The options that change the engine (part of the cache key)."""
        return {"fp16": self.fp16, "workspace_bytes": self.workspace_bytes, "min_batch": self.min_batch,
                "opt_batch": self.opt_batch, "max_batch": self.max_batch, "clips": list(self.clips)}


def profile_shapes(manifest: Manifest, config: TensorRTConfig) -> Tuple[Shape, Shape, Shape]:
    """(min, opt, max) input shapes of the optimisation profile for an exported graph."""
    if config.max_batch > manifest.max_batch:
        raise ValueError(f"max_batch {config.max_batch} exceeds the graph's exported max batch "
                         f"{manifest.max_batch}; re-export with a larger max_batch")
    per_sample = tuple(manifest.input_shape)
    shapes = []
    for i, b in enumerate((config.min_batch, config.opt_batch, config.max_batch)):
        if manifest.clip_axis:
            shapes.append((b, config.clips[i]) + per_sample[1:])
        else:
            shapes.append((b,) + per_sample)
    return shapes[0], shapes[1], shapes[2]


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; :attr:`digest` names the cached engine file."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    options: Tuple[Tuple[str, str], ...]
    format_version: int = ENGINE_FORMAT_VERSION

    @classmethod
    def create(cls, onnx_sha256: str, tensorrt_version: str, gpu_name: str, config: TensorRTConfig) -> "EngineKey":
        opts = tuple(sorted((k, json.dumps(v)) for k, v in config.build_options().items()))
        return cls(onnx_sha256, str(tensorrt_version), str(gpu_name), opts)

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()

    def to_dict(self) -> Dict[str, object]:
        d = dataclasses.asdict(self)
        d["options"] = [list(o) for o in self.options]
        d["digest"] = self.digest
        return d


def engine_path_for(onnx_path: Union[str, Path], key: EngineKey, config: TensorRTConfig) -> Path:
    """The engine file: ``config.engine_path`` if set, else ``<onnx stem>.<digest[:16]>.engine``."""
    if config.engine_path:
        return Path(config.engine_path)
    onnx_path = Path(onnx_path)
    return onnx_path.with_name(f"{onnx_path.stem}.{key.digest[:16]}.engine")


def sidecar_path(engine_path: Union[str, Path]) -> Path:
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


def is_stale(engine_path: Union[str, Path], key: EngineKey) -> Optional[str]:
    """Why the engine at ``engine_path`` cannot be reused for ``key`` (None when it can)."""
    engine_path = Path(engine_path)
    if not engine_path.is_file():
        return "no engine file"
    side = sidecar_path(engine_path)
    if not side.is_file():
        return "no sidecar describing how the engine was built"
    try:
        recorded = json.loads(side.read_text())
    except (OSError, json.JSONDecodeError):
        return "unreadable sidecar"
    if recorded.get("digest") != key.digest:
        changed = [k for k in ("onnx_sha256", "tensorrt_version", "gpu_name", "options", "format_version")
                   if recorded.get(k) != key.to_dict()[k]]
        return "built for a different " + (", ".join(changed) or "configuration")
    if recorded.get("engine_sha256") != sha256_file(engine_path):
        return "engine file changed since it was built"
    return None


def write_engine(engine_path: Union[str, Path], engine_bytes: bytes, key: EngineKey) -> Path:
    """Write the serialized engine and its sidecar atomically (engine first, sidecar last)."""
    engine_path = atomic_write_bytes(engine_path, engine_bytes)
    side = key.to_dict()
    side["engine_sha256"] = hashlib.sha256(engine_bytes).hexdigest()
    atomic_write_text(sidecar_path(engine_path), json.dumps(side, indent=2, sort_keys=True))
    return engine_path


def vq_node_names(onnx_path: Union[str, Path]) -> Set[str]:
    """Names of the ONNX nodes inside the VQ modules (from the exporter's name-scope metadata)."""
    import onnx

    names = set()
    for node in onnx.load(str(onnx_path), load_external_data=False).graph.node:
        for prop in node.metadata_props:
            if prop.key == "pkg.torch.onnx.name_scopes":
                try:
                    scopes = ast.literal_eval(prop.value)
                except (ValueError, SyntaxError):
                    continue
                if any(s in VQ_SCOPES for s in scopes):
                    names.add(node.name)
    return names


def _pin_layers_fp32(trt, network, names: Set[str]) -> int:
    """Constrain the layers built from the VQ nodes to float32; returns how many were pinned."""
    pinned = 0
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.name not in names:
            continue
        layer.precision = trt.float32
        for j in range(layer.num_outputs):
            if layer.get_output(j).dtype in (trt.float32, trt.float16):
                layer.set_output_type(j, trt.float32)
        pinned += 1
    return pinned


def gpu_name(device: int = 0) -> str:
    """Name of CUDA device ``device`` (part of the engine cache key)."""
    import torch

    if not torch.cuda.is_available():
        raise TensorRTUnavailable("TensorRT engines need a CUDA GPU; torch sees none here")
    return torch.cuda.get_device_name(device)


def build_engine(graph: ExportedGraph, config: TensorRTConfig, logger=None) -> bytes:
    """Parse the ONNX graph and build a serialized engine with ``config``'s profile and flags."""
    trt = import_tensorrt()
    logger = logger or trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH") and int(trt.__version__.split(".")[0]) < 10:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    strongly_typed = graph.manifest.precision == "fp16"
    if strongly_typed:
        if not hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
            raise TensorRTUnavailable(f"TensorRT {trt.__version__} has no strongly typed networks "
                                      "(>= 9.1 needed for fp16 ONNX graphs); build from the fp32 graph with fp16=True")
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(graph.onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ValueError(f"TensorRT could not parse {graph.onnx_path}: " + "; ".join(errors))
    bconfig = builder.create_builder_config()
    bconfig.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, config.workspace_bytes)
    if config.fp16 and not strongly_typed:
        bconfig.set_flag(trt.BuilderFlag.FP16)
        if _pin_layers_fp32(trt, network, vq_node_names(graph.onnx_path)):
            bconfig.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    profile = builder.create_optimization_profile()
    lo, opt, hi = profile_shapes(graph.manifest, config)
    profile.set_shape(graph.manifest.input_name, lo, opt, hi)
    bconfig.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, bconfig)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {graph.onnx_path} (see its log)")
    return bytes(serialized)


def load_or_build_engine(onnx_path: Union[str, Path], config: Optional[TensorRTConfig] = None,
                         logger=None) -> Tuple[Path, bool]:
    """Return (engine path, rebuilt): reuse the cached engine unless stale or forced."""
    config = config or TensorRTConfig()
    trt = import_tensorrt()
    graph = ExportedGraph.from_onnx(onnx_path)
    if not graph.is_current():
        raise ValueError(f"{onnx_path} does not match its manifest (edited after export?); re-export it")
    key = EngineKey.create(graph.manifest.onnx_sha256, trt.__version__, gpu_name(config.device), config)
    path = engine_path_for(graph.onnx_path, key, config)
    if not config.force_rebuild and is_stale(path, key) is None:
        return path, False
    import torch

    on_device = torch.cuda.device(config.device) if torch.cuda.is_available() else contextlib.nullcontext()
    with on_device:
        engine_bytes = build_engine(graph, config, logger)
    return write_engine(path, engine_bytes, key), True
