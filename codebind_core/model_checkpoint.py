"""Model checkpoints (the trained model, not a training run: see training/train_state.py): a
directory with ``config.json`` + ``model.safetensors``. Never unpickles.

:func:`save` writes one (:mod:`codebind_core.checkpoint_format` holds the writer and the file
names), :func:`load` reads one back into a :class:`~codebind_core.model.CodeBind`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Union

import torch
from safetensors import SafetensorError, safe_open

from . import posthoc_codebook
from .checkpoint_checks import check_complete, check_digest, check_size, check_weights
from .checkpoint_format import CONFIG_FILE, DIGEST_KEY, FORMAT_VERSION, WEIGHTS_FILE, model_digest, save
from .config import CodeBindConfig
from .model import CodeBind

__all__ = ["CONFIG_FILE", "FORMAT_VERSION", "WEIGHTS_FILE", "load", "save"]


def load(directory: Union[str, Path], device: Union[str, torch.device] = "cpu"):
    """Load a checkpoint directory written by :func:`save`; returns the model in eval mode.

    Raises ``ValueError`` naming the problem for a missing file, an invalid or incomplete config
    (wrong types, missing keys), a config describing a model above
    :data:`~codebind_core.checkpoint_checks.MAX_PARAMETERS` (checked before anything is allocated),
    a file that is not safetensors (e.g. a pickle), tensors whose sha256 no longer matches the one
    recorded at save time (older checkpoints without one are not checked), and weights that do not
    match the config: names, dtypes, shapes, NaN or infinite values (the first bad tensor is named).
    A post-hoc codebook stored beside the weights (:mod:`codebind_core.posthoc_codebook`) is
    attached; one fitted on other weights raises."""
    directory = Path(directory)
    cfg_path, w_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for p in (cfg_path, w_path):
        if not p.is_file():
            raise ValueError(f"not a codebind checkpoint: {p} is missing")
    try:
        raw = json.loads(cfg_path.read_text())
        check_complete(raw)
        cfg = CodeBindConfig.from_dict(raw)
        check_size(cfg)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError) as e:
        raise ValueError(f"{cfg_path}: invalid config ({e})") from e
    try:
        with safe_open(str(w_path), framework="pt", device="cpu") as f:
            recorded = (f.metadata() or {}).get(DIGEST_KEY)
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{w_path}: not a valid safetensors file ({e}); codebind never unpickles weights") from e
    try:
        check_digest(state, recorded)
        model = CodeBind(cfg)
        check_weights(state, model.state_dict())
    except ValueError as e:
        raise ValueError(f"{w_path}: {e}") from e
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{w_path} does not match its config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    # a model without trained codebooks: codes from a post-hoc codebook fitted on these weights
    posthoc = posthoc_codebook.load(directory, recorded or model_digest(directory))
    if posthoc is not None:
        posthoc_codebook.attach(model, posthoc)
    return model.to(device).eval()
