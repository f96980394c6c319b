"""A memory database whose -wal file is gone never starts silently with fewer rows.

Rows acknowledged since the last checkpoint live only in the write-ahead log. A memory killed
(SIGKILL) with rows there, whose -wal file is then deleted (or a copy made without it), opens with
a clear warning naming what is left; with the -wal kept it opens with every row and no warning; a
memory that closed has checkpointed every row into the file itself and needs no -wal at all."""
from __future__ import annotations

import os
import shutil
import signal
import warnings

import numpy as np
import pytest

from codebind_core.memory import CodebookSet, Observation, ObservationMemory

M, K = 8, 64


def _books():
    rng = np.random.default_rng(0)
    return CodebookSet({"depth": rng.standard_normal((K, 4)).astype(np.float32)}, {"depth": M})


def _rows(a, b):
    rng = np.random.default_rng(a)
    return [Observation("depth", "depth", rng.integers(0, K, M).astype(np.uint16), i, "map") for i in range(a, b)]


def _killed_memory(db):
    """A memory that acknowledged 80 rows (50 checkpointed into the file, 30 only in the -wal), then
    was killed (SIGKILL, in a forked child: nothing of Python's or SQLite's clean-up runs)."""
    pid = os.fork()
    if pid == 0:  # the child never returns into the test
        try:
            mem = ObservationMemory(db, _books())
            mem.store.conn.execute("PRAGMA wal_autocheckpoint=0")  # only the explicit checkpoint below
            for a in range(0, 50, 10):
                mem.add(_rows(a, a + 10))
            mem.store.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # as SQLite does every 1000 pages
            for a in range(50, 80, 10):
                mem.add(_rows(a, a + 10))
            if len(mem) == 80:
                os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    assert os.path.getsize(f"{db}-wal") > 0


def _open_quietly(db):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return ObservationMemory(db, _books())


def test_a_killed_memory_whose_wal_was_deleted_warns_what_is_left(tmp_path):
    db = tmp_path / "m.db"
    _killed_memory(db)
    os.remove(f"{db}-wal")
    with pytest.warns(RuntimeWarning, match=r"was not closed by its last user \(pid \d+ since .*\) and its "
                                            r"write-ahead log m.db-wal is missing: .* 50 observations are left"):
        mem = ObservationMemory(db, _books())
    with mem:
        assert len(mem) == 50 and "is lost" in mem.lost_wal
        mem.add(_rows(100, 110))
    with _open_quietly(db) as mem:  # warned once: the memory closed since, with every row in its file
        assert len(mem) == 60 and mem.lost_wal is None


def test_a_copy_without_its_wal_warns_and_the_original_keeps_every_row(tmp_path):
    db = tmp_path / "m.db"
    _killed_memory(db)
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(db, copy / "m.db")  # the -wal left behind
    with pytest.warns(RuntimeWarning, match="50 observations are left"):
        ObservationMemory(copy / "m.db", _books()).close()
    with _open_quietly(db) as mem:  # with its -wal: all 80, no warning
        assert len(mem) == 80 and mem.lost_wal is None


def test_a_closed_memory_needs_no_wal(tmp_path):
    db = tmp_path / "m.db"
    with _open_quietly(db) as mem:
        mem.store.conn.execute("PRAGMA wal_autocheckpoint=0")
        for a in range(0, 80, 10):
            mem.add(_rows(a, a + 10))
        assert os.path.getsize(f"{db}-wal") > 0  # the rows are in the -wal while open
    assert not os.path.exists(f"{db}-wal") or os.path.getsize(f"{db}-wal") == 0
    copy = tmp_path / "copy.db"
    shutil.copy(db, copy)  # the file alone
    with _open_quietly(copy) as mem:
        assert len(mem) == 80 and mem.lost_wal is None
    with _open_quietly(db) as mem:
        assert len(mem) == 80
