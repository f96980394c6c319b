"""Exported artefacts on disk: the ONNX graph, its codebooks as plain arrays, and a manifest.

For one modality and precision ``<stem>.<precision>.onnx`` is written next to
``<stem>.<precision>.json`` (the :class:`Manifest`) and ``<stem>.codebooks.safetensors`` (the
float32 (K, d*) codebooks the graph quantizes with: ``shared`` and, with a specific part,
``specific``), so a runtime can decode codes without the graph or the model.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..config_base import read_mapping

FORMAT = "codebind-onnx"
FORMAT_VERSION = 2  # 2: the manifest names its codebook set ``codebook_set`` (1 called it ``path``)
PRECISIONS = ("fp32", "fp16")
INPUT_NAME = "input"
LEGACY_CODEBOOK_SET_KEY = "path"  # the manifest key of the codebook set before format_version 2


def sha256_file(path: Union[str, Path], chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def external_data_path(onnx_path: Union[str, Path]) -> Path:
    """Where a graph over 2 GB keeps its weights: ``<name>.onnx.data`` next to it."""
    onnx_path = Path(onnx_path)
    return onnx_path.with_name(onnx_path.name + ".data")


def graph_sha256(onnx_path: Union[str, Path]) -> str:
    """sha256 of an ONNX graph file, and of its external weights file when it has one."""
    digest = sha256_file(onnx_path)
    data = external_data_path(onnx_path)
    if data.is_file():
        digest = hashlib.sha256((digest + sha256_file(data)).encode()).hexdigest()
    return digest


def model_fingerprint(model) -> str:
    """Hex sha256 of a model's config and every tensor of its state dict (names, dtypes,
    shapes, bytes): equal fingerprints mean the exported graph would be the same."""
    h = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True, default=str).encode())
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def stem_for(modality: str, codebook_set: str, default_codebook_set: str) -> str:
    """File stem: the modality, suffixed with the codebook set when it is not the default."""
    return modality if codebook_set == default_codebook_set else f"{modality}-{codebook_set}"


@dataclass
class Manifest:
    """Everything a runtime needs to feed an exported graph and rebuild an :class:`Embedding`.

    ``input_shape`` is per sample (batch axis excluded); ``outputs`` lists graph outputs in order;
    ``onnx_sha256`` identifies the graph with its external weights if any (:func:`graph_sha256`;
    TensorRT engine caches key on it). ``codebook_set`` is the codebook set (§3.4) the graph
    quantizes with; manifests written before it was renamed (format_version 1) name it
    :data:`LEGACY_CODEBOOK_SET_KEY` and still load."""

    modality: str
    codebook_set: str
    precision: str
    opset: int
    input_name: str
    input_shape: Tuple[int, ...]
    input_dtype: str
    clip_axis: bool
    outputs: Tuple[str, ...]
    embed_dim: int
    specific_dim: Optional[int]
    sub_dim: Optional[int]
    codebook_sizes: Dict[str, int]
    onnx_file: str
    onnx_sha256: str
    codebooks_file: Optional[str]
    model_name: str
    model_fingerprint: str
    max_batch: int
    torch_version: str = torch.__version__
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    extra: Dict[str, str] = field(default_factory=dict)
    # the raw-input preprocessing (codebind_core.modalities options) the model was trained with
    preprocess: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(d) for d in self.input_shape)
        self.outputs = tuple(self.outputs)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.format != FORMAT:
            raise ValueError(f"not a codebind ONNX manifest (format {self.format!r})")
        if self.format_version > FORMAT_VERSION:
            raise ValueError(f"manifest format_version {self.format_version} is newer than this "
                             f"codebind ({FORMAT_VERSION})")
        if not self.outputs or self.outputs[0] != "shared":
            raise ValueError(f"manifest outputs must start with 'shared', got {self.outputs}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    def save(self, path: Union[str, Path]) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Manifest":
        path = Path(path)
        data = read_mapping(path, "manifest")  # ValueError: missing, or not JSON
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a manifest is a JSON object")
        if LEGACY_CODEBOOK_SET_KEY in data:  # written before the rename (format_version 1)
            if "codebook_set" in data:
                raise ValueError(f"{path}: manifest has both 'codebook_set' and its old name "
                                 f"{LEGACY_CODEBOOK_SET_KEY!r}")
            data["codebook_set"] = data.pop(LEGACY_CODEBOOK_SET_KEY)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"{path}: unknown manifest keys {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as e:
            raise ValueError(f"{path}: incomplete manifest ({e})") from e


@dataclass
class ExportedGraph:
    """Paths of one export (ONNX + manifest + codebooks) and its parsed manifest."""

    onnx_path: Path
    manifest_path: Path
    codebooks_path: Optional[Path]
    manifest: Manifest

    @classmethod
    def from_onnx(cls, onnx_path: Union[str, Path]) -> "ExportedGraph":
        """Open an export from its ``.onnx`` path (the manifest sits next to it)."""
        onnx_path = Path(onnx_path)
        if not onnx_path.is_file():
            raise ValueError(f"ONNX file not found: {onnx_path}")
        manifest_path = onnx_path.with_suffix(".json")
        manifest = Manifest.load(manifest_path)
        books = onnx_path.parent / manifest.codebooks_file if manifest.codebooks_file else None
        return cls(onnx_path, manifest_path, books, manifest)

    def is_current(self) -> bool:
        """True when the ONNX file still has the bytes the manifest describes."""
        return self.onnx_path.is_file() and graph_sha256(self.onnx_path) == self.manifest.onnx_sha256


def save_codebooks(path: Union[str, Path], books: Dict[str, torch.Tensor]) -> None:
    """Write named (K, d*) codebooks as float32 safetensors."""
    save_file({k: v.detach().cpu().float().contiguous() for k, v in books.items()}, str(path),
              metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION)})


def load_codebooks(path: Union[str, Path]) -> Dict[str, torch.Tensor]:
    """Read codebooks written by :func:`save_codebooks` (never unpickles)."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path}: not a valid codebook file ({e})") from e


def decode_codes(codes: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """(..., m) codes -> (..., m * d*) concatenated codevectors, L2-normalised (the quantized
    embedding a graph outputs, rebuilt from codes alone: §3.3 compositional VQ)."""
    if codes.dtype.is_floating_point or codes.dtype == torch.bool:
        raise ValueError("codes must be an integer tensor")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= codebook.shape[0]):
        raise ValueError(f"codes must lie in [0, {codebook.shape[0]})")
    q = torch.nn.functional.embedding(codes.long(), codebook).flatten(-2)
    return torch.nn.functional.normalize(q, dim=-1)
