"""Full-size sensor streams from a driver process through encoder node processes on defaults.

    .venv/bin/python benchmarks/sensor_qos.py --seconds 20 --rate 30 --model-path models/demo

One encoder node process per stream (640 x 480 and 1280 x 720 rgb8, 640 x 480 16UC1 depth, a
300k-point xyz+rgb cloud), started as a robot starts it (default parameters, the model, the
shipped Fast DDS profile in FASTDDS_ or FASTRTPS_DEFAULT_PROFILES_FILE); for each publisher reliability a
driver process (tests/ros/sensor_publisher.py, the same profile, as docs/ros.md tells a robot)
publishes ``--seconds`` of each stream at ``--rate``. Per row, from the encoder's /diagnostics:
frames sent, failed publishes (the driver's publish() raised), arrived, counted lost in
transport, uncounted (sent - arrived - counted), embedded, dropped for overload, and the
stamp-to-embedding latency (header stamp, set at publish, to the Embedding's arrival here).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "ros"))

from machine import cpu_model  # noqa: E402

from codebind_ros.messaging.topics import encoder_remaps  # noqa: E402
STREAMS = {"camera_vga": "camera", "camera_hd": "camera", "depth_vga": "depth", "cloud_300k": "pointcloud"}


class Watch:
    """The encoders' latest /diagnostics values and the Embeddings' stamp-to-arrival latencies."""

    def __init__(self, node, prefix: str):
        from diagnostic_msgs.msg import DiagnosticArray

        from codebind_ros.messaging.qos import results_qos
        from codebind_ros.msg import Embedding

        self.lock = threading.Lock()
        self.values = {}   # stream -> {key: value}
        self.reports = {}  # stream -> number of reports
        self.latency = {s: [] for s in STREAMS}
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, results_qos(100))
        for stream in STREAMS:
            node.create_subscription(Embedding, f"{prefix}/{stream}/out",
                                     lambda m, s=stream: self._on_embedding(s, m), results_qos(100))

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            stream = status.name.removeprefix("codebind/qos_")
            if stream in STREAMS:
                with self.lock:
                    self.values[stream] = {kv.key: kv.value for kv in status.values}
                    self.reports[stream] = self.reports.get(stream, 0) + 1

    def _on_embedding(self, stream: str, msg) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with self.lock:
            self.latency[stream].append(time.time() - stamp)

    def counts(self, stream: str) -> dict:
        with self.lock:
            v = dict(self.values.get(stream, {}))
        keys = ("received", "processed", "dropped_overload", "dropped_invalid", "lost_in_transport")
        return {k: int(v.get(k, 0)) for k in keys} | {"queue_depth": int(v.get("queue_depth", 0) or 0),
                                                        "qos": v.get("qos", "")}

    def settled(self, stream: str, timeout: float = 30.0) -> dict:
        """Counts once two reports in a row agree and nothing is queued."""
        last, deadline = None, time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                n = self.reports.get(stream, 0)
            while self.reports.get(stream, 0) == n and time.monotonic() < deadline:
                time.sleep(0.1)
            now = self.counts(stream)
            if now == last and now["queue_depth"] == 0:
                return now
            last = now
        return last or self.counts(stream)


def start_encoders(prefix: str, model_path: str, env: dict, log_dir: Path):
    procs = {}
    for stream, modality in STREAMS.items():
        args = ["--ros-args", "-r", f"__node:=qos_{stream}", "-p", f"modality:={modality}",
                "-p", f"model_path:={model_path}", *encoder_remaps(modality, f"{prefix}/{stream}",
                                                                   f"{prefix}/{stream}/out")]
        log = open(log_dir / f"qos_{stream}.log", "wb")
        procs[stream] = subprocess.Popen([sys.executable, "-m", "codebind_ros.nodes.encoder_node", *args],
                                         env=env, stdout=log, stderr=subprocess.STDOUT)
    return procs


def drive(prefix: str, stream: str, reliability: str, frames: int, rate: float, env: dict) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "ros" / "sensor_publisher.py"), "--prefix", prefix,
                          "--reliability", reliability, "--streams", stream, "--frames", str(frames),
                          "--rate", str(rate), "--wait", "60"],
                         env=env, capture_output=True, text=True, timeout=frames / rate + 300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--model-path", default=str(ROOT / "models" / "demo"))
    parser.add_argument("--domain", type=int, default=int(os.environ.get("ROS_DOMAIN_ID", "42")))
    parser.add_argument("--streams", default=",".join(STREAMS))
    args = parser.parse_args()

    from codebind_ros.messaging.middleware import use_large_frames_profile

    log_dir = Path(tempfile.mkdtemp(prefix="codebind-sensor-qos-"))
    env = dict(os.environ, ROS_DOMAIN_ID=str(args.domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               ROS_LOG_DIR=str(log_dir), HF_HUB_OFFLINE="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    profile = use_large_frames_profile(env)  # drivers and encoders, as docs/ros.md sets a robot up
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOG_DIR")})

    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from rclpy.utilities import get_rmw_implementation_identifier

    prefix = f"/q{uuid.uuid4().hex[:8]}"
    frames = int(round(args.seconds * args.rate))
    streams = args.streams.split(",")
    encoders = start_encoders(prefix, args.model_path, env, log_dir)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=args.domain)
    node = Node("codebind_qos_benchmark", context=context)
    watch = Watch(node, prefix)
    executor = MultiThreadedExecutor(context=context)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    cpu = cpu_model()
    print(f"# {cpu}, {os.cpu_count()} CPUs, {get_rmw_implementation_identifier()}, profile {Path(profile).name}, "
          f"model {Path(args.model_path).name}, encoder defaults, {frames} frames per row at {args.rate:g} Hz; "
          f"load average before: {os.getloadavg()[0]:.1f}")
    print(f"# command: {' '.join([os.path.relpath(sys.executable, ROOT), *sys.argv])}")
    print("| publisher | stream | sent | failed publishes | arrived | counted lost | uncounted | embedded | "
          "overload drops | stamp->embedding p50 / p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not all(watch.reports.get(s) for s in streams):
            if any(p.poll() is not None for p in encoders.values()):
                raise RuntimeError(f"an encoder exited; logs in {log_dir}")
            time.sleep(0.5)
        for reliability in ("reliable", "best_effort"):
            for stream in streams:
                before = watch.settled(stream)
                with watch.lock:
                    watch.latency[stream].clear()
                sent = drive(prefix, stream, reliability, frames, args.rate, env)
                after = watch.settled(stream)
                d = {k: after[k] - before[k]
                     for k in ("received", "processed", "dropped_overload", "lost_in_transport")}
                with watch.lock:
                    lat = np.asarray(watch.latency[stream]) * 1e3
                p50, p99 = (np.percentile(lat, 50), np.percentile(lat, 99)) if lat.size else (float("nan"),) * 2
                uncounted = sent[stream] - d["received"] - d["lost_in_transport"]
                print(f"| {reliability} | {stream} | {sent[stream]} | {sent['failed'][stream]} | {d['received']} | "
                      f"{d['lost_in_transport']} | {uncounted} | {d['processed']} | {d['dropped_overload']} | "
                      f"{p50:.0f} / {p99:.0f} |", flush=True)
        print(f"# subscription QoS reported: {watch.counts(streams[0])['qos']}; load average after: "
              f"{os.getloadavg()[0]:.1f}")
    finally:
        for proc in encoders.values():
            proc.send_signal(signal.SIGINT)
        codes = [proc.wait(timeout=60) for proc in encoders.values()]
        print(f"# encoder exit codes after SIGINT: {codes}; logs in {log_dir}")
        executor.shutdown()
        rclpy.shutdown(context=context)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
