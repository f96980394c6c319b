"""The approximate-time synchroniser: sets within slop, in time order, each message used once."""
from __future__ import annotations

import pytest
from std_msgs.msg import Header

from codebind_ros.messaging.sync import ApproximateTimeSync, stamp_ns


class Stamped:
    def __init__(self, t: float, tag: str = ""):
        self.header = Header()
        self.header.stamp.sec, ns = divmod(int(round(t * 1e9)), 1_000_000_000)
        self.header.stamp.nanosec = ns
        self.tag = tag


def _collect():
    sets = []
    return sets, lambda *msgs: sets.append(tuple(m.tag for m in msgs))


def test_groups_the_closest_messages_within_slop():
    sets, cb = _collect()
    sync = ApproximateTimeSync(["image", "cloud", "info"], cb, slop=0.02)
    sync.add("image", Stamped(1.000, "i1"))
    sync.add("cloud", Stamped(1.030, "c_far"))      # 30 ms from i1: too far
    sync.add("info", Stamped(1.001, "n1"))
    assert sets == []
    sync.add("cloud", Stamped(1.010, "c1"))         # completes i1 + c1 + n1
    assert sets == [("i1", "c1", "n1")]
    # i1, n1 and everything at or before c1 are consumed; c_far (1.030) waits for a partner
    assert sync.pending() == {"image": [], "cloud": [1_030_000_000], "info": []}
    sync.add("image", Stamped(1.033, "i2"))
    sync.add("info", Stamped(1.031, "n2"))
    assert sets[-1] == ("i2", "c_far", "n2")
    assert sync.emitted == 2


def test_sets_come_out_in_time_order_and_old_messages_are_skipped():
    sets, cb = _collect()
    sync = ApproximateTimeSync(["a", "b"], cb, slop=0.005)
    for k in range(5):
        sync.add("a", Stamped(k * 0.1, f"a{k}"))
    sync.add("b", Stamped(0.302, "b3"))
    assert not sync.add("b", Stamped(0.101, "b1"))  # older than the last set: discarded
    assert sync.discarded == 1
    assert sets == [("a3", "b3")]
    sync.add("b", Stamped(0.4, "b4"))
    assert sets == [("a3", "b3"), ("a4", "b4")]


def test_queues_are_bounded():
    sets, cb = _collect()
    sync = ApproximateTimeSync(["a", "b"], cb, slop=0.001, queue_size=3)
    for k in range(10):
        sync.add("a", Stamped(float(k)))
    assert len(sync.pending()["a"]) == 3 and sync.discarded == 7 and sets == []


def test_bad_configuration_and_unknown_input_raise():
    with pytest.raises(ValueError, match="two distinct"):
        ApproximateTimeSync(["a"], print)
    with pytest.raises(ValueError, match="slop"):
        ApproximateTimeSync(["a", "b"], print, slop=-1)
    sync = ApproximateTimeSync(["a", "b"], print)
    with pytest.raises(ValueError, match="unknown input 'c'"):
        sync.add("c", Stamped(0.0))
    assert stamp_ns(Stamped(2.5)) == 2_500_000_000
