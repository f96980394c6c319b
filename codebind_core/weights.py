"""Safe weight loading: safetensors, or a plain state dict via ``torch.load(weights_only=True)``."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file


def load_state_dict(path: str | Path) -> Dict[str, torch.Tensor]:
    """Load tensors from a local file without ever unpickling arbitrary objects.

    Accepts ``.safetensors`` files and plain ``torch.save`` state dicts (optionally nested under
    ``state_dict``/``model``, with a ``module.`` DDP prefix). Raises ``ValueError`` with the reason
    for anything else (missing, corrupt, pickled objects)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise ValueError(f"{path}: not a valid safetensors file ({e})") from e
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only refuses pickled code objects; corrupt zips fail too
        raise ValueError(f"{path}: refused to load (only plain tensor state dicts are accepted): {e}") from e
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a flat dict of tensors")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}
