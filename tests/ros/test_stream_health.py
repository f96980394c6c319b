"""StreamMonitor: loss from the middleware's event and from sequence gaps, counted once."""
from __future__ import annotations

from codebind_ros.messaging.stream_health import StreamMonitor

GID = {"implementation_identifier": "rmw", "data": [7, 7, 7]}


def _info(seq, gid=GID):
    return {"publication_sequence_number": seq, "publisher_gid": gid}


def test_sequence_gaps_of_a_reliable_reader_are_counted_without_any_middleware_event():
    now = [0.0]
    reported = []
    mon = StreamMonitor("/camera", 0.0, on_lost=reported.append, clock=lambda: now[0])
    for seq in (1, 2, 3, 9, 10):  # 4..8 overwritten in the reader's history: no event fires
        mon.on_message(_info(seq))
    now[0] = 2.0  # past the reorder grace
    values = mon.values()
    assert values["lost_in_transport"] == "5" and values["lost_sequence_gaps"] == "5"
    assert values["lost_reported"] == "0" and sum(reported) == 5 and mon.messages == 5


def test_a_loss_seen_by_both_the_event_and_the_sequence_is_counted_once():
    now = [0.0]
    reported = []
    mon = StreamMonitor("/camera", 0.0, on_lost=reported.append, clock=lambda: now[0])
    for seq in (1, 2, 6):
        mon.on_message(_info(seq))
    mon.on_message_lost(3)  # the middleware reports the same three best-effort samples (3..5)
    now[0] = 2.0
    assert mon.expire() == 3 and sum(reported) == 3
    mon.on_message_lost(2)  # two more that no later message reveals (the stream's tail)
    assert mon.expire() == 5 and sum(reported) == 5
    assert mon.values()["lost_reported"] == "5" and mon.values()["lost_sequence_gaps"] == "3"


def test_messages_without_info_or_sequence_numbers_count_no_loss():
    mon = StreamMonitor("/camera", 0.0)
    mon.on_message()
    mon.on_message({"publication_sequence_number": None, "publisher_gid": GID})
    mon.on_message(_info(5, {"implementation_identifier": "rmw", "data": [1]}))  # first from a source
    assert mon.expire() == 0 and mon.messages == 3 and mon.sequences.unnumbered == 1
