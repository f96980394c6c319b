"""SynthBind as a training/evaluation source: generate (cached), preprocess (cached), split.

Every modality of a SynthBind sample is preprocessed exactly as a user's sensor data would be
(:mod:`codebind_core.modalities` via ``model.preprocess``), with the options the generator's
sensors need (1 s audio clips, 16-channel EEG), and cached as tensors keyed by the data and the
model's input geometry.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np

from ..config import InputConfig
from .synth import SynthBindSet, SynthConfig, generate
from ..modalities import get as get_modality
from ..modalities import model_options
from .prepared import PreparedSplit, cache_key, load_or_build, preprocess_in_chunks

# factor columns kept with every prepared split (all scalar factors of the generator)
SCALAR_FACTORS = ("category", "colour", "pattern", "material", "background", "subject", "heldout",
                  "occluded", "temperature", "ambient_temperature", "scale", "wall_distance", "video_speed")


def sensor_options(cfg: SynthConfig) -> Dict[str, Dict[str, Any]]:
    """Preprocessing options matching the generator's sensors (beyond the model geometry)."""
    return {
        "audio": {"sample_rate": cfg.audio_rate, "resample": cfg.audio_rate != 16000, "num_clips": 1,
                  "clip_seconds": cfg.audio_seconds},
        "eeg": {"num_channels": cfg.eeg_channels},
    }


def synth_config(options: Dict[str, Any]) -> SynthConfig:
    """A SynthConfig from the ``data.options.synth`` mapping (unknown keys raise ValueError)."""
    return SynthConfig.from_dict(dict(options or {}))


class SynthSource:
    """Prepared splits of one SynthBind set for one model geometry."""

    def __init__(self, cfg: SynthConfig, cache_dir: str | Path, workers: int = 2, progress: bool = False):
        self.cfg = cfg
        self.cache_dir = Path(cache_dir).expanduser()
        self.set = generate(cfg, self.cache_dir, workers=workers, progress=progress)
        self.options = sensor_options(cfg)

    @classmethod
    def open(cls, root: str | Path, cache_dir: str | Path) -> "SynthSource":
        """A source over an already generated set folder (never generates; for worker processes)."""
        src = cls.__new__(cls)
        src.set = SynthBindSet.open(root)
        src.cfg, src.cache_dir = src.set.config, Path(cache_dir).expanduser()
        src.options = sensor_options(src.cfg)
        return src

    @property
    def categories(self) -> tuple:
        return self.set.categories

    def class_prompts(self, template: str = "a photo of {np}.") -> list:
        return self.set.class_prompts(template)

    def prepare(self, inputs: InputConfig, split: str, modalities: Sequence[str],
                limit: Optional[int] = None) -> PreparedSplit:
        """Preprocessed tensors of `modalities` for `split` (first `limit` samples if given), shaped
        for a model whose input geometry is `inputs` (``CodeBindConfig.inputs``)."""
        idx = self.set.indices(split)
        if limit is not None:
            idx = idx[:limit]
        geometry = dataclasses.asdict(inputs)
        tensors = {}
        for m in modalities:
            if m == "text":
                continue
            opts = {**model_options(m, inputs), **self.options.get(m, {})}
            key = cache_key(self.set.meta.get("key", self.cfg.cache_key()), split, len(idx), m, geometry, opts)
            path = self.cache_dir / "prepared" / f"{split}-{m}-{key}.safetensors"
            arr = self.set.array(m)
            tensors[m] = load_or_build(path, lambda: preprocess_in_chunks(
                lambda raws: get_modality(m).preprocess_batch(raws, **opts), lambda i: np.array(arr[idx[i]]), len(idx)))
        captions = [self.set.texts[i] for i in idx]
        factors = {k: self.set.factors[k][idx.start:idx.stop] for k in SCALAR_FACTORS if k in self.set.factors}
        return PreparedSplit(tensors, captions, factors["category"].astype(np.int64), factors)
