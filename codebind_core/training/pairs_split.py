"""The held-out part of a ``pairs_*`` dataset, by fraction or by file list, deterministic.

Every row has a ``key``: ``<class>/<stem>`` in a pairs folder, the target column's path as written
in a pairs CSV. ``holdout_fraction: f`` holds out round(f * n) rows of each class (n rows; at
least one stays for training), those whose sha256(``holdout_seed``:key) is smallest, so the split
depends only on the keys, not on file order, and adding files moves few rows. ``holdout_list``
names a text file with one key per line (``#`` comments); every listed key must exist.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional

SPLITS = ("train", "holdout", "all")


def _score(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def read_key_list(path: str | Path) -> List[str]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ValueError(f"holdout_list not found: {p}")
    keys = [line.split("#", 1)[0].strip() for line in p.read_text().splitlines()]
    return [k for k in keys if k]


def holdout_keys(rows: List[Dict[str, Any]], fraction: float = 0.0, key_list: Optional[str | Path] = None,
                 seed: int = 0) -> set:
    """Keys of the held-out rows (see the module docstring)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in [0, 1), got {fraction}")
    if fraction and key_list is not None:
        raise ValueError("give holdout_fraction or holdout_list, not both")
    keys = [r["key"] for r in rows]
    if key_list is not None:
        listed = read_key_list(key_list)
        unknown = sorted(set(listed) - set(keys))
        if unknown:
            raise ValueError(f"holdout_list {key_list}: {len(unknown)} keys match no pair, e.g. {unknown[:3]} "
                             f"(keys look like {keys[0]!r})")
        return set(listed)
    by_class: Dict[Any, List[str]] = defaultdict(list)
    for r in rows:
        by_class[r.get("label", -1)].append(r["key"])
    held = set()
    for members in by_class.values():
        n = min(int(round(fraction * len(members))), len(members) - 1)
        held.update(sorted(members, key=lambda k: _score(seed, k))[:max(n, 0)])
    return held


def split_rows(rows: List[Dict[str, Any]], which: str, fraction: float = 0.0,
               key_list: Optional[str | Path] = None, seed: int = 0) -> List[Dict[str, Any]]:
    """The ``train`` rows, the ``holdout`` rows or ``all`` of them."""
    if which not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {which!r}")
    if which == "all":
        return list(rows)
    held = holdout_keys(rows, fraction, key_list, seed)
    out = [r for r in rows if (r["key"] in held) == (which == "holdout")]
    if not out:
        raise ValueError(f"the {which} split is empty: set data.options.holdout_fraction or holdout_list"
                         if which == "holdout" else "every pair is held out: nothing left to train on")
    return out
