"""A damaged memory database never starts silently: real SQLite files, damaged in the test.

- garbage in the last page, 4 KB of garbage mid-file: a clear DamagedDatabaseError (integrity check);
- one row with damaged codes: that row is removed and named, every other row is kept;
- garbage in the write-ahead log of a killed process: a clear error, not a start with a fraction
  of the acknowledged rows;
- a second memory on the same file: refused while the first holds it."""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from codebind_core.memory import CodebookSet, Observation, ObservationMemory
from codebind_core.memory.store import DamagedDatabaseError, check_wal

M, K = 8, 64


def _books():
    rng = np.random.default_rng(0)
    return CodebookSet({"depth": rng.standard_normal((K, 4)).astype(np.float32)}, {"depth": M})


def _fill(db, n=500):
    rng = np.random.default_rng(1)
    with ObservationMemory(db, _books()) as mem:
        for a in range(0, n, 50):
            mem.add([Observation("depth", "depth", rng.integers(0, K, M).astype(np.uint16), i, "map")
                     for i in range(a, min(n, a + 50))])
        return len(mem)


def _garble(path, offset, size, seed=2):
    data = bytearray(path.read_bytes())
    data[offset: offset + size] = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def test_an_intact_database_reopens_with_every_row(tmp_path):
    db = tmp_path / "m.db"
    assert _fill(db) == 500
    with ObservationMemory(db, _books()) as mem:
        assert len(mem) == 500 and mem.damaged_rows == []


@pytest.mark.parametrize("where", ["last page", "mid-file"])
def test_garbage_in_the_file_is_a_clear_error(tmp_path, where):
    db = tmp_path / "m.db"
    _fill(db, 2000)
    size = db.stat().st_size
    offset = size - 4096 + 100 if where == "last page" else (size // 2 // 4096) * 4096
    _garble(db, offset, 4096 - 100 if where == "last page" else 4096)
    with pytest.raises(DamagedDatabaseError, match="is damaged|malformed"):
        ObservationMemory(db, _books())
    # and the lock is released: the same process may retry once the file is replaced
    db.unlink()
    assert _fill(db, 10) == 10


def test_one_row_with_damaged_codes_costs_only_itself(tmp_path):
    db = tmp_path / "m.db"
    _fill(db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE observations SET codes = ? WHERE id = 7", (np.full(M, 60000, np.uint16).tobytes(),))
    conn.execute("UPDATE observations SET codes = ? WHERE id = 9", (b"\x01\x02\x03",))  # odd length
    conn.commit()
    conn.close()
    with ObservationMemory(db, _books()) as mem:
        assert mem.damaged_rows == [7, 9] and len(mem) == 498
        hits = mem.search({"depth": np.ones(4 * M, np.float32)}, top_k=100, since_ns=0, until_ns=10)
        assert sorted(h.id for h in hits) == [1, 2, 3, 4, 5, 6, 8, 10, 11]
    with ObservationMemory(db, _books()) as mem:  # removed once, for good
        assert mem.damaged_rows == [] and len(mem) == 498


_WRITER = textwrap.dedent("""
    import os, sys, numpy as np
    sys.path.insert(0, {root!r})
    from tests.test_memory_corruption import _books
    from codebind_core.memory import Observation, ObservationMemory
    mem = ObservationMemory({db!r}, _books())
    mem._store.conn.execute("PRAGMA wal_autocheckpoint=0")
    rng = np.random.default_rng(1)
    for i in range(472):
        mem.add([Observation("depth", "depth", rng.integers(0, 64, 8).astype(np.uint16), i, "map")])
    print("acknowledged", len(mem), flush=True)
    os.kill(os.getpid(), 9)
""")


def test_garbage_in_the_wal_of_a_killed_memory_is_a_clear_error(tmp_path):
    db = tmp_path / "m.db"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", _WRITER.format(root=root, db=str(db))], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == -signal.SIGKILL and "acknowledged 472" in out.stdout, out.stderr
    wal = tmp_path / "m.db-wal"
    backup = tmp_path / "copy"
    backup.mkdir()
    shutil.copy(db, backup / "m.db")
    shutil.copy(wal, backup / "m.db-wal")
    assert check_wal(wal) is None
    with ObservationMemory(backup / "m.db", _books()) as mem:  # the undamaged copy: all 472
        assert len(mem) == 472
    _garble(wal, 32 + 10 * (24 + 4096) + 24, 4096)  # the 11th frame's page
    assert "damaged at frame 10" in check_wal(wal)
    with pytest.raises(DamagedDatabaseError, match="write-ahead log .* is damaged at frame 10"):
        ObservationMemory(db, _books())


def test_a_second_memory_on_the_same_file_is_refused(tmp_path):
    db = tmp_path / "m.db"
    with ObservationMemory(db, _books()):
        with pytest.raises(ValueError, match=r"in use by another memory \(pid \d+\)"):
            ObservationMemory(db, _books())
        code = ("import sys; sys.path.insert(0, %r)\n" % os.getcwd() +
                "from tests.test_memory_corruption import _books\n"
                "from codebind_core.memory import ObservationMemory\n"
                f"ObservationMemory({str(db)!r}, _books())")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert out.returncode == 1 and f"pid {os.getpid()}" in out.stderr and "in use" in out.stderr
    with ObservationMemory(db, _books()) as mem:  # free again once the first closed
        assert len(mem) == 0
