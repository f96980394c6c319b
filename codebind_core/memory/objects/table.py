"""SQLite persistence of memory objects, in the observation store's database and transactions.

The ``objects`` table lives next to ``observations`` in the same file (WAL; one connection, one
lock), so an object is acknowledged exactly like an observation: once the commit of the
transaction that wrote it has returned, it survives a crash of the process (``synchronous``
NORMAL or FULL) and, with FULL, of the machine. Ids are never reused (AUTOINCREMENT). The meta
table keeps the objects' fixed frame and a copy of the codebooks they were quantized with.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..codebooks import CodebookSet
from ..store import ObservationStore, array_to_blob, blob_to_array
from .types import STATUSES, MemoryObject

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    codebook_set TEXT NOT NULL,
    codes BLOB NOT NULL,
    label TEXT NOT NULL,
    px REAL NOT NULL, py REAL NOT NULL, pz REAL NOT NULL,
    sx REAL NOT NULL, sy REAL NOT NULL, sz REAL NOT NULL,
    first_ns INTEGER NOT NULL,
    last_ns INTEGER NOT NULL,
    views INTEGER NOT NULL,
    modalities TEXT NOT NULL,
    status TEXT NOT NULL,
    misses INTEGER NOT NULL,
    moves INTEGER NOT NULL,
    qx REAL, qy REAL, qz REAL,
    moved_ns INTEGER,
    weight REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS object_merges (
    id INTEGER PRIMARY KEY,
    into_id INTEGER NOT NULL
);
"""

_FIELDS = ("codebook_set, codes, label, px, py, pz, sx, sy, sz, first_ns, last_ns, views, modalities, status, "
           "misses, moves, qx, qy, qz, moved_ns, weight")
FRAME_KEY = "objects_fixed_frame"
FINGERPRINT_KEY = "objects_codebooks_fingerprint"
SETS_KEY = "objects_codebook_sets"


def _row(o: MemoryObject) -> tuple:
    prev = o.previous_position or (None, None, None)
    return (o.codebook_set, np.asarray(o.codes, np.uint16).tobytes(), o.label, *map(float, o.position),
            *map(float, o.extent), int(o.first_seen_ns), int(o.last_seen_ns), int(o.views),
            json.dumps(list(o.modalities)), o.status, int(o.misses), int(o.moves), *prev, o.moved_ns, float(o.weight))


class ObjectTable:
    """Reads and writes the ``objects`` table through an open :class:`ObservationStore`; the caller
    holds the store's lock and opens / commits the transaction (``store.begin()`` ... ``commit()``)."""

    def __init__(self, store: ObservationStore):
        self.store = store
        store.conn.executescript(_SCHEMA)

    def insert(self, objs: Sequence[MemoryObject]) -> List[int]:
        """New rows; returns their ids (the objects' own ``id`` is ignored)."""
        cur = self.store.conn.cursor()
        ids = []
        marks = ", ".join("?" * 21)
        for o in objs:
            cur.execute(f"INSERT INTO objects ({_FIELDS}) VALUES ({marks})", _row(o))
            ids.append(int(cur.lastrowid))
        return ids

    def update(self, objs: Sequence[MemoryObject]) -> None:
        sets = ", ".join(f"{f.strip()} = ?" for f in _FIELDS.split(","))
        self.store.conn.executemany(f"UPDATE objects SET {sets} WHERE id = ?", ((*_row(o), int(o.id)) for o in objs))

    def delete(self, ids: Sequence[int]) -> None:
        self.store.conn.executemany("DELETE FROM objects WHERE id = ?", ((int(i),) for i in ids))

    def add_merges(self, merged) -> None:
        """Record that object ``id`` was merged into ``into_id`` (``{id: into_id}``)."""
        self.store.conn.executemany("INSERT OR REPLACE INTO object_merges (id, into_id) VALUES (?, ?)",
                                    ((int(a), int(b)) for a, b in merged.items()))

    def merges(self) -> dict:
        return {int(a): int(b) for a, b in self.store.conn.execute("SELECT id, into_id FROM object_merges")}

    def count(self) -> int:
        return int(self.store.conn.execute("SELECT COUNT(*) FROM objects").fetchone()[0])

    def load(self) -> Tuple[List[MemoryObject], List[int]]:
        """Every readable object, and the ids of rows that are not (wrong blob, bad status)."""
        good, bad = [], []
        for r in self.store.conn.execute(f"SELECT id, {_FIELDS} FROM objects ORDER BY id"):
            try:
                blob = r[2]
                if not isinstance(blob, bytes) or not blob or len(blob) % 2 or r[14] not in STATUSES:
                    raise ValueError
                prev = None if r[17] is None else (float(r[17]), float(r[18]), float(r[19]))
                good.append(MemoryObject(
                    id=int(r[0]), codebook_set=r[1], codes=np.frombuffer(blob, np.uint16).copy(), label=r[3],
                    position=(float(r[4]), float(r[5]), float(r[6])), extent=(float(r[7]), float(r[8]), float(r[9])),
                    first_seen_ns=int(r[10]), last_seen_ns=int(r[11]), views=int(r[12]),
                    modalities=tuple(json.loads(r[13])), status=r[14], misses=int(r[15]), moves=int(r[16]),
                    previous_position=prev, moved_ns=None if r[20] is None else int(r[20]), weight=float(r[21])))
            except (ValueError, TypeError, json.JSONDecodeError):
                bad.append(int(r[0]))
        return good, bad

    # ---- meta: the fixed frame and the codebooks the objects were quantized with --------------
    def fixed_frame(self) -> Optional[str]:
        stored = self.store.get_meta(FRAME_KEY)
        return None if stored is None else stored.decode()

    def set_fixed_frame(self, frame: str) -> None:
        self.store.set_meta(FRAME_KEY, frame.encode())

    def codebooks_fingerprint(self) -> Optional[str]:
        stored = self.store.get_meta(FINGERPRINT_KEY)
        return None if stored is None else stored.decode()

    def write_codebooks(self, codebooks: CodebookSet) -> None:
        st = self.store
        st.set_meta(FINGERPRINT_KEY, codebooks.fingerprint().encode())
        st.set_meta(SETS_KEY, json.dumps(sorted(codebooks.codebook_sets)).encode())
        for name in codebooks.codebook_sets:
            st.set_meta(f"objects_codebook:{name}", array_to_blob(codebooks.book(name)))

    def requantize(self, codebooks: CodebookSet) -> Tuple[int, int]:
        """Re-quantize every object from the stored codebooks to ``codebooks`` (decode with the
        old, nearest codevector of the new); objects of a codebook set the new ones lack (or of
        another dimension) are deleted. Returns (re-quantized, deleted)."""
        st = self.store
        names = json.loads(st.get_meta(SETS_KEY) or b"[]")
        old = {s: blob_to_array(st.get_meta(f"objects_codebook:{s}")) for s in names}
        objs, _ = self.load()
        keep, drop = [], []
        for o in objs:
            ok = o.codebook_set in old and o.codebook_set in codebooks.books
            if ok:
                x = old[o.codebook_set][np.asarray(o.codes, np.int64)].reshape(1, -1)
                ok = x.shape[1] % codebooks.sub_dim(o.codebook_set) == 0
            if ok:
                keep.append(replace(o, codes=codebooks.quantize(o.codebook_set, x)[0]))
            else:
                drop.append(o.id)
        self.update(keep)
        self.delete(drop)
        return len(keep), len(drop)
