"""What arrives under each sensor QoS setting: a driver process -> subscriptions in this process.

    .venv/bin/python benchmarks/sensor_qos.py --frames 30

For each publisher reliability (the driver, tests/ros/sensor_publisher.py, in its own process)
and each subscription reliability (codebind_ros.messaging.qos.sensor_qos), the four full-size streams
(640 x 480 and 1280 x 720 rgb8 at 30 Hz, 640 x 480 16UC1 depth at 30 Hz, 300k-point cloud at
10 Hz) are published and counted on arrival; prints frames arrived / sent, the middleware's
lost-sample count and whether the subscription matched at all, as a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "ros"))

import rclpy  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402

from codebind_ros.messaging.qos import sensor_qos  # noqa: E402
from codebind_ros.messaging.stream_health import StreamMonitor  # noqa: E402
from sensor_publisher import STREAMS, message_type  # noqa: E402


def run(node, publisher_rel: str, subscription_rel: str, frames: int, domain: int):
    prefix = f"/q{uuid.uuid4().hex[:8]}"
    monitors, subs = {}, []
    for stream in STREAMS:
        mon = StreamMonitor(f"{prefix}/{stream}", 0.0)
        sub = node.create_subscription(message_type(stream), f"{prefix}/{stream}",
                                       lambda m, mon=mon: mon.on_message(),
                                       sensor_qos(5, subscription_rel), event_callbacks=mon.event_callbacks())
        monitors[stream] = mon
        subs.append(sub)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "ros" / "sensor_publisher.py"),
                          "--prefix", prefix, "--reliability", publisher_rel, "--frames", str(frames)],
                         env=env, capture_output=True, text=True, timeout=600, check=True)
    sent = json.loads(out.stdout.strip().splitlines()[-1])
    time.sleep(0.5)
    for sub in subs:
        node.destroy_subscription(sub)
    return {s: (monitors[s].messages, sent[s], monitors[s].lost, monitors[s].incompatible) for s in STREAMS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--domain", type=int, default=int(os.environ.get("ROS_DOMAIN_ID", "42")))
    args = parser.parse_args()
    os.environ["ROS_DOMAIN_ID"] = str(args.domain)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=args.domain)
    node = Node("codebind_qos_benchmark", context=context)
    executor = MultiThreadedExecutor(context=context)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    from rclpy.utilities import get_rmw_implementation_identifier

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{get_rmw_implementation_identifier()}, {args.frames} frames per stream")
    print(f"# command: {' '.join([os.path.relpath(sys.executable, ROOT), *sys.argv])}")
    print("| publisher | subscription | " + " | ".join(STREAMS) + " |")
    print("|---|---|" + "---|" * len(STREAMS))
    try:
        for pub_rel in ("reliable", "best_effort"):
            for sub_rel in ("reliable", "best_effort", "best_available"):
                res = run(node, pub_rel, sub_rel, args.frames, args.domain)
                cells = []
                for stream in STREAMS:
                    got, sent, lost, incompatible = res[stream]
                    cell = f"{got}/{sent}"
                    if lost:
                        cell += f" ({lost} reported lost)"
                    if incompatible:
                        cell += " (incompatible QoS reported)"
                    cells.append(cell)
                print(f"| {pub_rel} | {sub_rel} | " + " | ".join(cells) + " |", flush=True)
    finally:
        executor.shutdown()
        rclpy.shutdown(context=context)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
