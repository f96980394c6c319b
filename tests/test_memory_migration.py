"""A memory database written before the codebook-set rename (schema version 1) opens after an
in-place upgrade with every row and code intact; the upgrade is atomic and idempotent; a file of a
newer schema is refused untouched; version-1 object maps still import.

The fixture tests/data/memory_v1.sqlite was written by the code of schema version 1 with
``.venv/bin/python tests/data/make_memory_v1.py tests/data/memory_v1.sqlite`` (contents in that
script's docstring). Every test works on a copy.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from codebind_core.memory import CodebookSet, ObjectConfig, ObjectMemory, ObservationMemory, read_object_map
from codebind_core.memory.schema import SCHEMA_VERSION, NewerSchemaError, stored_version, upgrade
from codebind_core.memory.store import blob_to_array

FIXTURE = Path(__file__).parent / "data" / "memory_v1.sqlite"
N_DEPTH, N_AUDIO, N_OBJECTS = 120, 40, 4


@pytest.fixture
def old_db(tmp_path) -> Path:
    db = tmp_path / "memory.db"
    shutil.copy(FIXTURE, db)
    return db


def _raw(db: Path):
    """(observation rows, object rows, meta) read with plain sqlite3, whatever the schema."""
    with sqlite3.connect(db) as conn:
        obs = conn.execute("SELECT * FROM observations ORDER BY id").fetchall()
        objs = conn.execute("SELECT * FROM objects ORDER BY id").fetchall()
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    return obs, objs, meta


def _dump(db: Path) -> list:
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


def _columns(db: Path, table: str) -> list:
    with sqlite3.connect(db) as conn:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def _books(meta) -> CodebookSet:
    """The codebooks the fixture was written with, from its own meta table."""
    return CodebookSet({s: blob_to_array(meta[f"codebook:{s}"]) for s in json.loads(meta["codebook_paths"])})


def test_the_fixture_is_a_version_1_file():
    obs, objs, meta = _raw(FIXTURE)
    assert meta["schema_version"] == b"1" and "path" in _columns(FIXTURE, "observations")
    assert "path" in _columns(FIXTURE, "objects") and "codebook_set" not in _columns(FIXTURE, "observations")
    assert (len(obs), len(objs)) == (N_DEPTH + N_AUDIO, N_OBJECTS)


def test_a_version_1_database_opens_with_every_row_and_code(old_db):
    raw_obs, raw_objs, meta = _raw(old_db)
    books = _books(meta)
    with ObjectMemory.open(old_db, books, object_config=ObjectConfig("map")) as mem:
        assert mem.observations.store.schema_found == 1
        assert len(mem.observations) == N_DEPTH + N_AUDIO and len(mem) == N_OBJECTS
        assert not mem.observations.damaged_rows and not mem.damaged_objects
        assert mem.observations.reindexed == 0 and mem.requantized == 0
        assert sorted(mem.observations.codebook_sets) == ["audio", "depth"]
        got = mem.observations.get([r[0] for r in raw_obs])
        assert len(got) == len(raw_obs)
        for r in raw_obs:  # id, modality, path, stamp_ns, frame_id, px..pz, sx..sz, bx0..by1, codes, spec, model, cell
            o = got[r[0]]
            assert (o.modality, o.codebook_set, o.stamp_ns, o.frame_id, o.model_id) == (r[1], r[2], r[3], r[4], r[17])
            assert o.position == (None if r[5] is None else tuple(r[5:8]))
            assert o.size == (None if r[8] is None else tuple(r[8:11]))
            assert o.box == (None if r[11] is None else tuple(r[11:15]))
            np.testing.assert_array_equal(o.codes, np.frombuffer(r[15], np.uint16))
            if r[16] is None:
                assert o.specific_codes is None
            else:
                np.testing.assert_array_equal(o.specific_codes, np.frombuffer(r[16], np.uint16))
        objs = mem.objects()
        assert [o.id for o in objs] == [r[0] for r in raw_objs]
        for o, r in zip(objs, raw_objs):  # id, path, codes, label, px..pz, sx..sz, first, last, views
            assert (o.codebook_set, o.label, o.views, o.first_seen_ns, o.last_seen_ns) == (r[1], r[3], r[12], r[10],
                                                                                           r[11])
            np.testing.assert_array_equal(o.codes, np.frombuffer(r[2], np.uint16))
            assert o.position == tuple(r[4:7])
        assert objs[0].label == "renamed label"
        # searches find the stored codes: a query equal to a row's decoded vector scores 1 on that row
        row = raw_obs[7]
        q = books.decode("depth", np.frombuffer(row[15], np.uint16))[0]
        (hit,) = mem.observations.search({"depth": q}, top_k=1, exact=True)
        assert hit.id == row[0] and hit.score == pytest.approx(1.0, abs=1e-5)
        q = books.decode("depth", objs[2].codes)[0]
        assert mem.query({"depth": q}, top_k=1)[0].object.id == objs[2].id
        # and it keeps working as a current memory
        (new_id,) = mem.observations.add([replace(got[row[0]], stamp_ns=10 ** 6)])
        assert new_id == raw_obs[-1][0] + 1
    assert _columns(old_db, "observations")[2] == "codebook_set" and "path" not in _columns(old_db, "observations")
    assert "codebook_set" in _columns(old_db, "objects") and "path" not in _columns(old_db, "objects")
    _, _, meta = _raw(old_db)
    assert meta["schema_version"] == str(SCHEMA_VERSION).encode() == b"2"
    assert json.loads(meta["codebook_sets"]) == json.loads(meta["objects_codebook_sets"]) == ["audio", "depth"]
    assert not any(k.endswith("codebook_paths") for k in meta)


def test_the_upgrade_is_idempotent(old_db):
    books = _books(_raw(old_db)[2])
    ObjectMemory.open(old_db, books, object_config=ObjectConfig("map")).close()
    once = _dump(old_db)
    with ObjectMemory.open(old_db, books, object_config=ObjectConfig("map")) as mem:
        assert mem.observations.store.schema_found == SCHEMA_VERSION
        assert len(mem.observations) == N_DEPTH + N_AUDIO and len(mem) == N_OBJECTS
    assert _dump(old_db) == once
    with sqlite3.connect(old_db, isolation_level=None) as conn:
        assert upgrade(conn, str(old_db)) == SCHEMA_VERSION == stored_version(conn)
    assert _dump(old_db) == once


def test_a_new_database_starts_at_the_current_version(tmp_path):
    books = _books(_raw(FIXTURE)[2])
    with ObjectMemory.open(tmp_path / "new.db", books) as mem:
        assert mem.observations.store.schema_found is None
    assert _raw(tmp_path / "new.db")[2]["schema_version"] == b"2"
    assert "codebook_set" in _columns(tmp_path / "new.db", "observations")
    assert "codebook_set" in _columns(tmp_path / "new.db", "objects")


def test_a_newer_schema_is_refused_untouched(old_db):
    books = _books(_raw(old_db)[2])
    with sqlite3.connect(old_db) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (b"3",))
    before = _dump(old_db)
    with pytest.raises(NewerSchemaError, match="schema version 3; this codebind reads versions up to 2"):
        ObservationMemory(old_db, books)
    assert _dump(old_db) == before
    with sqlite3.connect(old_db) as conn:  # the lock is released: back to version 1, it opens
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (b"1",))
    with ObservationMemory(old_db, books) as mem:
        assert len(mem) == N_DEPTH + N_AUDIO


def test_a_version_that_is_not_a_number_is_refused(old_db):
    with sqlite3.connect(old_db) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (b"two",))
    with pytest.raises(ValueError, match="is damaged: its schema_version 'two' is not a number"):
        ObservationMemory(old_db, _books(_raw(FIXTURE)[2]))


_CRASH = """
import os, sys
sys.path.insert(0, {root!r})
from codebind_core.memory import schema
step = schema._UPGRADES[1]
def crash(conn):
    step(conn)  # the column is renamed inside the transaction ...
    os._exit(7)  # ... and the process dies before the commit
