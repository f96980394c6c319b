"""A SynthBind split for a trained model: open the data a run used, embed a split per codebook set.

Shared by ``codebind-codebook fit`` (post-hoc codebooks fitted on the training split) and the
robot metric (:mod:`codebind_core.evaluation.robot_metric`, test split).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import yaml
from ..data.synth_source import SynthSource, synth_config
from ..inference import check_modality, embed_cls


def open_synth(data: Union[str, Path], cache_dir: Optional[Union[str, Path]] = None):
    """A :class:`~codebind_core.data.synth_source.SynthSource` from a training config YAML
    (its ``data`` section, kind ``synthbind``; generated under its cache_dir when missing) or
    from the folder of an already generated SynthBind set."""
    path = Path(data).expanduser()
    if path.is_dir():
        if not (path / "meta.json").is_file():
            raise ValueError(f"{path} is not a generated SynthBind set (no meta.json)")
        return SynthSource.open(path, cache_dir or path.parent)
    if not path.is_file():
        raise ValueError(f"--data {path}: no such training config or SynthBind set folder")
    raw = yaml.safe_load(path.read_text()) or {}
    section = raw.get("data", raw)
    if section.get("kind", "synthbind") != "synthbind":
        raise ValueError(f"{path}: data kind {section.get('kind')!r}; only SynthBind data is supported here")
    opts = section.get("options", {})
    return SynthSource(synth_config(opts.get("synth", {})), cache_dir or opts.get("cache_dir", "cache/synthbind"),
                       workers=opts.get("workers", 2))


def set_modalities(model, codebook_set: str) -> List[str]:
    """The target modalities quantized with ``codebook_set`` (all targets for ``unified``)."""
    return list(model.config.targets) if codebook_set == "unified" else [codebook_set]


def check_available(source, modalities: Sequence[str]) -> None:
    have = set(source.set.config.modalities)
    missing = [m for m in modalities if m != "text" and m not in have]
    if missing:
        raise ValueError(f"the SynthBind set has no {missing} (it has {sorted(have)}); "
                         "generate it with those modalities")


def embed_for_sets(model, source, split: str = "train", limit: Optional[int] = None,
                   with_text: bool = True, batch_size: int = 128) -> Dict[str, np.ndarray]:
    """Codebook set -> (N, D) float shared embeddings of ``split``: each target of the set, and
    (``with_text``) the captions embedded for that set, stacked."""
    sets = list(model.config.codebook_sets())
    targets = sorted({m for s in sets for m in set_modalities(model, s)})
    check_available(source, targets)
    prepared = source.prepare(model.config.inputs, split, targets, limit=limit)
    out: Dict[str, np.ndarray] = {}
    for s in sets:
        parts = [float_shared(model, m, prepared.inputs(m), s, batch_size) for m in set_modalities(model, s)]
        if with_text:
            parts.append(float_shared(model, "text", list(prepared.captions), s, batch_size))
        out[s] = np.concatenate(parts)
    return out


@torch.no_grad()
def float_shared(model, modality: str, inputs, codebook_set: Optional[str] = None, batch_size: int = 128) -> np.ndarray:
    """(N, D) unit shared embeddings before any quantization: the encode path (trunk -> head ->
    clip pooling, :func:`~codebind_core.inference.embed_cls`) without its codebooks."""
    check_modality(model, modality)
    device = next(model.parameters()).device
    parts = []
    for i in range(0, len(inputs), batch_size):
        x = inputs[i:i + batch_size]
        cls, clips = model._cls(modality, x.to(device) if torch.is_tensor(x) else x)
        shared = embed_cls(model.heads[modality], cls, specific=False, clips=clips)[0]
        parts.append(shared.float().cpu().numpy())
    return np.concatenate(parts)
