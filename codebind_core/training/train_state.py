"""Resumable training state (not the model checkpoint of codebind_core/model_checkpoint.py):
everything needed to resume a run bit-exactly, written atomically.

A checkpoint holds the model, optimiser, LR-schedule and gradient-scaler states, the RNG states of
every rank, the optimiser step and the run's fingerprint. It is written to a temporary file in the
same directory, fsynced and moved into place with ``os.replace``, so a process killed at any
moment (even by SIGKILL) leaves either the previous checkpoint or the new one, never half a file.
Loading uses ``torch.load(weights_only=True)``: tensors and plain containers only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import torch

from ..atomic import atomic_write

LAST = "last.pt"


def save_atomic(obj: Dict[str, Any], path: str | Path) -> None:
    """torch.save to `path` atomically (tmp file + fsync + os.replace, see codebind_core.atomic)."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def load_checkpoint(path: str | Path) -> Dict[str, Any]:
    """Load a training checkpoint written by :func:`save_atomic` (weights_only, never unpickles)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint not found: {path}")
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a loadable training checkpoint ({e})") from e


def find_last(ckpt_dir: str | Path) -> Optional[Path]:
    """The run's latest checkpoint, or None when the run has not written one yet."""
    p = Path(ckpt_dir) / LAST
    return p if p.is_file() else None
