"""Raw inputs -> ImageBind model inputs, by ImageBind modality name.

Images, audio, depth and thermal go through :mod:`codebind_core.modalities` (which follows
ImageBind's loaders); only what ImageBind lays out differently lives here: its modality names
(``vision``), text ids, audio as ImageBind's ``load_and_transform_audio_data`` computes it, and the
IMU layout (6 x 2000, which ImageBind ships no loader for).

Audio defaults reproduce ImageBind's loader, quirks included: channel 0 (Kaldi's fbank reads only
the first channel), clip boundaries from the float duration (``clip_timing="imagebind"``) and the
in-place mean subtraction that leaks between overlapping clips (``mean_removal="imagebind"``).
Pass ``clip_timing="exact", mean_removal="clip"`` for the intended variant (exact boundaries, each
clip minus its own mean); embeddings then differ slightly from ImageBind's on audio under 6 s.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Sequence

import numpy as np
import torch

from ... import modalities
from .config import IMAGE_SIZE, IMU_CHANNELS, IMU_LENGTH
from .tokenizer import tokenize

IMU_LAYOUTS = ("channels_first", "channels_last")
# audio options that reproduce ImageBind's loader (see the module docstring)
IMAGEBIND_AUDIO = {"channel": 0, "clip_timing": "imagebind", "mean_removal": "imagebind"}


def preprocess_imu(raw: Any, layout: str = "channels_first", length: int = IMU_LENGTH) -> torch.Tensor:
    """IMU samples -> (6, ``length``) float32: accelerometer x, y, z then gyroscope x, y, z.

    ``layout`` says whether ``raw`` is (6, T) or (T, 6). A longer recording is centre-cropped and
    a shorter one zero-padded at the end. Values are passed through unscaled: ImageBind's
    released code has no IMU loader or statistics."""
    if layout not in IMU_LAYOUTS:
        raise ValueError(f"imu: layout must be one of {IMU_LAYOUTS}, got {layout!r}")
    if length <= 0:
        raise ValueError(f"imu: length must be positive, got {length}")
    arr = np.asarray(raw.detach().cpu().numpy() if isinstance(raw, torch.Tensor) else raw)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"imu: expected a numeric array, got dtype {arr.dtype}")
    if layout == "channels_last":
        arr = arr.T if arr.ndim == 2 else arr
    if arr.ndim != 2 or arr.shape[0] != IMU_CHANNELS:
        want = "(6, T)" if layout == "channels_first" else "(T, 6)"
        raise ValueError(f"imu: expected {want} samples for layout={layout!r}, got shape {np.shape(raw)}")
    if arr.shape[1] == 0:
        raise ValueError("imu: the recording is empty")
    if not np.isfinite(arr).all():
        raise ValueError("imu: samples contain NaN or inf")
    x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    t = x.shape[1]
    if t >= length:
        start = (t - length) // 2
        return x[:, start:start + length].clone()
    return torch.nn.functional.pad(x, (0, length - t))


def _vision(raw: Any, **options: Any) -> torch.Tensor:
    return modalities.get("image").preprocess(raw, **{"size": IMAGE_SIZE, **options})


def _text(raw: Any, **options: Any) -> torch.Tensor:
    if options:
        raise ValueError(f"text takes no options, got {sorted(options)}")
    return tokenize([raw])[0]


def _audio(raw: Any, **options: Any) -> torch.Tensor:
    return modalities.get("audio").preprocess(raw, **{**IMAGEBIND_AUDIO, **options})


def _modality(name: str) -> Callable[..., torch.Tensor]:
    return lambda raw, **options: modalities.get(name).preprocess(raw, **options)


PREPROCESS: Dict[str, Callable[..., torch.Tensor]] = {
    "vision": _vision, "text": _text, "audio": _audio, "depth": _modality("depth"),
    "thermal": _modality("thermal"), "imu": preprocess_imu,
}


def preprocess(modality: str, raw: Any, **options: Any) -> torch.Tensor:
    """One raw sample -> the tensor ImageBind expects for it (no batch axis).

    vision (3, 224, 224); text (77,) ids; audio (3, 1, 128, 204); depth / thermal (1, 224, 224);
    imu (6, 2000). ``options`` go to the modality's preprocessing (e.g. depth ``preset="nyu"``)."""
    if modality not in PREPROCESS:
        raise ValueError(f"unknown ImageBind modality {modality!r}; choose from {tuple(PREPROCESS)}")
    return PREPROCESS[modality](raw, **options)


def preprocess_batch(modality: str, raws: Sequence[Any], **options: Any) -> torch.Tensor:
    """A list of raw samples -> one batch tensor for :class:`ImageBindModel` (text: B x 77)."""
    if not isinstance(raws, (list, tuple)) or len(raws) == 0:
        raise ValueError(f"{modality}: expected a non-empty list of samples, got {type(raws).__name__}")
    if modality == "text":
        return tokenize(list(raws))
    return torch.stack([preprocess(modality, r, **options) for r in raws])
