"""The fast subset of the fuzz benchmark (benchmarks/ros_fuzz.py): malformed, extreme and raw-CDR
messages of every sensor type through real encoder node processes; none crashes or hangs and
every message that reached a node is accounted for in its /diagnostics."""
from __future__ import annotations

import os
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import ros_fuzz  # noqa: E402

PER_SENSOR = 60


def test_fuzz_subset_no_crash_no_hang_nothing_uncounted(tmp_path):
    domain = 1 + (zlib.crc32(b"test_fuzz_scale") + os.getpid()) % 100
    results = ros_fuzz.run(ros_fuzz.MODALITIES, PER_SENSOR, domain=domain, repro_dir=tmp_path, seed=1)
    assert [r.modality for r in results] == list(ros_fuzz.MODALITIES)
    for r in results:
        assert r.sent == PER_SENSOR, r
        assert r.qos.startswith("reliable/"), r  # the accounting below holds for a reliable reader
        assert r.crashes == 0 and r.hangs == 0, r.note
        assert r.uncounted == 0, r
        assert r.raw_cdr > 0 and r.dropped_invalid > 0, r
        assert r.embeddings_seen == r.embedded, r
