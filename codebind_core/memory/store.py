"""SQLite persistence of observations (WAL journal; a row is acknowledged once its commit returns).

A committed row lives in the ``-wal`` file until a checkpoint copies it into the database file
(SQLite checkpoints every 1000 pages, and when the last connection closes). The ``-wal`` file of a
memory that did not close is therefore part of the database: deleted (or left behind by a copy),
the rows acknowledged since the last checkpoint are gone and SQLite opens the rest without a word.
The store marks the database file itself while it is open (meta key ``open_by``, checkpointed at
once) and unmarks it when it closes, after a final checkpoint; a marked file without its ``-wal``
is reported in :attr:`ObservationStore.lost_wal`.

Opening brings an older file to the current schema in place (:mod:`.schema`) and refuses a newer one.
"""
from __future__ import annotations

import errno
import fcntl
import io
import os
import sqlite3
import struct
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .observations.types import Observation
from .schema import upgrade

_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS observations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    modality TEXT NOT NULL,
    codebook_set TEXT NOT NULL,
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

_COLUMNS = ("id, modality, codebook_set, stamp_ns, frame_id, px, py, pz, sx, sy, sz, "
            "bx0, by0, bx1, by1, codes, specific_codes, model_id")


def array_to_blob(arr: np.ndarray) -> bytes:
    """numpy .npy bytes (self-describing, loaded without pickle)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def blob_to_array(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)


def _exclusive_lock(db: Path):
    """An open ``<db>.lock`` holding an exclusive flock (released when closed or the process
    dies); ValueError when another process or object holds it."""
    f = open(f"{db}.lock", "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        if e.errno in (errno.EWOULDBLOCK, errno.EACCES):
            raise ValueError(f"memory database {db} is in use by another memory ({holder}); one database "
                             f"serves one memory node: give this one another db_path") from None
        raise
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()}\n")
    f.flush()
    return f


def _opt(values, n):
    return tuple(values) if values is not None else (None,) * n


OPEN_MARK = "open_by"  # meta key present in the database file while a store has it open


class Closing:
    """``with`` support: the block's end calls ``close()``."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DamagedDatabaseError(ValueError):
    """The database file (or its write-ahead log) is damaged: nothing is served from it."""


