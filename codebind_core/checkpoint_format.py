"""The checkpoint format and its writer: a directory with ``config.json`` + ``model.safetensors``.

This module knows the files, not the model class: :mod:`codebind_core.model` imports it for
``CodeBind.save``, and :mod:`codebind_core.model_checkpoint` (which builds a ``CodeBind`` on load)
imports both, so the dependencies run one way: checkpoint -> model -> checkpoint_format.
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Mapping, Union

from . import posthoc_codebook
from .atomic import atomic_write, atomic_write_text
from .config import CodeBindConfig
from .encoders.lora import has_lora, merge_lora as merge

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT_VERSION = 1
DIGEST_KEY = "sha256"  # safetensors metadata key: tensors_digest() of the weights at save time


def tensors_digest(tensors: Mapping) -> str:
    """sha256 over every tensor in name order: its name, dtype, shape and raw bytes (independent of
    how safetensors lays the file out). Recorded by :func:`save`, checked by ``checkpoint.load``."""
    import torch

    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(json.dumps([name, str(t.dtype), list(t.shape)]).encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save(model, directory: Union[str, Path], merge_lora: bool = False) -> Path:
    """Write ``model`` to ``directory`` atomically (files are written then renamed).

    The checkpoint is self-contained: frozen bridge and trunk weights are included, so the saved
    config no longer points at the original weight files, and a named project bridge
    (``BRIDGE_ARCHS``) is written out in full. ``merge_lora=True`` folds LoRA adapters
    into the trunk weights (smaller, faster inference); otherwise adapters are saved apart as
    ``lora_A``/``lora_B`` tensors and rebuilt on load. The weights' metadata records
    :func:`tensors_digest` so that ``load`` can tell damaged tensor bytes."""
    from safetensors.torch import save_file

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
    meta = {"format": "codebind", "format_version": str(FORMAT_VERSION), DIGEST_KEY: tensors_digest(tensors)}
    atomic_write(directory / WEIGHTS_FILE, lambda p: save_file(tensors, p, metadata=meta))
    atomic_write_text(directory / CONFIG_FILE, json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
    _save_posthoc(model, directory, meta[DIGEST_KEY])
    return directory


def _save_posthoc(model, directory: Path, digest: str) -> None:
    """A post-hoc codebook travels with the very weights it was fitted on; with changed weights
    (further training, merged adapters) it is left behind, and one in ``directory`` fitted on
    other weights than these is removed."""
    posthoc = getattr(model, "posthoc_codebook", None)
    if posthoc is not None and posthoc.model_digest == digest:
        posthoc_codebook.save(directory, posthoc)
        return
    try:
        there = posthoc_codebook.load(directory)
    except ValueError:  # damaged: it cannot serve these weights either
        there = None
        (directory / posthoc_codebook.POSTHOC_FILE).unlink()
    if there is not None and there.model_digest != digest:
        (directory / posthoc_codebook.POSTHOC_FILE).unlink()


def model_digest(directory: Union[str, Path]) -> str:
    """The weights' sha256 recorded in model.safetensors at save time (or of the file's bytes)."""
    from safetensors import safe_open

    path = Path(directory) / WEIGHTS_FILE
    with safe_open(str(path), framework="np") as f:
        recorded = (f.metadata() or {}).get(DIGEST_KEY)
    if recorded:
        return recorded
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
