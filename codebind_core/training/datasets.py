"""Training data sources by name (``data.kind`` of a TrainConfig): each builder turns its options
into one :class:`TargetData` per target modality of the model.

- ``synthbind``: the procedural benchmark (options: ``cache_dir``, ``synth`` = SynthConfig fields,
  ``workers``, ``train_limit``).
- ``pairs_csv``: a CSV of real pairs (options: ``csv``, ``root``, ``columns``, ``template``,
  ``preprocess``, and the held-out split below).
- ``pairs_folder``: a folder tree of real pairs (options: ``root``, ``template``, ``bridge``,
  ``preprocess``, and the held-out split below).

``preprocess`` = per-modality preprocessing options; training saves them in the model
(``config.preprocess``). The held-out split (:mod:`.pairs_split`): ``holdout_fraction``,
``holdout_list``, ``holdout_seed``; training uses the rest. ``cache_dir`` (default
``cache/pairs``; null = preprocess on access) and ``workers``: files are preprocessed once
(:mod:`.pairs_cache`).
"""
from __future__ import annotations

from typing import Any, Dict, List

from .pairs import PairFiles, collate_files, rows_from_csv, rows_from_folder
from .pairs_cache import CachedPairs
from .pairs_split import split_rows
from ..data.prepared import PairDataset, collate_pairs
from .stream import TargetData
from ..data.synth_source import SynthSource, synth_config


HOLDOUT = {"holdout_fraction": 0.0, "holdout_list": None, "holdout_seed": 0,
           "cache_dir": "cache/pairs", "workers": 2}
PAIRS_OPTIONS: Dict[str, Dict[str, Any]] = {
    "pairs_csv": {"csv": None, "root": None, "columns": None, "template": "a photo of a {}.", "preprocess": {},
                  **HOLDOUT},
    "pairs_folder": {"root": None, "template": "a photo of a {}.", "bridge": "image", "preprocess": {}, **HOLDOUT},
}


def _options(opts: Dict[str, Any], allowed: Dict[str, Any], kind: str) -> Dict[str, Any]:
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ValueError(f"unknown data.options for {kind!r}: {unknown}; allowed: {sorted(allowed)}")
    return {**allowed, **opts}


def _synthbind(options: Dict[str, Any], model) -> List[TargetData]:
    o = _options(options, {"cache_dir": "cache/synthbind", "synth": {}, "workers": 2, "train_limit": None}, "synthbind")
    source = SynthSource(synth_config(o["synth"]), o["cache_dir"], workers=o["workers"])
    parts = []
    for t in model.config.targets:
        split = source.prepare(model.config.inputs, "train", ["image", t], limit=o["train_limit"])
        tokens = model.tokenize(split.captions)
        parts.append(TargetData(t, PairDataset(split, ["image", t], tokens), collate_pairs))
    return parts


def _single_target(targets, kind: str) -> str:
    if len(targets) != 1:
        raise ValueError(f"data.kind {kind!r} feeds one target modality; the model has {list(targets)}")
    return targets[0]


def pairs_options(kind: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """The options of a ``pairs_*`` kind with their defaults (unknown ones are an error)."""
    if kind not in PAIRS_OPTIONS:
        raise ValueError(f"data.kind {kind!r} is not a pairs dataset; choose from {sorted(PAIRS_OPTIONS)}")
    o = _options(dict(options or {}), PAIRS_OPTIONS[kind], kind)
    need = "csv" if kind == "pairs_csv" else "root"
    if o[need] is None:
        raise ValueError(f"data.options.{need} is required for {kind}")
    return o


def pair_rows(kind: str, options: Dict[str, Any], targets, split: str = "train") -> List[Dict[str, Any]]:
    """Rows {modality: path, "text", "label", "class", "key"} of one split of a pairs dataset."""
    o = pairs_options(kind, options)
    target = _single_target(targets, kind)
    if kind == "pairs_csv":
        rows = rows_from_csv(o["csv"], target, o["root"], o["columns"], o["template"])
    else:
        rows = rows_from_folder(o["root"], [target] + ([o["bridge"]] if o["bridge"] == "image" else []),
                                o["template"])
    return split_rows(rows, split, o["holdout_fraction"], o["holdout_list"], o["holdout_seed"])


def preprocess_options(kind: str, options: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """The per-modality preprocessing options a data source trains with (saved in the model)."""
    return dict(pairs_options(kind, options)["preprocess"]) if kind in PAIRS_OPTIONS else {}


def _pairs(kind: str):
    def build(options: Dict[str, Any], model) -> List[TargetData]:
        o = pairs_options(kind, options)
        rows = pair_rows(kind, o, model.config.targets, "train")
        target = model.config.targets[0]
        if o["cache_dir"] is None:
            pairs = PairFiles(rows, target, model.preprocess, o["preprocess"])
        else:
            pairs = CachedPairs(rows, model, o["preprocess"], o["cache_dir"], o["workers"])
        return [TargetData(target, pairs, collate_files(model.tokenize))]
    return build


DATASETS: Dict[str, Any] = {"synthbind": _synthbind, "pairs_csv": _pairs("pairs_csv"),
                            "pairs_folder": _pairs("pairs_folder")}


def build_training_data(kind: str, options: Dict[str, Any], model) -> List[TargetData]:
    if kind not in DATASETS:
        raise ValueError(f"unknown data.kind {kind!r}; choose from {sorted(DATASETS)}")
    return DATASETS[kind](dict(options or {}), model)
