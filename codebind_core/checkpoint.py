"""Checkpoints: a directory with ``config.json`` + ``model.safetensors``. Never unpickles."""
from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Union

import torch

from .config import CodeBindConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT_VERSION = 1


def save(model, directory: Union[str, Path], merge_lora: bool = False) -> Path:
    """Write ``model`` to ``directory`` atomically (files are written then renamed).

    The checkpoint is self-contained: frozen bridge and trunk weights are included, so the saved
    config no longer points at the original weight files, and a named project bridge
    (``BRIDGE_ARCHS``) is written out in full. ``merge_lora=True`` folds LoRA adapters
    into the trunk weights (smaller, faster inference); otherwise adapters are saved apart as
    ``lora_A``/``lora_B`` tensors and rebuilt on load."""
    from safetensors.torch import save_file

    from .encoders.lora import has_lora, merge_lora as merge

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cfg = CodeBindConfig.from_dict(model.config.to_dict())
    cfg.bridge.weights = None
    cfg.bridge.write_out_named_arch()
    for t in cfg.targets:
        cfg.trunk_for(t).init = None
    if cfg.lora.mode == "auto":  # init paths are gone: record whether adapters exist
        cfg.lora.mode = "on" if any(has_lora(e) for e in model.encoders.values()) else "off"
    if merge_lora:
        model = merge(copy.deepcopy(model))
        cfg.lora.merged = True
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    meta = {"format": "codebind", "format_version": str(FORMAT_VERSION)}
    _atomic(directory / WEIGHTS_FILE, lambda p: save_file(tensors, p, metadata=meta))
    _atomic(directory / CONFIG_FILE, lambda p: Path(p).write_text(json.dumps(cfg.to_dict(), indent=2, sort_keys=True)))
    return directory


def load(directory: Union[str, Path], device: Union[str, torch.device] = "cpu"):
    """Load a checkpoint directory written by :func:`save`; returns the model in eval mode.

    Raises ``ValueError`` naming the problem for a missing file, an invalid config, a file that is
    not safetensors (e.g. a pickle), or weights that do not match the config."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .model import CodeBind

    directory = Path(directory)
    cfg_path, w_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for p in (cfg_path, w_path):
        if not p.is_file():
            raise ValueError(f"not a codebind checkpoint: {p} is missing")
    try:
        cfg = CodeBindConfig.from_dict(json.loads(cfg_path.read_text()))
    except (json.JSONDecodeError, TypeError) as e:
        raise ValueError(f"{cfg_path}: invalid config ({e})") from e
    try:
        state = load_file(str(w_path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{w_path}: not a valid safetensors file ({e}); codebind never unpickles weights") from e
    model = CodeBind(cfg)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{w_path} does not match its config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.to(device).eval()


def _atomic(target: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
