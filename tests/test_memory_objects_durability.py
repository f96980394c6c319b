"""Object memory on disk: acknowledged objects survive SIGKILL; damaged rows cost only themselves;
objects follow a codebook change (re-quantized)."""
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np

from codebind_core.memory import CodebookSet, MemoryConfig, ObjectConfig, ObjectMemory, ObjectProposal

M = 8


def _books(seed=0):
    b = np.random.default_rng(seed).standard_normal((64, 4)).astype(np.float32)
    return CodebookSet({"pointcloud": b / np.linalg.norm(b, axis=1, keepdims=True)})


_WRITER = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, {root!r})
    from tests.test_memory_objects_durability import _books
    from codebind_core.memory import ObjectMemory, ObjectProposal, Observation
    mem = ObjectMemory.open({db!r}, _books())
    rng = np.random.default_rng(1)
    i = 0
    while True:   # until killed: a new object every step, every other step one more view of the previous one
        codes = rng.integers(0, 64, 8)
        props = [ObjectProposal("pointcloud", i, (2.0 * i, 0.0, 0.0), codes=codes)]
        if i % 2 and i > 0:
            props.append(ObjectProposal("pointcloud", i, (2.0 * (i - 1) + 0.01, 0.0, 0.0), codes=last))
        res = mem.observe(props)
        for oid in res.object_ids:
            o = mem.get(oid)
            print("object", oid, repr(o.position[0]), o.views, flush=True)
        (obs,) = mem.observations.add([Observation("audio", "pointcloud", codes, i, "map")])
        print("observation", obs, flush=True)
        last, i = codes, i + 1
""")


def test_acknowledged_objects_survive_sigkill(tmp_path):
    db = tmp_path / "m.db"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    child = subprocess.Popen([sys.executable, "-c", _WRITER.format(root=root, db=str(db))], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    acked, obs_acked = {}, 0
    try:
        for line in child.stdout:
            kind, *rest = line.split()
            if kind == "object":
                acked[int(rest[0])] = (float(rest[1]), int(rest[2]))
            else:
                obs_acked = int(rest[0])
            if len(acked) >= 150:
                break
    finally:
        child.send_signal(signal.SIGKILL)   # mid-run: it keeps writing until the signal lands
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr.read()
    assert len(acked) >= 150
    with ObjectMemory.open(db, _books()) as mem:
        for oid, (x, views) in acked.items():
            got = mem.get(oid)
            assert got is not None, oid
            assert got.views >= views
            if got.views == views:   # the acknowledged state itself, to the bit
                assert got.position[0] == x
        assert len(mem.observations) >= obs_acked and mem.damaged_objects == []
        assert len(mem.observations.get(range(1, obs_acked + 1))) == obs_acked


def test_a_damaged_object_row_costs_only_itself(tmp_path):
    db = tmp_path / "m.db"
    with ObjectMemory.open(db, _books()) as mem:
        mem.observe([ObjectProposal("pointcloud", 1, (3.0 * i, 0, 0), codes=np.full(M, i)) for i in range(5)])
    conn = sqlite3.connect(db)
    conn.execute("UPDATE objects SET codes = ? WHERE id = 2", (np.full(M, 60000, np.uint16).tobytes(),))
    conn.execute("UPDATE objects SET codes = ? WHERE id = 4", (b"\x01\x02\x03",))
    conn.commit()
    conn.close()
    with ObjectMemory.open(db, _books()) as mem:
        assert mem.damaged_objects == [2, 4] and [o.id for o in mem.objects()] == [1, 3, 5]
    with ObjectMemory.open(db, _books()) as mem:   # removed once, for good
        assert mem.damaged_objects == [] and len(mem) == 3


def test_objects_are_requantized_when_the_codebooks_change(tmp_path):
    db = tmp_path / "m.db"
    old, new = _books(0), _books(1)
    codes = np.arange(M) * 7
    with ObjectMemory.open(db, old) as mem:
        mem.observe([ObjectProposal("pointcloud", 1, (0.0, 0, 0), codes=codes)])
    with ObjectMemory.open(db, new, memory_config=MemoryConfig(on_codebook_mismatch="reindex"),
                           object_config=ObjectConfig()) as mem:
        assert mem.requantized == 1
        np.testing.assert_array_equal(mem.get(1).codes, new.quantize("pointcloud", old.decode("pointcloud", codes))[0])
    with ObjectMemory.open(db, new) as mem:   # the new fingerprint is recorded: no second pass
        assert mem.requantized == 0 and len(mem) == 1
