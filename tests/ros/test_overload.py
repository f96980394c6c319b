"""Overload: a sensor publishing far faster than the model runs. The encoder keeps at most
``queue_size`` messages, drops the old ones (counted), and its output latency stays bounded."""
from __future__ import annotations

import threading
import time

import numpy as np
from machine import rss_mb
from ros_testing import Collector, make_encoder, wait_for_subscribers, wait_until
from rclpy.node import Node
from sensor_msgs.msg import Image

from codebind_ros.conversions.image import array_to_image
from codebind_ros.msg import Embedding

QUEUE_SIZE = 3


def _now_stamp(msg, clock_ns: int) -> None:
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(clock_ns, 1_000_000_000)


def test_overload_keeps_queue_latency_and_memory_bounded(spin, ros_context, tiny_model, topic):
    encoder = spin.add(make_encoder(tiny_model, "camera", topic, ros_context,
                                    queue_size=QUEUE_SIZE))
    helper = spin.add(Node("overload_helper", context=ros_context))
    out = Collector(helper, Embedding, f"{topic}/out")
    pub = helper.create_publisher(Image, f"{topic}/in", 5)
    assert wait_for_subscribers(pub) and wait_until(lambda: encoder.publisher.get_subscription_count() >= 1)

    frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    msg = array_to_image(frame, "rgb8")

    # how fast is the model alone? (one message, end to end)
    _now_stamp(msg, time.time_ns())
    pub.publish(msg)
    assert len(out.wait_for(1, timeout=20.0)) == 1
    single_s = encoder.stats.snapshot().latency_max_ms / 1e3

    depths, stop = [], threading.Event()

    def watch_queue():
        while not stop.is_set():
            depths.append(len(encoder.queue))
            time.sleep(0.001)

    watcher = threading.Thread(target=watch_queue, daemon=True)
    watcher.start()
    rss_before = rss_mb()
    sent, start = 0, time.monotonic()
    while time.monotonic() - start < 3.0:  # as fast as Python can publish
        _now_stamp(msg, time.time_ns())
        pub.publish(msg)
        sent += 1
    publish_rate = sent / (time.monotonic() - start)
    rss_after = rss_mb()
    assert wait_until(lambda: len(encoder.queue) == 0 and not encoder.worker.busy.is_set(), 10.0)
    busy_s = time.monotonic() - start  # the burst and the node working off what it kept
    stop.set()
    watcher.join()
    time.sleep(0.3)

    snap = encoder.stats.snapshot()
    model_rate = 1.0 / max(single_s, 1e-3)
    assert publish_rate > 5 * model_rate, (publish_rate, model_rate)  # really an overload
    assert max(depths) <= QUEUE_SIZE
    assert snap.dropped["overload"] > 0
    # every received message is accounted for: encoded or dropped as overload
    assert snap.received == snap.processed + snap.dropped["overload"] + snap.dropped["invalid"]
    assert snap.dropped["invalid"] == 0 and snap.errors == 0
    # latency stays bounded: a kept frame waits behind at most QUEUE_SIZE others, so reception ->
    # publication stays under (QUEUE_SIZE + 2) model runs at the pace the node kept during the
    # burst (this process's publishing loop holds the GIL: 5-10 frames in 3 s here, 0.1-0.5 s a
    # run). A first-in-first-out queue of every received frame would take hundreds of runs.
    run_s = busy_s / max(snap.processed - 1, 1)
    bound_s = (QUEUE_SIZE + 2) * run_s
    assert snap.latency_max_ms / 1e3 < bound_s, (snap.latency_max_ms, run_s, snap.processed)
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in out.messages[1:]]
    arrivals = out.arrivals[1:]
    wall_offset = time.time() - time.monotonic()
    end_to_end = [a + wall_offset - s for a, s in zip(arrivals, stamps)]
    assert len(end_to_end) > 0 and max(end_to_end) < bound_s, (end_to_end, run_s)
    # memory: nothing accumulates per message (many MB of images went through)
    assert sent * frame.nbytes > 200e6 or sent > 200
    assert rss_after - rss_before < 150.0
