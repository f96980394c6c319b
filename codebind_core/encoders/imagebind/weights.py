"""ImageBind weights: read ``imagebind_huge.pth`` safely, validate it, convert it to safetensors.

* :func:`load_imagebind_checkpoint` reads the released plain state dict with
  ``torch.load(weights_only=True)`` and loads it strictly.
* :func:`convert_imagebind` writes ``out_dir/imagebind.safetensors`` + ``out_dir/config.json`` once;
  :func:`load_converted` reads that directory back (safetensors never unpickles).
* :func:`load_imagebind` accepts any of the three (``.pth``, ``.safetensors``, converted directory).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ...atomic import atomic_write, atomic_write_text
from ...config_base import read_mapping
from .config import IMAGEBIND_CONFIGS, ImageBindConfig, get_config
from .model import ConfigLike, ImageBindModel, resolve_config

WEIGHTS_FILE = "imagebind.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "codebind-imagebind"
FORMAT_VERSION = 1

PathLike = Union[str, Path]
StateDict = Dict[str, torch.Tensor]


# ---- reading -----------------------------------------------------------------------------------
def read_pth(path: PathLike) -> StateDict:
    """Read a plain ``torch.save`` state dict with ``weights_only=True`` (never runs pickled code)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"ImageBind checkpoint not found: {path}")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # refused pickles, corrupt archives, truncated files
        raise ValueError(f"{path}: not a plain tensor state dict (loaded with weights_only=True): {e}") from e
    return _flat_tensor_dict(obj, str(path))


def read_safetensors(path: PathLike) -> Tuple[StateDict, Dict[str, str]]:
    """Read a safetensors file -> (tensors, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"ImageBind weights not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise ValueError(f"{path}: not a valid safetensors file ({e}); pickled files are never loaded") from e
    return tensors, meta


def _flat_tensor_dict(obj: object, where: str) -> StateDict:
    if not isinstance(obj, Mapping):
        raise ValueError(f"{where}: expected a flat dict of tensors, got {type(obj).__name__}")
    bad = [str(k) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"{where}: expected a flat dict of name -> tensor; {len(bad)} entries are not, "
                         f"e.g. {bad[:5]}")
    return dict(obj)


# ---- validation --------------------------------------------------------------------------------
def expected_entries(config: ConfigLike) -> Dict[str, Tuple[Tuple[int, ...], torch.dtype]]:
    """name -> (shape, dtype) of the state dict of ``config``, in order (built on the meta device)."""
    return dict(_entries(resolve_config(config)))


@functools.lru_cache(maxsize=8)
def _entries(cfg: ImageBindConfig) -> Tuple[Tuple[str, Tuple[Tuple[int, ...], torch.dtype]], ...]:
    with torch.device("meta"):
        model = ImageBindModel(cfg)
    return tuple((k, (tuple(v.shape), v.dtype)) for k, v in model.state_dict().items())


def check_state_dict(state: Mapping[str, torch.Tensor], config: ConfigLike, where: str = "checkpoint") -> None:
    """Raise ValueError listing (a few) missing / unexpected keys and shape or dtype mismatches."""
    want = expected_entries(config)
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    wrong = [f"{k}: {tuple(state[k].shape)} {state[k].dtype} (expected {s} {d})"
             for k, (s, d) in want.items() if k in state and (tuple(state[k].shape) != s or state[k].dtype != d)]
    problems: List[str] = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape/dtype", wrong)):
        if items:
            problems.append(f"{len(items)} {label} (e.g. {items[:4]})")
    if problems:
        raise ValueError(f"{where} does not match the ImageBind architecture: " + "; ".join(problems))


def infer_config(state: Mapping[str, torch.Tensor]) -> ImageBindConfig:
    """The registered architecture whose every key and shape matches ``state``."""
    for name in IMAGEBIND_CONFIGS:
        cfg = get_config(name)
        want = expected_entries(cfg)
        if set(want) == set(state) and all(tuple(state[k].shape) == s for k, (s, _) in want.items()):
            return cfg
    raise ValueError(f"the state dict matches none of the registered ImageBind configs "
                     f"{sorted(IMAGEBIND_CONFIGS)}; pass its ImageBindConfig explicitly")


# ---- building ----------------------------------------------------------------------------------
def model_from_state_dict(state: Mapping[str, torch.Tensor], config: Optional[ConfigLike] = None,
                          where: str = "checkpoint") -> ImageBindModel:
    """Validate ``state`` against ``config`` (inferred when None) and load it strictly.

    The model is built on the meta device and the tensors are assigned, so no time or memory is
    spent on a random initialisation that would be overwritten."""
    cfg = infer_config(state) if config is None else resolve_config(config)
    check_state_dict(state, cfg, where)
    with torch.device("meta"):
        model = ImageBindModel(cfg)
    model.load_state_dict(dict(state), strict=True, assign=True)
    return model.eval()


def load_imagebind_checkpoint(path: PathLike, config: Optional[ConfigLike] = "imagebind_huge") -> ImageBindModel:
    """Load ImageBind's released ``.pth`` (e.g. ``imagebind_huge.pth``) into :class:`ImageBindModel`."""
    return model_from_state_dict(read_pth(path), config, where=str(path))


