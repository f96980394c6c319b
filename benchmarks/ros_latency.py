"""End-to-end latency of the encoder node: sensor message published -> Embedding received.

    .venv/bin/python benchmarks/ros_latency.py                       # tiny random model, camera
    .venv/bin/python benchmarks/ros_latency.py --modality depth --model-path runs/ckpt --seconds 10

Two phases on real rclpy nodes (localhost DDS, one process): the sensor at 30 Hz, then at 10x
the rate the model sustains (overload). The encoder spins on a ``SingleThreadedExecutor`` as
``run_node`` spins it, the probe on another of its own thread; ``--executor multi`` puts both on
rclpy's ``MultiThreadedExecutor`` instead (in some runs here it starved the encoder). Each
message is stamped with the wall clock when it is published; latency = arrival of its Embedding -
stamp. Prints p50/p99/max, messages in/out and the drops the node counted.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

import codebind_core as cb  # noqa: E402
from codebind_ros.conversions import sensors  # noqa: E402
from codebind_ros.conversions.audio import array_to_audio  # noqa: E402
from codebind_ros.conversions.image import array_to_image  # noqa: E402
from codebind_ros.conversions.pointcloud2 import xyz_to_cloud  # noqa: E402
from codebind_ros.nodes.encoder_node import EncoderNode  # noqa: E402
from codebind_ros.msg import Embedding  # noqa: E402
from codebind_ros.messaging.qos import results_qos  # noqa: E402
from codebind_ros.messaging.topics import encoder_remaps  # noqa: E402
from codebind_ros.nodes.session import ros_session  # noqa: E402

TARGETS = ["depth", "thermal", "tactile", "pointcloud", "audio"]


def sample_message(modality: str, rng: np.random.Generator):
    """A realistic sensor message: VGA images, a 20k-point cloud, 2 s of 16 kHz audio."""
    if modality in ("camera", "tactile"):
        return array_to_image(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), "rgb8")
    if modality == "depth":
        return array_to_image(rng.integers(500, 4000, (480, 640), dtype=np.uint16), "16UC1")
    if modality == "thermal":
        return array_to_image(rng.integers(20000, 40000, (256, 320), dtype=np.uint16), "mono16")
    if modality == "pointcloud":
        return xyz_to_cloud(rng.normal(size=(20000, 6)).clip(0, 1).astype(np.float32))
    return array_to_audio(0.1 * rng.normal(size=32000), 16000, "S16LE")


class Probe(Node):
    """Publishes stamped sensor messages and records Embedding arrival latencies."""

    def __init__(self, modality: str, in_topic: str, out_topic: str):
        super().__init__("latency_probe")
        self.pub = self.create_publisher(sensors.get(modality).message, in_topic, 10)
        self.latencies = []
        self._lock = threading.Lock()
        self.create_subscription(Embedding, out_topic, self._on, results_qos(100))

    def _on(self, msg) -> None:
        sent = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with self._lock:
            self.latencies.append(time.time() - sent)

    def run(self, msg, rate_hz: float, seconds: float) -> int:
        period, sent = 1.0 / rate_hz, 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(time.time_ns(), 1_000_000_000)
            self.pub.publish(msg)
            sent += 1
            wait = start + sent * period - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        return sent

    def one_by_one(self, msg, count: int, timeout: float = 30.0) -> float:
        """Median latency (s) of ``count`` messages sent one at a time: the node's own pace."""
        self.take()
        for i in range(count):
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(time.time_ns(), 1_000_000_000)
            self.pub.publish(msg)
            deadline = time.monotonic() + timeout
            while len(self.latencies) <= i and time.monotonic() < deadline:
                time.sleep(0.001)
        latencies = self.take()
        if len(latencies) < count:
            raise RuntimeError(f"only {len(latencies)} of {count} embeddings came back")
        return float(np.median(latencies[min(3, count - 1):]))  # the first ones warm up

    def take(self):
        with self._lock:
            out, self.latencies = self.latencies, []
        return out


def phase(name, probe, encoder, msg, rate, seconds):
    before = encoder.stats.snapshot()
    sent = probe.run(msg, rate, seconds)
    time.sleep(1.0)  # let the last frames through
    lat = np.asarray(probe.take()) * 1e3
    after = encoder.stats.snapshot()
    dropped = after.dropped["overload"] - before.dropped["overload"]
    received = after.received - before.received
    if lat.size:
        figures = (f"p50 {np.percentile(lat, 50):7.1f} ms  p99 {np.percentile(lat, 99):7.1f} ms  "
                   f"max {lat.max():7.1f} ms")
    else:
        figures = "no output"
    print(f"{name:<22s} rate {rate:7.1f} Hz  sent {sent:5d}  node received {received:5d}  "
          f"encoded {lat.size:5d}  dropped(overload) {dropped:5d}  {figures}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modality", default="camera", choices=sorted(sensors.SENSORS))
    parser.add_argument("--model-path", default="", help="checkpoint dir (default: tiny random model)")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each phase")
    parser.add_argument("--queue-size", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    parser.add_argument("--executor", choices=["single", "multi"], default="single",
                        help="single: one SingleThreadedExecutor per node (as run_node); multi: one "
                             "MultiThreadedExecutor for both")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = (cb.load(args.model_path) if args.model_path else
             cb.create_model(cb.CodeBindConfig.preset("tiny", targets=TARGETS))).eval()
    with ros_session(domain_id=1 + os.getpid() % 100):
        encoder = EncoderNode(model=model, cli_args=["--ros-args", *encoder_remaps(args.modality, "bench/in",
                                                                                   "bench/out")],
                              parameter_overrides=[Parameter("modality", value=args.modality),
                                                   Parameter("queue_size", value=args.queue_size)])
        probe = Probe(args.modality, "bench/in", "bench/out")
        if args.executor == "multi":
            executors = [MultiThreadedExecutor()]
            executors[0].add_node(encoder)
            executors[0].add_node(probe)
        else:
            executors = [SingleThreadedExecutor(), SingleThreadedExecutor()]
            executors[0].add_node(encoder)
            executors[1].add_node(probe)
        for executor in executors:
            threading.Thread(target=executor.spin, daemon=True).start()
        deadline = time.monotonic() + 10
        while probe.pub.get_subscription_count() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        msg = sample_message(args.modality, np.random.default_rng(0))
        pace = probe.one_by_one(msg, 13)
        print(f"modality {args.modality}, model {encoder.model_id}, torch threads "
              f"{torch.get_num_threads()}, queue_size {args.queue_size}, {args.executor} executor: one "
              f"message alone takes {pace * 1e3:.1f} ms end to end (sustains about {1 / pace:.1f} Hz)", flush=True)
        phase("30 Hz", probe, encoder, msg, 30.0, args.seconds)
        phase("10x overload", probe, encoder, msg, 10.0 / pace, args.seconds)
        for executor in executors:
            executor.shutdown(timeout_sec=2.0)
        encoder.destroy_node()
        probe.destroy_node()
    here = Path(__file__).resolve()
    print("rerun: .venv/bin/python " + shlex.join([str(here.relative_to(here.parents[1]))] + sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
