"""SQLite persistence of observations (WAL journal; a row is acknowledged once its commit returns)."""
from __future__ import annotations

import io
import sqlite3
import threading
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .observation import Observation

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS observations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    modality TEXT NOT NULL,
    path TEXT NOT NULL,
    stamp_ns INTEGER NOT NULL,
    frame_id TEXT NOT NULL,
    px REAL, py REAL, pz REAL,
    sx REAL, sy REAL, sz REAL,
    bx0 REAL, by0 REAL, bx1 REAL, by1 REAL,
    codes BLOB NOT NULL,
    specific_codes BLOB,
    model_id TEXT NOT NULL,
    cell INTEGER
);
"""

_COLUMNS = ("id, modality, path, stamp_ns, frame_id, px, py, pz, sx, sy, sz, "
            "bx0, by0, bx1, by1, codes, specific_codes, model_id")


def array_to_blob(arr: np.ndarray) -> bytes:
    """numpy .npy bytes (self-describing, loaded without pickle)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def blob_to_array(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)


def _opt(values, n):
    return tuple(values) if values is not None else (None,) * n


class ObservationStore:
    """The observations table and a key/value meta table in one SQLite file."""

    def __init__(self, db_path, synchronous: str = "FULL"):
        self.path = Path(db_path)
        if str(db_path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        try:
            self.conn = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(f"PRAGMA synchronous={synchronous}")
            self.conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise ValueError(f"cannot open memory database {db_path}: {e}") from e

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # ---- transactions -----------------------------------------------------------------------
    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    # ---- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Optional[bytes]:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_meta(self, key: str, value: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def delete_meta(self, key: str) -> None:
        self.conn.execute("DELETE FROM meta WHERE key = ?", (key,))

    # ---- observations -----------------------------------------------------------------------
    def insert(self, obs: Sequence[Observation], cells: Sequence[Optional[int]]) -> List[int]:
        """Insert (inside the caller's transaction); returns the new row ids in order."""
        ids = []
        cur = self.conn.cursor()
        for o, cell in zip(obs, cells):
            cur.execute(
                "INSERT INTO observations (modality, path, stamp_ns, frame_id, px, py, pz, sx, sy, sz, "
                "bx0, by0, bx1, by1, codes, specific_codes, model_id, cell) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (o.modality, o.path, int(o.stamp_ns), o.frame_id, *_opt(o.position, 3), *_opt(o.size, 3),
                 *_opt(o.box, 4), np.asarray(o.codes, np.uint16).tobytes(),
                 None if o.specific_codes is None else np.asarray(o.specific_codes, np.uint16).tobytes(),
                 o.model_id, cell))
            ids.append(int(cur.lastrowid))
        return ids

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM observations").fetchone()[0])

    def id_at_offset(self, offset: int) -> Optional[int]:
        """Id of the (offset+1)-th oldest observation."""
        row = self.conn.execute("SELECT id FROM observations ORDER BY id LIMIT 1 OFFSET ?", (int(offset),)).fetchone()
        return None if row is None else int(row[0])

    def delete_through(self, max_id: int) -> int:
        return self.conn.execute("DELETE FROM observations WHERE id <= ?", (int(max_id),)).rowcount

    def delete_path(self, path: str) -> int:
        return self.conn.execute("DELETE FROM observations WHERE path = ?", (path,)).rowcount

    def scan(self, chunk: int = 65536) -> Iterator[Tuple[np.ndarray, List[str], List[str], np.ndarray, List[bytes],
                                                         np.ndarray]]:
        """All rows in id order, in chunks: (ids, paths, modalities, stamps, code blobs, cells)."""
        cur = self.conn.execute("SELECT id, path, modality, stamp_ns, codes, cell FROM observations ORDER BY id")
        while True:
            rows = cur.fetchmany(chunk)
            if not rows:
                return
            ids, paths, mods, stamps, blobs, cells = zip(*rows)
            yield (np.asarray(ids, np.int64), list(paths), list(mods), np.asarray(stamps, np.int64),
                   list(blobs), np.asarray([-1 if c is None else c for c in cells], np.int32))

    def fetch(self, ids: Sequence[int]) -> Dict[int, Observation]:
        """Observations by id (missing ids are absent from the result)."""
        out: Dict[int, Observation] = {}
        ids = [int(i) for i in ids]
        for a in range(0, len(ids), 500):
            part = ids[a: a + 500]
            marks = ",".join("?" * len(part))
            for r in self.conn.execute(f"SELECT {_COLUMNS} FROM observations WHERE id IN ({marks})", part):
                pos = None if r[5] is None else (r[5], r[6], r[7])
                size = None if r[8] is None else (r[8], r[9], r[10])
                box = None if r[11] is None else (r[11], r[12], r[13], r[14])
                spec = None if r[16] is None else np.frombuffer(r[16], np.uint16).copy()
                out[int(r[0])] = Observation(r[1], r[2], np.frombuffer(r[15], np.uint16).copy(), int(r[3]),
                                             r[4], pos, size, box, spec, r[17])
        return out

    def update_cells(self, ids: np.ndarray, cells: np.ndarray) -> None:
        self.conn.executemany("UPDATE observations SET cell = ? WHERE id = ?",
                              zip((int(c) for c in cells), (int(i) for i in ids)))

    def clear_cells(self) -> None:
        self.conn.execute("UPDATE observations SET cell = NULL")

    def update_codes(self, ids: np.ndarray, codes: np.ndarray) -> None:
        self.conn.executemany("UPDATE observations SET codes = ? WHERE id = ?",
                              ((np.asarray(c, np.uint16).tobytes(), int(i)) for c, i in zip(codes, ids)))
