"""Health of one incoming stream: matched publishers, incompatible QoS, loss, stalls.

A subscription that silently receives nothing is the worst failure a perception node can have
(a best-effort subscription drops every large frame; a best-effort publisher never matches a
reliable subscription). :class:`StreamMonitor` turns those cases into /diagnostics warnings:

- ``incompatible_qos``: a publisher on the topic offers QoS this subscription cannot match
  (e.g. a best-effort driver and ``qos_reliability: reliable``); rclpy's incompatible-QoS event.
- ``lost``: messages sent and never delivered. Two sources, each seeing part of the loss:
  rclpy's message-lost event (best-effort samples whose fragments did not all arrive, reported
  by the middleware), and gaps in each publisher's ``publication_sequence_number``
  (:class:`SequenceTracker`), which also see what no event reports: a reliable KEEP_LAST reader
  whose history overflowed while the executor was busy. The loss counted is the larger of the
  two (both count the same best-effort gaps).
- a stall: publishers are matched but no message arrived for ``stall_timeout_s``.

Frames before the first and after the last one delivered:

- a publisher that appears in the graph more than ``discovery_settle_s`` after the subscription
  was created published every message while the subscription existed, so its numbers count from
  1: a first delivered number ``s`` reveals ``s - 1`` lost (a publisher already there, or found
  while discovery settles, may have published before the subscription: its earlier numbers are
  not counted). It needs the publisher's gid in the MessageInfo (rclpy 7.4 and later; Jazzy's
  rclpy 7.1 gives none, so there loss is counted from the first message delivered);
- at the end, the node drains what the middleware still holds (:func:`drain`) and
  :meth:`StreamMonitor.close` confirms every open gap at once: no later message can fill it.

Plain Python apart from :meth:`event_callbacks`; the clock is injectable for tests.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Dict, List, Optional, Set

# a jump in one publisher's sequence numbers beyond this is no loss (9 h at 30 Hz) but a renumbered
# or corrupt sequence: counting resumes from it (``resyncs``)
MAX_PLAUSIBLE_GAP = 1_000_000


def _policy_name(kind) -> str:
    name = getattr(kind, "name", str(kind))
    return name.replace("RMW_QOS_POLICY_", "").replace("RMW_", "")


class StreamMonitor:
    """Counters and standing problems of one subscription.

    Args:
        topic: the subscribed topic (named in the warnings).
        stall_timeout_s: warn when publishers are matched and nothing arrived for this long
            (0 = never).
        on_lost: called with the number of messages each time the middleware reports loss.
        hint: appended to the incompatible-QoS warning (how to fix it).
        clock: monotonic time in seconds.
    """

    def __init__(self, topic: str, stall_timeout_s: float = 5.0,
                 on_lost: Optional[Callable[[int], None]] = None, hint: str = "",
                 clock: Callable[[], float] = time.monotonic, discovery_settle_s: float = 2.0):
        if stall_timeout_s < 0:
            raise ValueError(f"stall timeout must be >= 0, got {stall_timeout_s}")
        self.topic, self.stall_timeout_s, self.on_lost, self.hint = topic, stall_timeout_s, on_lost, hint
        self._clock = clock
        self._lock = threading.Lock()
        self.messages = 0
        self.matched = 0              # publishers currently matched (matched event)
        self.incompatible = 0         # incompatible-QoS events so far
        self.incompatible_policy = ""  # the policy of the latest one
        self.lost = 0                 # messages counted lost: max(reported, sequence gaps)
        self.reported_lost = 0        # ... of them, reported by the middleware (message-lost event)
        self.sequences = SequenceTracker(on_lost=lambda n: self._count_lost(), clock=clock,
                                         counts_from_one=self._appeared_later)
        self.discovery_settle_s = discovery_settle_s
        self._early: Optional[Set[object]] = None  # publishers in the graph once discovery settled
        self._offered = ""                        # publishers' offered reliability, for reports
        self.qos = ""                             # this subscription's QoS, for reports
        self._last_message: Optional[float] = None
        self._matched_since: Optional[float] = None
        self.publisher_count: Callable[[], int] = lambda: self.matched  # graph count when bound
        self._publishers: Callable[[], list] = lambda: []              # graph endpoints when bound

    # ---- rclpy side ----------------------------------------------------------------------------
    def event_callbacks(self):
        """``SubscriptionEventCallbacks`` feeding this monitor (pass as ``event_callbacks``)."""
        from rclpy.event_handler import SubscriptionEventCallbacks

        return SubscriptionEventCallbacks(
            incompatible_qos=lambda info: self.on_incompatible(info.total_count,
                                                               _policy_name(info.last_policy_kind)),
            message_lost=lambda info: self.on_message_lost(info.total_count_change),
            matched=lambda info: self.on_matched(info.current_count))

    def bind(self, node, subscription) -> "StreamMonitor":
        """Compare matched publishers with every publisher the graph knows on the topic; note
        which publishers were there once discovery settled (their earlier numbers do not count)."""
        from codebind_ros.messaging.qos import describe

        topic = subscription.topic_name
        self.publisher_count = lambda: node.count_publishers(topic)
        self.qos = describe(subscription.qos_profile)
        self._publishers = lambda: node.get_publishers_info_by_topic(topic)
        timer = None

        def settled():
            self._early = {SequenceTracker.source_key({"data": i.endpoint_gid}) for i in self._graph()}
            node.destroy_timer(timer)

        timer = node.create_timer(self.discovery_settle_s, settled)
        return self

    def _graph(self):
        try:
            return list(self._publishers())
        except Exception:  # the node is being destroyed
            return []

    def _appeared_later(self, key) -> bool:
        """Whether publisher ``key`` appeared after discovery settled (None: not bound)."""
        early = self._early
        return early is not None and key not in early

    # ---- events --------------------------------------------------------------------------------
    def on_message(self, info=None) -> None:
        """One message arrived; ``info``: its rclpy MessageInfo (a dict; a subscription callback
        that takes two arguments gets it), whose sequence number reveals messages that did not."""
        with self._lock:
            self.messages += 1
            self._last_message = self._clock()
        if info is not None:
            self.sequences.observe(info)

    def on_matched(self, current: int) -> None:
        with self._lock:
            if current > 0 and self.matched == 0:
                self._matched_since = self._clock()
            self.matched = current

    def on_incompatible(self, total: int, policy: str) -> None:
        with self._lock:
            self.incompatible = max(self.incompatible, int(total))
            self.incompatible_policy = policy

    def on_message_lost(self, n: int) -> None:
        if n <= 0:
            return
        if n > MAX_PLAUSIBLE_GAP:  # an underflowed or garbage count from the middleware, not a loss
            with self._lock:
                self.sequences.resyncs += 1
            return
        with self._lock:
            self.reported_lost += int(n)
        self._count_lost()

    def _count_lost(self) -> None:
        """Bring ``lost`` up to the larger of the two sources; ``on_lost`` gets the increase."""
        with self._lock:
            total = max(self.reported_lost, self.sequences.lost)
            grew, self.lost = total - self.lost, max(self.lost, total)
        if grew > 0 and self.on_lost is not None:
            self.on_lost(grew)

    def expire(self) -> int:
        """Confirm overdue sequence gaps now (before a report); returns the loss counted."""
        self.sequences.expire()
        return self.lost

    def close(self) -> int:
        """The stream is over (the node stops, after :func:`drain`): every open gap is lost."""
        self.sequences.expire(everything=True)
        return self.lost

    # ---- reports -------------------------------------------------------------------------------
    def warnings(self) -> List[str]:
        """The stream's standing problems, one sentence each ([] when healthy)."""
        now = self._clock()
        try:
            publishers = int(self.publisher_count())
        except Exception:  # the subscription is being destroyed
            publishers = self.matched
        out = []
        with self._lock:
            unmatched = publishers - self.matched
            if self.incompatible and unmatched > 0:
                out.append(f"{unmatched} publisher(s) on {self.topic} offer incompatible QoS "
                           f"({self.incompatible_policy or 'unknown policy'}); no message from "
                           f"them arrives{self.hint}")
            if self.stall_timeout_s > 0 and self.matched > 0:
                since = self._last_message
                if since is None or (self._matched_since is not None and self._matched_since > since):
                    since = self._matched_since
                if since is not None and now - since > self.stall_timeout_s:
                    what = "in" if self._last_message is None else "for"
                    out.append(f"{self.matched} publisher(s) matched on {self.topic} but no message "
                               f"has arrived {what} {now - since:.1f} s")
        return out

    def values(self) -> Dict[str, str]:
        """Figures for /diagnostics."""
        self.expire()
        now = self._clock()
        seq = self.sequences.values()
        with self._lock:
            age = "" if self._last_message is None else f"{now - self._last_message:.2f}"
            offered = sorted(_policy_name(i.qos_profile.reliability).lower() for i in self._graph())
            return {"qos": self.qos, "publishers_offer": ",".join(offered),
                    "publishers_matched": str(self.matched), "incompatible_qos": str(self.incompatible),
                    "lost_in_transport": str(self.lost), "lost_reported": str(self.reported_lost),
                    "lost_sequence_gaps": seq["lost_in_transport"], "last_message_age_s": age}


