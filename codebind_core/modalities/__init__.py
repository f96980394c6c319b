"""Raw numpy inputs -> model tensors, one module per modality.

Every modality module provides:
- ``preprocess(raw, **options) -> torch.Tensor`` for ONE sample (no batch axis);
- ``preprocess_batch(raws, **options) -> torch.Tensor`` stacking samples on a new axis 0;
- ``DEFAULTS``: its option dataclass at default values; ``DEFAULTS.output_shape()`` is the
  per-sample tensor shape (except for ``text``, which yields strings or token ids);
- ``MODEL_OPTIONS``: option name -> attribute of the model's input config that sets it;
- ``example(rng)``: a small realistic raw input.
Malformed input raises ValueError naming the problem.

    >>> from codebind_core import modalities
    >>> modalities.get("depth").preprocess(depth_m, intrinsics=K).shape
    torch.Size([1, 224, 224])
"""
from __future__ import annotations

from types import ModuleType
from typing import Any, Dict, Tuple

from . import audio, depth, eeg, image, pointcloud, tactile, text, thermal, video

_REGISTRY: Dict[str, ModuleType] = {
    m.NAME: m for m in (image, video, depth, thermal, audio, tactile, pointcloud, eeg, text)
}


def names() -> Tuple[str, ...]:
    """Names of all modalities, in a fixed order."""
    return tuple(_REGISTRY)


def get(name: str) -> ModuleType:
    """The preprocessing module of modality ``name``."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown modality {name!r}; known: {', '.join(_REGISTRY)}") from None


def model_options(name: str, inputs: Any) -> Dict[str, Any]:
    """Options that make ``name``'s tensors match a model's input geometry.

    ``inputs`` is any object with the attributes named in the module's ``MODEL_OPTIONS``
    (the model config's input section: ``image_size``, ``num_frames``, ``mel_bins`` ...).
    """
    return {opt: getattr(inputs, attr) for opt, attr in get(name).MODEL_OPTIONS.items()}


__all__ = ["audio", "depth", "eeg", "get", "image", "model_options", "names", "pointcloud",
           "tactile", "text", "thermal", "video"]
