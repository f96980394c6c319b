"""On-disk layout of a generated SynthBind set (one folder per config hash).

    synthbind-<cache_key>/
        meta.json        config, generator version, split ranges, vocabularies, held-out pairs,
                         per-modality shape/dtype; written last ("complete": true)
        <modality>.npy   (N, ...) array per array modality, opened as read-only memmaps
        text.json        N captions
        factors.npz      one (N, ...) column per factor

A folder is written under a temporary name and renamed into place when complete, so readers never
see a half-written set and concurrent generators of the same config do not clash.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Tuple, Union

import numpy as np

from .config import GENERATOR_VERSION, SynthConfig

META = "meta.json"
TEXT = "text.json"
FACTORS = "factors.npz"

Spec = Tuple[Tuple[int, ...], str]


def modality_specs(cfg: SynthConfig) -> Dict[str, Spec]:
    """Per-sample (shape, dtype) of every array modality in ``cfg.modalities`` (text is separate)."""
    s, v, t = cfg.image_size, cfg.video_size, cfg.tactile_size
    table: Dict[str, Spec] = {
        "image": ((s, s, 3), "uint8"),
        "depth": ((s, s), "float32"),
        "thermal": ((s, s), "float32"),
        "pointcloud": ((cfg.pointcloud_points, 6), "float32"),
        "tactile": ((t, t, 3), "uint8"),
        "audio": ((int(round(cfg.audio_seconds * cfg.audio_rate)),), "float32"),
        "video": ((cfg.video_frames, v, v, 3), "uint8"),
        "eeg": ((cfg.eeg_channels, cfg.eeg_samples), "float32"),
    }
    return {m: table[m] for m in cfg.modalities if m in table}


def set_dir(cache_dir: Union[str, Path], cfg: SynthConfig) -> Path:
    """Where the set generated from ``cfg`` lives under ``cache_dir``."""
    return Path(cache_dir) / f"synthbind-{cfg.cache_key()}"


def read_meta(root: Path) -> Dict:
    """The meta.json of a complete set (ValueError if missing, incomplete or of another version)."""
    path = Path(root) / META
    if not path.is_file():
        raise ValueError(f"{root} is not a SynthBind set (no {META})")
    meta = json.loads(path.read_text())
    if not meta.get("complete"):
        raise ValueError(f"{root} is an incomplete SynthBind set")
    if meta.get("version") != GENERATOR_VERSION:
        raise ValueError(f"{root} was made by generator version {meta.get('version')}, this is {GENERATOR_VERSION}")
    return meta


def is_complete(root: Path) -> bool:
    try:
        read_meta(root)
        return True
    except (ValueError, json.JSONDecodeError):
        return False


def allocate(root: Path, cfg: SynthConfig) -> None:
    """Create the (N, ...) .npy files of every array modality, zero-filled, to be written in place."""
    root.mkdir(parents=True, exist_ok=True)
    for name, (shape, dtype) in modality_specs(cfg).items():
        np.lib.format.open_memmap(root / f"{name}.npy", mode="w+", dtype=np.dtype(dtype),
                                  shape=(cfg.num_samples,) + shape).flush()


def open_array(root: Path, name: str, writable: bool = False) -> np.ndarray:
    """Memory-map one modality's array."""
    return np.load(Path(root) / f"{name}.npy", mmap_mode="r+" if writable else "r")
