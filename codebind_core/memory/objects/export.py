"""The object map as files another program can load: JSON (full, re-importable) and PLY (centres).

JSON (``format: codebind-object-map``, ``version: 2``): the fixed frame, the codebooks'
sha256 fingerprint and one entry per object (:meth:`MemoryObject.to_dict`: id, label,
codebook_set, status, position, extent, first / last seen in ns, views, modalities, misses, moves,
previous position, fused codes). :func:`read_object_map` reads it back, checking every field;
it also reads version 1 maps, whose entries name the codebook set under its former key
(:data:`V1_CODEBOOK_SET_KEY`).

PLY (ASCII 1.0): one vertex per object centre with ``x y z`` (float, fixed frame), the extent
``sx sy sz``, ``red green blue`` (green present, grey gone), ``id`` and the label as a
``list uchar uchar label`` of UTF-8 bytes (at most 255), which point-cloud tools that do not know
the property skip; each label is also in a ``comment object <id> <label>`` header line.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

from ...atomic import atomic_write_text
from .types import GONE, MemoryObject

FORMAT = "codebind-object-map"
VERSION = 2
V1_CODEBOOK_SET_KEY = "path"  # version 1 entries: the codebook set under this key


@dataclass
class ObjectMap:
    """An object map read from a file."""

    frame: str
    codebooks_fingerprint: str
    objects: List[MemoryObject]


def object_map_json(objects: Sequence[MemoryObject], frame: str, fingerprint: str) -> str:
    return json.dumps({"format": FORMAT, "version": VERSION, "frame": frame, "codebooks_fingerprint": fingerprint,
                       "objects": [o.to_dict() for o in objects]}, indent=1)


def write_object_map_json(path, objects: Sequence[MemoryObject], frame: str, fingerprint: str) -> Path:
    """Write the JSON object map atomically (a reader sees the old file or the new one)."""
    return atomic_write_text(path, object_map_json(objects, frame, fingerprint))


def read_object_map(path) -> ObjectMap:
    """Read a JSON object map; ValueError naming what is wrong with it."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read object map {path}: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} file")
    version = doc.get("version")
    if version not in (1, VERSION):
        raise ValueError(f"{path}: unsupported object map version {version!r} (this reads 1 to {VERSION})")
    if not isinstance(doc.get("objects"), list) or not isinstance(doc.get("frame"), str):
        raise ValueError(f"{path}: needs a 'frame' string and an 'objects' list")
    objs = [MemoryObject.from_dict(_entry(d, version)) if isinstance(d, dict) else _bad(path, d)
            for d in doc["objects"]]
    ids = [o.id for o in objs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: object ids are not unique")
    return ObjectMap(doc["frame"], str(doc.get("codebooks_fingerprint", "")), objs)


def _entry(d: dict, version: int) -> dict:
    """An object entry with the current keys (version 1 named the codebook set differently)."""
    if version == 1 and V1_CODEBOOK_SET_KEY in d:
        d = {("codebook_set" if k == V1_CODEBOOK_SET_KEY else k): v for k, v in d.items()}
    return d


def _bad(path, d):
    raise ValueError(f"{path}: an object entry must be a JSON object, got {type(d).__name__}")


def _ply_label(label: str) -> List[int]:
    raw = label.encode("utf-8")[:255]
    return list(raw.decode("utf-8", "ignore").encode("utf-8"))


def object_map_ply(objects: Sequence[MemoryObject], frame: str) -> str:
    head = ["ply", "format ascii 1.0", f"comment codebind object map, frame {frame}"]
    head += [f"comment object {o.id} {' '.join(o.label.split())}" for o in objects]
    head += [f"element vertex {len(objects)}", "property float x", "property float y", "property float z",
             "property float sx", "property float sy", "property float sz", "property uchar red",
             "property uchar green", "property uchar blue", "property int id", "property list uchar uchar label",
             "end_header"]
    rows = []
    for o in objects:
        rgb = "128 128 128" if o.status == GONE else "0 200 0"
        lab = _ply_label(o.label)
        rows.append(" ".join(f"{v:.6f}" for v in (*o.position, *o.extent)) + f" {rgb} {o.id} "
                    + " ".join(str(v) for v in [len(lab), *lab]))
    return "\n".join(head + rows) + "\n"


def write_object_map_ply(path, objects: Sequence[MemoryObject], frame: str) -> Path:
    return atomic_write_text(path, object_map_ply(objects, frame))
