"""Training data sources by name (``data.kind`` of a TrainConfig): each builder turns its options
into one :class:`TargetData` per target modality of the model.

- ``synthbind``: the procedural benchmark (options: ``cache_dir``, ``synth`` = SynthConfig fields,
  ``workers``, ``train_limit``).
- ``pairs_csv``: a CSV of real pairs (options: ``csv``, ``root``, ``columns``, ``template``,
  ``preprocess`` = per-modality preprocessing options).
- ``pairs_folder``: a folder tree of real pairs (options: ``root``, ``template``, ``preprocess``).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List

from .pairs import PairFiles, collate_files, rows_from_csv, rows_from_folder
from .prepared import PairDataset, collate_pairs
from .stream import TargetData

Builder = Callable[[Dict[str, Any], Any], List[TargetData]]


def _options(opts: Dict[str, Any], allowed: Dict[str, Any], kind: str) -> Dict[str, Any]:
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ValueError(f"unknown data.options for {kind!r}: {unknown}; allowed: {sorted(allowed)}")
    return {**allowed, **opts}


def _synthbind(options: Dict[str, Any], model) -> List[TargetData]:
    from .synth_source import SynthSource, synth_config

    o = _options(options, {"cache_dir": "cache/synthbind", "synth": {}, "workers": 2, "train_limit": None}, "synthbind")
    source = SynthSource(synth_config(o["synth"]), o["cache_dir"], workers=o["workers"])
    parts = []
    for t in model.config.targets:
        split = source.prepare(model.config.inputs, "train", ["image", t], limit=o["train_limit"])
        tokens = model.tokenize(split.captions)
        parts.append(TargetData(t, PairDataset(split, ["image", t], tokens), collate_pairs))
    return parts


def _single_target(model, kind: str) -> str:
    if len(model.config.targets) != 1:
        raise ValueError(f"data.kind {kind!r} feeds one target modality; the model has {list(model.config.targets)}")
    return model.config.targets[0]


def _pairs_csv(options: Dict[str, Any], model) -> List[TargetData]:
    o = _options(options, {"csv": None, "root": None, "columns": None, "template": "a photo of a {}.",
                           "preprocess": {}}, "pairs_csv")
    if o["csv"] is None:
        raise ValueError("data.options.csv (path of the pairs CSV) is required for pairs_csv")
    target = _single_target(model, "pairs_csv")
    rows = rows_from_csv(o["csv"], target, o["root"], o["columns"], o["template"])
    pairs = PairFiles(rows, target, model.preprocess, o["preprocess"])
    return [TargetData(target, pairs, collate_files(model.tokenize))]


def _pairs_folder(options: Dict[str, Any], model) -> List[TargetData]:
    o = _options(options, {"root": None, "template": "a photo of a {}.", "bridge": "image", "preprocess": {}},
                 "pairs_folder")
    if o["root"] is None:
        raise ValueError("data.options.root (the pairs folder) is required for pairs_folder")
    target = _single_target(model, "pairs_folder")
    mods = [target] + ([o["bridge"]] if o["bridge"] == "image" else [])
    rows = rows_from_folder(o["root"], mods, o["template"])
    pairs = PairFiles(rows, target, model.preprocess, o["preprocess"])
    return [TargetData(target, pairs, collate_files(model.tokenize))]


DATASETS: Dict[str, Builder] = {"synthbind": _synthbind, "pairs_csv": _pairs_csv, "pairs_folder": _pairs_folder}


def build_training_data(kind: str, options: Dict[str, Any], model) -> List[TargetData]:
    if kind not in DATASETS:
        raise ValueError(f"unknown data.kind {kind!r}; choose from {sorted(DATASETS)}")
    return DATASETS[kind](dict(options or {}), model)
