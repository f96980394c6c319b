"""Checkpoints: a directory with ``config.json`` + ``model.safetensors``. Never unpickles.

:func:`save` writes one (:mod:`codebind_core.checkpoint_format` holds the writer and the file
names), :func:`load` reads one back into a :class:`~codebind_core.model.CodeBind`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Union

import torch

from .checkpoint_format import CONFIG_FILE, FORMAT_VERSION, WEIGHTS_FILE, save
from .config import CodeBindConfig
from .model import CodeBind

__all__ = ["CONFIG_FILE", "FORMAT_VERSION", "WEIGHTS_FILE", "load", "save"]


def load(directory: Union[str, Path], device: Union[str, torch.device] = "cpu"):
    """Load a checkpoint directory written by :func:`save`; returns the model in eval mode.

    Raises ``ValueError`` naming the problem for a missing file, an invalid config, a file that is
    not safetensors (e.g. a pickle), or weights that do not match the config."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

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
