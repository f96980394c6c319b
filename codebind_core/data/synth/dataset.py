"""SynthBindSet: a generated set on disk, and its splits as torch Datasets.

A sample is a dict::

    {"index": int, "category": int, "factors": {name: int | float | np.ndarray}, "text": str,
     "image": (H, W, 3) uint8, "depth": (H, W) float32 m, "thermal": (H, W) float32 K,
     "pointcloud": (N, 6) float32, "tactile": (h, w, 3) uint8, "audio": (samples,) float32,
     "video": (T, H, W, 3) uint8, "eeg": (C, T) float32}

in the raw units that :mod:`codebind_core.modalities` preprocesses. Arrays are memory-mapped and
opened lazily in each process, so splits are cheap to pickle into DataLoader workers.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from torch.utils.data import Dataset

from .captions import class_prompts
from .config import SPLITS, SynthConfig
from .store import FACTORS, TEXT, open_array, read_meta

Sample = Dict[str, Any]


class SynthBindSet:
    """A complete generated set (see :func:`codebind_core.data.synth.generate`).

    Attributes:
        root: its folder. config: the :class:`SynthConfig` it was made from.
        cache_hit: True when :func:`generate` found it on disk instead of generating it.
        factors: every factor column, (N, ...) numpy arrays (indices into ``vocab`` lists).
        texts: the N captions.
    """

    def __init__(self, root: Union[str, Path], cache_hit: bool = False) -> None:
        self.root = Path(root)
        self.meta = read_meta(self.root)
        self.config = SynthConfig.from_dict(self.meta["config"])
        self.cache_hit = cache_hit
        with np.load(self.root / FACTORS) as data:
            self.factors: Dict[str, np.ndarray] = {k: data[k] for k in data.files}
        self.texts: List[str] = json.loads((self.root / TEXT).read_text())
        self._arrays: Dict[str, np.ndarray] = {}

    @classmethod
    def open(cls, root: Union[str, Path], cache_hit: bool = True) -> "SynthBindSet":
        """Open a set folder (ValueError if it is not a complete set of this generator version)."""
        return cls(root, cache_hit)

    # ---- description ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.meta["num_samples"])

    @property
    def modalities(self) -> tuple:
        return tuple(self.config.modalities)

    @property
    def categories(self) -> tuple:
        """Category names, indexed by the ``category`` label."""
        return self.config.categories

    @property
    def vocab(self) -> Dict[str, tuple]:
        """Names behind the index-valued factors."""
        c = self.config
        return {"category": c.categories, "colour": c.colours, "pattern": c.patterns, "material": c.materials,
                "background": c.backgrounds}

    def class_prompts(self, template: str = "a photo of {np}.") -> List[str]:
        """One zero-shot text prompt per category, in label order."""
        return class_prompts(self.categories, template)

    def indices(self, split: str) -> range:
        """Global sample indices of ``split``."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; known: {list(SPLITS)}")
        start, stop = self.meta["splits"][split]
        return range(start, stop)

    # ---- access -------------------------------------------------------------------------------
    def array(self, modality: str) -> np.ndarray:
        """The read-only (N, ...) memmap of an array modality."""
        if modality not in self.meta["modalities"]:
            raise ValueError(f"modality {modality!r} not in this set; it has {list(self.meta['modalities'])} + text")
        if modality not in self._arrays:
            self._arrays[modality] = open_array(self.root, modality)
        return self._arrays[modality]

    def sample(self, index: int, modalities: Optional[Sequence[str]] = None) -> Sample:
        """Sample ``index`` (global) with the chosen modalities (default: all)."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample index {index} out of range [0, {len(self)})")
        names = self.modalities if modalities is None else tuple(modalities)
        out: Sample = {"index": int(index), "category": int(self.factors["category"][index]),
                       "factors": {k: _scalar(v[index]) for k, v in self.factors.items()}}
        for name in names:
            out[name] = self.texts[index] if name == "text" else np.array(self.array(name)[index])
        return out

    def split(self, name: str, modalities: Optional[Sequence[str]] = None,
              transform: Optional[Callable[[Sample], Any]] = None) -> "SynthBindSplit":
        """``train`` / ``val`` / ``test`` / ``test_unseen`` as a torch Dataset."""
        if modalities is not None:
            missing = [m for m in modalities if m != "text" and m not in self.meta["modalities"]]
            if missing:
                raise ValueError(f"modalities {missing} not in this set")
        return SynthBindSplit(self, name, modalities, transform)

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state["_arrays"] = {}  # memmaps are reopened lazily in the receiving process
        return state


def _scalar(v: np.ndarray) -> Any:
    if np.ndim(v):
        return np.array(v)
    return int(v) if np.issubdtype(np.asarray(v).dtype, np.integer) else float(v)


class SynthBindSplit(Dataset):
    """One split of a :class:`SynthBindSet`; item i is the set's sample ``indices(split)[i]``,
    passed through ``transform`` if given."""

    def __init__(self, base: SynthBindSet, split: str, modalities: Optional[Sequence[str]] = None,
                 transform: Optional[Callable[[Sample], Any]] = None) -> None:
        self.base, self.name = base, split
        self.indices = base.indices(split)
        self.modalities = tuple(base.modalities if modalities is None else modalities)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for split {self.name!r} of size {len(self)}")
        sample = self.base.sample(self.indices[i], self.modalities)
        return self.transform(sample) if self.transform is not None else sample

    @property
    def labels(self) -> np.ndarray:
        """Category label of every item."""
        return self.base.factors["category"][self.indices.start:self.indices.stop]