def save_converted(model: ImageBindModel, out_dir: PathLike) -> Path:
    """Write ``out_dir/imagebind.safetensors`` and ``out_dir/config.json`` (atomically)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION)}
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "imagebind": model.config.to_kwargs()}
    atomic_write(out / WEIGHTS_FILE, lambda p: save_file(tensors, p, metadata=meta))
    atomic_write_text(out / CONFIG_FILE, json.dumps(config, indent=2))
    return out


def convert_imagebind(pth: PathLike, out_dir: PathLike, config: Optional[ConfigLike] = "imagebind_huge") -> Path:
    """One-time conversion of ImageBind's ``.pth`` to our safetensors format; returns ``out_dir``.

    ``config=None`` infers the architecture from the tensor shapes."""
    state = read_pth(pth)
    cfg = infer_config(state) if config is None else resolve_config(config)
    check_state_dict(state, cfg, where=str(pth))
    with torch.device("meta"):
        model = ImageBindModel(cfg)
    model.load_state_dict(state, strict=True, assign=True)
    return save_converted(model, out_dir)


def read_converted_config(out_dir: PathLike) -> ImageBindConfig:
    path = Path(out_dir) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"not a converted ImageBind directory: {path} is missing")
    data = read_mapping(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("imagebind"), dict):
        raise ValueError(f"{path}: not a {FORMAT} config (written by convert_imagebind)")
    return ImageBindConfig.from_kwargs(data["imagebind"])


def load_converted(out_dir: PathLike) -> ImageBindModel:
    """Load a directory written by :func:`convert_imagebind` / :func:`save_converted`."""
    cfg = read_converted_config(out_dir)
    path = Path(out_dir) / WEIGHTS_FILE
    state, meta = read_safetensors(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: safetensors metadata does not mark it as {FORMAT} weights")
    return model_from_state_dict(state, cfg, where=str(path))


def load_imagebind(path: PathLike, config: Optional[ConfigLike] = None) -> ImageBindModel:
    """Load ImageBind weights from a converted directory, a ``.safetensors`` file or a ``.pth``.

    ``config`` is needed only when the shapes match no registered architecture."""
    path = Path(path)
    if path.is_dir():
        model = load_converted(path)
        if config is not None and resolve_config(config) != model.config:
            raise ValueError(f"{path} holds {model.config}, not the requested config")
        return model
    if path.suffix == ".safetensors":
        return model_from_state_dict(read_safetensors(path)[0], config, where=str(path))
    return model_from_state_dict(read_pth(path), config, where=str(path))
