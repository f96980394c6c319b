"""benchmarks/query_roundtrip.py's verdict: a round trip is "within 1 ms" of the core query at p50
or not, and its service column leaves out the text encoder only where the encoder ran (new texts;
a repeated text is answered from the node's cache)."""
from __future__ import annotations

import query_roundtrip as Q


def _row(objects_trip, objects_new, core=0.5, encode=0.3, encode_new=0.35):
    flat = lambda ms: [ms] * 9  # noqa: E731 - p50 = p95 = max
    return {"n_obs": 1000, "n_objects": 10, "core objects": flat(core), "core observations": flat(30.0),
            "encode": flat(encode), "encode, new text": flat(encode_new),
            "objects answer": flat(objects_trip), "objects answer, new text": flat(objects_new),
            "observations answer": flat(30.9), "observations answer, new text": flat(31.5)}


def _cells(capsys, row):
    Q.table([row])
    lines = capsys.readouterr().out.splitlines()[2:]
    return {cells[2]: cells for cells in (line.split(" | ") for line in lines)}


def test_within_and_beyond_the_goal(capsys):
    rows = _cells(capsys, _row(objects_trip=1.5, objects_new=1.51))  # 1.0 (exactly) and 1.01 ms above core
    assert rows["objects, repeated text"][7:] == ["1.00", "1.00", "yes |"]
    assert rows["objects, new text"][7:] == ["1.01", "0.66", "no |"]  # service = 1.01 - 0.35 (the encoder ran)
    assert rows["observations, repeated text"][-1] == "yes |" and rows["observations, new text"][-1] == "no |"


def test_a_repeated_texts_service_is_all_of_its_extra_time(capsys):
    rows = _cells(capsys, _row(objects_trip=0.9, objects_new=3.0, encode=2.0))
    assert rows["objects, repeated text"][7:] == ["0.40", "0.40", "yes |"]  # the encoder's 2 ms do not count
    assert rows["objects, new text"][7:] == ["2.50", "2.15", "no |"]
