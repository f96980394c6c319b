"""The one way a node gets its model: the checkpoint its ``model_path`` parameter names."""
from __future__ import annotations

from pathlib import Path


def load_model(model_path: str, device: str = "cpu"):
    """The checkpoint at ``model_path`` (codebind_core.load); ValueError when it is missing."""
    import codebind_core as cb

    if not model_path:
        raise ValueError("parameter model_path is empty: give a checkpoint directory")
    if not Path(model_path).is_dir():
        raise ValueError(f"model_path {model_path!r} is not a directory")
    return cb.load(model_path, device=device)