def _wal_checksum(data: bytes, s0: int, s1: int, big_endian: bool) -> Tuple[int, int]:
    words = struct.unpack((">" if big_endian else "<") + f"{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def check_wal(wal_path) -> Optional[str]:
    """None when the write-ahead log is sound, else what is wrong with it.

    SQLite replays a WAL up to its first frame whose checksum fails and silently ignores the rest,
    so damage in the middle of a WAL loses every later commit without an error. Frames of the
    current WAL generation carry the header's salt; frames of an older generation (left behind
    when the log restarted) carry another salt and are ignored legitimately. A current-generation
    frame after the first broken one means committed data would be dropped."""
    wal = Path(wal_path)
    if not wal.exists() or wal.stat().st_size == 0:
        return None
    data = wal.read_bytes()
    if len(data) < 32:
        return f"write-ahead log {wal} is truncated ({len(data)} bytes)"
    magic, _, page_size, _, salt1, salt2, c0, c1 = struct.unpack(">8I", data[:32])
    if magic not in (0x377F0682, 0x377F0683):
        return f"write-ahead log {wal} has no valid header"
    big = bool(magic & 1)
    if _wal_checksum(data[:24], 0, 0, big) != (c0, c1):
        return f"write-ahead log {wal} has a damaged header"
    frame = 24 + page_size
    s0, s1 = c0, c1
    broken_at = None
    n_frames = (len(data) - 32) // frame
    for i in range(n_frames):
        off = 32 + i * frame
        head = data[off: off + 24]
        _, _, f_salt1, f_salt2, f0, f1 = struct.unpack(">6I", head)
        current = (f_salt1, f_salt2) == (salt1, salt2)
        if broken_at is None:
            if current:
                s0, s1 = _wal_checksum(head[:8] + data[off + 24: off + frame], s0, s1, big)
                if (s0, s1) == (f0, f1):
                    continue
            broken_at = i
        elif current:
            return (f"write-ahead log {wal} is damaged at frame {broken_at} of {n_frames}: committed "
                    f"frames after it would be silently dropped")
    return None


class ObservationStore:
    """The observations table and a key/value meta table in one SQLite file.

    Opening takes an exclusive lock on ``<db>.lock`` (another process or object holding it: a
    ValueError naming it), checks the write-ahead log and runs SQLite's ``integrity_check``; a
    damaged file raises :class:`DamagedDatabaseError` (a ValueError) naming what is wrong."""

    def __init__(self, db_path, synchronous: str = "FULL"):
        self.path = Path(db_path)
        self._lock_file = None
        self.lost_wal: Optional[str] = None  # what was lost with a missing -wal file, if anything
        self._marked = False
        in_memory = str(db_path) == ":memory:"
        if not in_memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = _exclusive_lock(self.path)
        self.lock = threading.RLock()
        self.conn = None
        try:
            wal_existed = not in_memory and Path(f"{self.path}-wal").exists()
            if not in_memory:
                problem = check_wal(f"{self.path}-wal")
                if problem:
                    raise DamagedDatabaseError(f"memory database {db_path} is damaged: {problem}; move "
                                               f"the file and its -wal aside (or restore a backup) to start")
            self.conn = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(f"PRAGMA synchronous={synchronous}")
            problems = [r[0] for r in self.conn.execute("PRAGMA integrity_check(20)")]
            if problems != ["ok"]:
                raise DamagedDatabaseError(
                    f"memory database {db_path} is damaged (SQLite integrity_check: "
                    f"{'; '.join(problems[:5])}{' ...' if len(problems) > 5 else ''}); move it aside "
                    f"(or restore a backup) to start")
            self.conn.executescript(_META)
            self.schema_found = upgrade(self.conn, str(db_path))  # the version the file had (None: new)
            self.conn.executescript(_SCHEMA)
            if not in_memory:
                self._mark_open(wal_existed)
        except (sqlite3.DatabaseError, ValueError) as e:
            self._release()
            if isinstance(e, ValueError):
                raise
            raise DamagedDatabaseError(f"memory database {db_path} is damaged: {e}; move it aside (or restore "
                                       f"a backup) to start") from e
        except BaseException:
            self._release()
            raise

    def _mark_open(self, wal_existed: bool) -> None:
        """Note a lost write-ahead log, then mark the database file as open (checkpointed)."""
        mark = self.get_meta(OPEN_MARK)
        if mark is not None and not wal_existed:
            self.lost_wal = (
                f"memory database {self.path} was not closed by its last user ({mark.decode(errors='replace')}) "
                f"and its write-ahead log {self.path.name}-wal is missing: every row acknowledged after the "
                f"last checkpoint was in that file and is lost; {self.count()} observations are left. A copy "
                f"of a memory that is running or did not close must include its -wal file")
        self.begin()
        self.set_meta(OPEN_MARK, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S %z')}".encode())
        self.commit()
        self.checkpoint()
        self._marked = True

    def checkpoint(self) -> None:
        """Copy every committed row from the -wal into the database file and empty the -wal."""
        busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise sqlite3.OperationalError(f"checkpoint of {self.path} could not complete (database busy)")

    def _release(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock
            self._lock_file = None

    def close(self) -> None:
        """Checkpoint (every row into the database file while it is still marked open), unmark
        it, close. A failure there is raised after the file and its lock are released."""
        with self.lock:
            try:
                if self.conn is not None and self._marked:
                    self.rollback()
                    self.checkpoint()
                    self.begin()
                    self.delete_meta(OPEN_MARK)
                    self.commit()
                    self.checkpoint()
                    self._marked = False
            finally:
                self._release()

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
                "INSERT INTO observations (modality, codebook_set, stamp_ns, frame_id, px, py, pz, sx, sy, sz, "
                "bx0, by0, bx1, by1, codes, specific_codes, model_id, cell) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (o.modality, o.codebook_set, int(o.stamp_ns), o.frame_id, *_opt(o.position, 3), *_opt(o.size, 3),
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

    def delete_codebook_set(self, codebook_set: str) -> int:
        return self.conn.execute("DELETE FROM observations WHERE codebook_set = ?", (codebook_set,)).rowcount

    def scan(self, chunk: int = 65536) -> Iterator[Tuple[np.ndarray, List[str], List[str], np.ndarray, List[bytes],
                                                         np.ndarray]]:
        """All rows in id order, in chunks: (ids, codebook sets, modalities, stamps, code blobs, cells)."""
        cur = self.conn.execute("SELECT id, codebook_set, modality, stamp_ns, codes, cell FROM observations "
                                "ORDER BY id")
        while True:
            rows = cur.fetchmany(chunk)
            if not rows:
                return
            ids, sets, mods, stamps, blobs, cells = zip(*rows)
            yield (np.asarray(ids, np.int64), list(sets), list(mods), np.asarray(stamps, np.int64),
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
