"""Localisation node latency on rclpy's two executors: camera + depth frames in -> LocalizationArray out.

    .venv/bin/python benchmarks/ros_localisation_latency.py                 # 10 Hz, 10 s per executor
    .venv/bin/python benchmarks/ros_localisation_latency.py --rate 5 --seconds 20

One process, real rclpy nodes on localhost: the sensor player (the shipped scene, camera and depth
at ``--rate``) on a ``SingleThreadedExecutor`` of its own thread, the localisation node with a
standing text query (tiny random model) on the executor under test of its own thread
(``multi``: rclpy's ``MultiThreadedExecutor``, as ``run_node`` spun the localisation executable before;
``single``: a ``SingleThreadedExecutor``; ``shared``: one ``MultiThreadedExecutor`` for the sensor
player and the localisation node, as ``codebind-graph`` spun all its nodes before each got its
own), and a probe node collecting the results on a third.
Latency = arrival of a LocalizationArray - its frame's header stamp. Prints, per executor, frames
played, results, the node's dropped counts, and latency p50 / p99 / max.
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

import codebind_core as cb  # noqa: E402
from codebind_ros.msg import LocalizationArray  # noqa: E402
from codebind_ros.messaging.qos import results_qos  # noqa: E402
from codebind_ros.messaging.topics import LOCALISATIONS  # noqa: E402
from codebind_ros.nodes.localisation_node import LocalisationNode  # noqa: E402
from codebind_ros.nodes.sensor_player import SensorPlayerNode  # noqa: E402
from codebind_ros.nodes.session import ros_session  # noqa: E402

TARGETS = ["depth"]


def run(kind: str, model, rate: float, seconds: float, namespace: str, context) -> str:
    latencies, lock = [], threading.Lock()

    def on_result(msg) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with lock:
            latencies.append(time.time() - stamp)

    loc = LocalisationNode(model=model, node_name=f"loc_{kind}", namespace=namespace, context=context,
                           parameter_overrides=[Parameter("query_text", value="a photo of a sphere.")])
    probe = Node(f"probe_{kind}", namespace=namespace, context=context)
    probe.create_subscription(LocalizationArray, LOCALISATIONS, on_result, results_qos(100))
    executors = {"loc": MultiThreadedExecutor(context=context) if kind in ("multi", "shared")
                 else SingleThreadedExecutor(context=context),
                 "probe": SingleThreadedExecutor(context=context), "player": SingleThreadedExecutor(context=context)}
    if kind == "shared":  # the sensor player on the localisation node's executor
        executors["player"] = executors["loc"]
    executors["loc"].add_node(loc)
    executors["probe"].add_node(probe)
    threads = [threading.Thread(target=e.spin, daemon=True) for e in (executors["loc"], executors["probe"])]
    for t in threads:
        t.start()
    time.sleep(1.0)  # discovery
    player = SensorPlayerNode(node_name=f"player_{kind}", namespace=namespace, context=context,
                              parameter_overrides=[Parameter(f"{k}_rate", value=0.0)
                                                   for k in ("thermal", "audio", "tactile")]
                              + [Parameter("camera_rate", value=rate), Parameter("depth_rate", value=rate)])
    executors["player"].add_node(player)
    started = time.monotonic()
    if kind != "shared":
        threads.append(threading.Thread(target=executors["player"].spin, daemon=True))
        threads[-1].start()
    time.sleep(seconds)
    executors["player"].remove_node(player)
    played = int(round((time.monotonic() - started) * rate))
    time.sleep(2.0)  # the last frames through
    snap = loc.stats.snapshot()
    with lock:
        lat = np.asarray(latencies) * 1e3
    for e in {id(e): e for e in executors.values()}.values():
        e.shutdown(timeout_sec=2.0)
    for t in threads:
        t.join(timeout=5.0)
    for node in (player, loc, probe):
        node.destroy_node()
    figures = (f"{np.percentile(lat, 50):.1f} / {np.percentile(lat, 99):.1f} / {lat.max():.1f}"
               if lat.size else "no results")
    dropped = ", ".join(f"{k} {v}" for k, v in snap.dropped.items() if v) or "0"
    return f"| {kind} | {rate:g} | ~{played} | {lat.size} | {snap.processed} | {dropped} | {figures} |"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0, help="camera and depth rate (Hz)")
    parser.add_argument("--seconds", type=float, default=10.0, help="playing time per executor")
    parser.add_argument("--executors", nargs="+", default=["multi", "single"], choices=["multi", "single", "shared"])
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = cb.create_model(cb.CodeBindConfig.preset("tiny", targets=TARGETS)).eval()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.2f}, "
          f"torch threads {torch.get_num_threads()}")
    print("| executor | rate Hz | frames played | results | node processed | node dropped "
          "| latency p50 / p99 / max ms |")
    print("|---|---|---|---|---|---|---|")
    with ros_session(domain_id=1 + os.getpid() % 100) as context:
        for i, kind in enumerate(args.executors):
            print(run(kind, model, args.rate, args.seconds, f"/bench{i}", context), flush=True)
    here = Path(__file__).resolve()
    print("# rerun: .venv/bin/python " + shlex.join([str(here.relative_to(here.parents[1]))] + sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