class SequenceTracker:
    """Messages that never arrived, from each publisher's own sequence numbers.

    rclpy hands a subscription callback that takes two arguments the message's
    ``publication_sequence_number`` (numbered by the publisher, one per message sent) and its
    ``publisher_gid``. A number that is skipped is a message that was sent and not delivered
    (a reliable subscription whose queue overflowed, a writer that overwrote an unacknowledged
    message). Callbacks may run concurrently, so a skipped number counts as lost only once it
    is ``reorder_window`` numbers behind the newest or ``grace_s`` seconds old.

    Args:
        on_lost: called with the number of messages each time a loss is confirmed.
        max_publishers: sources tracked at once (the least recently heard is forgotten).
    """

    def __init__(self, on_lost: Optional[Callable[[int], None]] = None, reorder_window: int = 64,
                 grace_s: float = 1.0, max_publishers: int = 256, max_missing: int = 4096,
                 clock: Callable[[], float] = time.monotonic,
                 counts_from_one: Callable[[object], bool] = lambda key: False):
        self.on_lost, self.reorder_window, self.grace_s = on_lost, reorder_window, grace_s
        self.counts_from_one = counts_from_one  # publisher key -> whether its numbers count from 1
        self.max_publishers, self.max_missing, self._clock = max_publishers, max_missing, clock
        self._lock = threading.Lock()
        self._sources: Dict[object, dict] = {}
        self.lost = 0           # confirmed lost messages
        self.unnumbered = 0     # messages without a sequence number (the middleware gives none)
        self.resyncs = 0        # implausible jumps in a publisher's numbers, not counted as loss

    @staticmethod
    def source_key(gid) -> object:
        if isinstance(gid, dict):
            data = gid.get("data", gid)
            return bytes(data) if isinstance(data, (bytes, bytearray, list, tuple)) else repr(data)
        return repr(gid)

    def observe(self, info) -> None:
        """Record one received message from its rclpy ``MessageInfo`` (a dict)."""
        seq = info.get("publication_sequence_number") if info else None
        if seq is None or seq <= 0 or seq >= (1 << 63):
            with self._lock:
                self.unnumbered += 1
            return
        gid = info.get("publisher_gid")  # absent before rclpy 7.4 (Jazzy): one source for all
        key = self.source_key(gid)
        now = self._clock()
        with self._lock:
            src = self._sources.pop(key, None)  # re-inserted last: most recently heard
            if src is None:
                if len(self._sources) >= self.max_publishers:
                    self._sources.pop(next(iter(self._sources)))
                # a publisher that sent everything while we listened: numbers 1 .. seq-1 are gaps
                src = {"high": 0 if gid is not None and self.counts_from_one(key) else seq - 1, "missing": {},
                       "first": seq}
            if seq - src["high"] > MAX_PLAUSIBLE_GAP:  # not a loss: a renumbered or corrupt sequence
                self.resyncs += 1
                src["high"] = seq - 1
            if seq > src["high"]:
                gap = range(src["high"] + 1, seq)
                room = self.max_missing - len(src["missing"])
                for n in gap[:max(room, 0)]:
                    src["missing"][n] = now
                overflow = len(gap) - max(room, 0)
                if overflow > 0:  # too many to follow one by one: lost at once
                    self._confirm(overflow)
                src["high"] = seq
            else:
                src["missing"].pop(seq, None)  # late (reordered) or a duplicate
            self._sources[key] = src
            self._expire(now)

    def expire(self, everything: bool = False) -> int:
        """Confirm overdue gaps now (e.g. before a report), or ``everything`` open (the stream
        is over); returns the total confirmed."""
        with self._lock:
            self._expire(self._clock(), everything)
            return self.lost

    def _expire(self, now: float, everything: bool = False) -> None:
        confirmed = 0
        for src in self._sources.values():
            old = [n for n, t in src["missing"].items() if everything
                   or src["high"] - n >= self.reorder_window or now - t >= self.grace_s]
            for n in old:
                del src["missing"][n]
            confirmed += len(old)
        if confirmed:
            self._confirm(confirmed)

    def _confirm(self, n: int) -> None:
        self.lost += n
        if self.on_lost is not None:
            self.on_lost(n)

    def spans(self) -> List[tuple]:
        """(first, highest) sequence number delivered from each source heard from."""
        with self._lock:
            return [(src["first"], src["high"]) for src in self._sources.values()]

    def values(self) -> Dict[str, str]:
        with self._lock:
            return {"lost_in_transport": str(self.lost), "publishers_seen": str(len(self._sources)),
                    "unnumbered": str(self.unnumbered), "resyncs": str(self.resyncs)}
