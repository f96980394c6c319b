"""benchmarks/query_stages.py stamps a real memory node's answer path in the order the stages
happen, so its table partitions the round trip: a repeated text skips the text encoder, a new one
runs it (tokenizer inside), and the stages of each call add up to its round trip."""
from __future__ import annotations

import numpy as np
import pytest
import query_stages as S
from ros_memory_query import TEXTS, grow_objects, new_text, prepared_database, served_node


@pytest.fixture(scope="module")
def stamped_calls():
    rng = np.random.default_rng(0)
    with prepared_database(None, 2_000, "demo", rng) as (db, model, books, n_obs):
        have = grow_objects(db, books, model, n_obs, 30, rng)
        with served_node(db, model, n_obs, have, S.os.getpid() % 100 + 1, ()) as (node, client):
            stamps: dict = {}
            S.instrument(node, stamps)
            for text in TEXTS[:3]:
                S.call(client, stamps, text)
            repeated = [S.call(client, stamps, TEXTS[i]) for i in range(3)]
            new = [S.call(client, stamps, new_text(i)) for i in range(3)]
            yield repeated, new


def test_the_stamps_follow_the_answer_path(stamped_calls):
    repeated, new = stamped_calls
    for row in new:
        times = [row[k] for k in S.ORDER]
        assert times == sorted(times), row
        assert 0 < row["tok"] < row["e1"] - row["e0"]  # the tokenizer runs inside the encoder
    for row in repeated:  # the node's text cache answers: no encoder, no tokenizer
        assert "e0" not in row and "tok" not in row
        times = [row[k] for k in S.ORDER if k in row]
        assert times == sorted(times) and len(times) == len(S.ORDER) - 2, row


def test_the_stages_add_up_to_the_round_trip(stamped_calls):
    for row in [*stamped_calls[0], *stamped_calls[1]]:
        encoder = (row["e1"] - row["e0"]) if "e0" in row else 0.0
        parts = [row["taken"] - row["t0"], row["h0"] - row["taken"], encoder, row["answer"], row["s0"] - row["h1"],
                 row["s1"] - row["s0"], row["cb"] - row["s1"], row["t1"] - row["cb"]]
        assert min(parts) >= 0 and sum(parts) == pytest.approx(row["t1"] - row["t0"], abs=1e-9)
    assert S.stage_ms(stamped_calls[0], "e0", "e1") is None  # a stage no call had is "-", not 0