schema._UPGRADES[1] = crash
from codebind_core.memory.store import ObservationStore
ObservationStore({db!r})
"""


def test_an_upgrade_killed_half_way_leaves_version_1(old_db):
    before = _dump(old_db)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", _CRASH.format(root=root, db=str(old_db))], timeout=120)
    assert proc.returncode == 7
    assert _dump(old_db) == before and "path" in _columns(old_db, "observations")
    books = _books(_raw(old_db)[2])
    with ObjectMemory.open(old_db, books, object_config=ObjectConfig("map")) as mem:
        assert mem.observations.store.schema_found == 1
        assert len(mem.observations) == N_DEPTH + N_AUDIO and len(mem) == N_OBJECTS


def test_a_version_1_object_map_imports(old_db, tmp_path):
    books = _books(_raw(old_db)[2])
    with ObjectMemory.open(old_db, books, object_config=ObjectConfig("map")) as mem:
        new = json.loads(mem.export_json(tmp_path / "map.json").read_text())
        assert new["version"] == 2 and all(e["codebook_set"] == "depth" for e in new["objects"])
    old = dict(new, version=1, objects=[{("path" if k == "codebook_set" else k): v for k, v in e.items()}
                                        for e in new["objects"]])
    (tmp_path / "v1.json").write_text(json.dumps(old))
    read = read_object_map(tmp_path / "v1.json")
    assert [o.codebook_set for o in read.objects] == ["depth"] * N_OBJECTS
    assert [o.to_dict() for o in read.objects] == new["objects"]
    (tmp_path / "v3.json").write_text(json.dumps(dict(new, version=3)))
    with pytest.raises(ValueError, match="unsupported object map version 3"):
        read_object_map(tmp_path / "v3.json")
