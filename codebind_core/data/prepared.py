"""Preprocessed, cached tensors of a paired dataset split, and the batches built from them.

Raw samples are preprocessed once (``model.preprocess``) into one tensor per modality and stored as
safetensors next to the data (float16 to halve memory; cast back per batch). Captions are
tokenized with the bridge's tokenizer. Training then only indexes tensors.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..atomic import atomic_write

STORE_DTYPE = torch.float16


@dataclass
class PreparedSplit:
    """Model-ready tensors of one split: ``tensors[modality]`` is (N, ...), ``captions`` the N
    texts, ``labels`` the N class ids (or -1 when unlabelled), ``factors`` extra per-sample columns."""

    tensors: Dict[str, torch.Tensor]
    captions: List[str]
    labels: np.ndarray
    factors: Dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.captions)

    def subset(self, idx: Sequence[int]) -> "PreparedSplit":
        idx = np.asarray(idx, dtype=np.int64)
        t = torch.from_numpy(idx)
        return PreparedSplit({k: v[t] for k, v in self.tensors.items()}, [self.captions[i] for i in idx],
                             self.labels[idx], {k: v[idx] for k, v in self.factors.items()})

    def inputs(self, modality: str) -> torch.Tensor:
        """The float32 model input of a modality (all rows)."""
        return self.tensors[modality].float()


class PairDataset(torch.utils.data.Dataset):
    """Item i = {modality: tensor row} for the chosen modalities plus "text" token ids."""

    def __init__(self, split: PreparedSplit, modalities: Sequence[str], tokens: Optional[torch.Tensor]):
        missing = [m for m in modalities if m not in split.tensors]
        if missing:
            raise ValueError(f"split has no {missing} tensors (it has {sorted(split.tensors)})")
        self.split, self.modalities, self.tokens = split, tuple(modalities), tokens

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> Dict[str, torch.Tensor]:
        item = {m: self.split.tensors[m][i] for m in self.modalities}
        if self.tokens is not None:
            item["text"] = self.tokens[i]
        return item


def collate_pairs(items: List[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Stack items into a batch; stored float16 inputs come back as float32."""
    out = {}
    for k in items[0]:
        x = torch.stack([it[k] for it in items])
        out[k] = x.float() if x.is_floating_point() else x
    return out


def cache_key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_or_build(path: Path, build: Callable[[], torch.Tensor]) -> torch.Tensor:
    """A cached tensor from a safetensors file, or `build()` saved there atomically."""
    if path.is_file():
        return load_file(str(path))["x"]
    x = build()
    x = x.to(STORE_DTYPE) if x.is_floating_point() else x
    # a shared cache: readable like any other file
    atomic_write(path, lambda p: save_file({"x": x.contiguous()}, p), mode=0o644)
    return x


def preprocess_in_chunks(preprocess: Callable[[list], torch.Tensor], get_raw: Callable[[int], object], n: int,
                         chunk: int = 128) -> torch.Tensor:
    """Preprocess n raw samples chunk by chunk (bounded memory) into one tensor."""
    parts = []
    for a in range(0, n, chunk):
        parts.append(preprocess([get_raw(i) for i in range(a, min(n, a + chunk))]).to(STORE_DTYPE))
    return torch.cat(parts)
