"""Sustainable Embedding rate into the memory node: sent vs stored vs counted lost, per rate.

    .venv/bin/python benchmarks/memory_rate.py                    # 100, 200, 400, 800 Hz, 5 s each
    .venv/bin/python benchmarks/memory_rate.py --rates 100 200 --seconds 3

A memory node process (``codebind_ros.nodes.memory_node``, the shipped demo model ``models/demo``,
default QoS and parameters except ``min_period: 0`` so every Embedding is to be stored, a fresh
database) subscribes to the audio Embedding topic; this process publishes Embedding messages with
the encoder's QoS (``results_qos()``: reliable, keep last 10) at each rate for ``--seconds``,
each rate from a fresh publisher (the node counts loss per publisher from its first message).
After the stream it waits until the node has committed everything it will and every gap is
confirmed, then reads the node's /diagnostics: ``observations`` (stored), ``received``,
``dropped_transport`` (gaps in the publisher's sequence numbers) and ``dropped_invalid``.
Prints per rate: sent, the rate actually achieved, stored, counted lost, uncounted (sent - stored
- counted lost - counted invalid), and the highest rate with nothing lost.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(ROOT))
from machine import cpu_model  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[100, 200, 400, 800])
    parser.add_argument("--seconds", type=float, default=5.0, help="stream length per rate")
    parser.add_argument("--model", default=str(ROOT / "models" / "demo"))
    parser.add_argument("--domain", type=int, default=1 + os.getpid() % 100)
    args = parser.parse_args()

    import rclpy
    import torch
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from std_msgs.msg import Header

    import codebind_core as cb
    from codebind_ros.conversions import embedding_msg
    from codebind_ros.nodes.diagnostics import status_values
    from codebind_ros.msg import Embedding
    from codebind_ros.messaging.qos import results_qos
    from codebind_ros.messaging.topics import embedding_topic

    model = cb.load(args.model)
    with torch.no_grad():
        emb = model.encode_text(["a dog barking"])
    model_id = Path(args.model).name
    tmp = Path(tempfile.mkdtemp(prefix="codebind-memrate-"))
    ns = f"/m{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, ROS_DOMAIN_ID=str(args.domain), ROS_LOG_DIR=str(tmp),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    params = {"model_path": args.model, "db_path": str(tmp / "memory.db"), "min_period": "0.0",
              "modalities": "audio", "store_proposals": "false", "diagnostics_period": "0.25"}
    cmd = [sys.executable, "-c", "import sys; from codebind_ros.nodes.memory_node import main; sys.exit(main())",
           "--ros-args", "-r", "__node:=memory", "-r", f"__ns:={ns}"]
    for k, v in params.items():
        cmd += ["-p", f"{k}:={v}"]
    log = open(tmp / "memory.log", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=args.domain)
    node = Node("codebind_memory_rate", namespace=ns, context=context)
    latest = {}

    def on_diag(msg):
        for status in msg.status:
            if status.name == "codebind/memory":
                latest["v"] = (time.monotonic(), status_values(status))

    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, results_qos(50))
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()

    def values():
        return latest.get("v", (0.0, {}))[1]

    def figure(key):
        return int(values().get(key, 0))

    rows = []
    try:
        deadline = time.monotonic() + 180
        while not values() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        if not values():
            raise RuntimeError(f"the memory node did not start: {(tmp / 'memory.log').read_text()[-2000:]}")
        for rate in args.rates:
            pub = node.create_publisher(Embedding, embedding_topic("audio"), results_qos())
            while pub.get_subscription_count() < 1:
                time.sleep(0.05)
            time.sleep(1.0)
            before = {k: figure(k) for k in ("observations", "received", "dropped_transport", "dropped_invalid")}
            n = int(rate * args.seconds)
            msg = embedding_msg.to_msg(emb, 0, Header(frame_id="mic"), "audio", model_id)
            start = time.monotonic()
            for i in range(n):
                target = start + i / rate
                while (now := time.monotonic()) < target:
                    time.sleep(min(target - now, 0.001))
                msg.header.stamp.sec, msg.header.stamp.nanosec = 1_000_000 + i // 1000, (i % 1000) * 1_000_000
                msg.header.stamp.sec += int(rate) * 10_000  # distinct stamps per rate
                pub.publish(msg)
            achieved = n / (time.monotonic() - start)
            # settle: all sent stored or counted, or nothing changed for 10 s (a gap is confirmed within 1 s)
            last, still = None, time.monotonic()
            while time.monotonic() - still < 10.0:
                if (figure("observations") + figure("dropped_transport") + figure("dropped_invalid")
                        - before["observations"] - before["dropped_transport"] - before["dropped_invalid"]) >= n:
                    time.sleep(1.5)
                    break
                now_values = (figure("observations"), figure("dropped_transport"), values().get("pending"))
                if now_values != last:
                    last, still = now_values, time.monotonic()
                time.sleep(0.1)
            after = {k: figure(k) for k in before}
            d = {k: after[k] - before[k] for k in before}
            uncounted = n - d["observations"] - d["dropped_transport"] - d["dropped_invalid"]
            rows.append((rate, n, achieved, d["observations"], d["dropped_transport"], d["dropped_invalid"],
                         uncounted, d["received"]))
            print(f"rate {rate:.0f} Hz: sent {n} (achieved {achieved:.0f} Hz), received {d['received']}, "
                  f"stored {d['observations']}, counted lost {d['dropped_transport']}, uncounted {uncounted}",
                  file=sys.stderr, flush=True)
            node.destroy_publisher(pub)
    finally:
        executor.shutdown()
        rclpy.shutdown(context=context)
        proc.send_signal(2)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

    from rclpy.utilities import get_rmw_implementation_identifier

    cpu = cpu_model()
    print(f"# {cpu}, {os.cpu_count()} CPUs, {get_rmw_implementation_identifier()}, model {model_id}, "
          f"{args.seconds:g} s per rate, memory node defaults except min_period 0")
    print(f"# command: {' '.join([os.path.relpath(sys.executable, ROOT), *sys.argv])}")
    print("| rate Hz | sent | achieved Hz | received | stored | counted lost (dropped_transport) | "
          "dropped_invalid | uncounted |")
    print("|---|---|---|---|---|---|---|---|")
    for rate, n, achieved, stored, lost, invalid, uncounted, received in rows:
        print(f"| {rate:.0f} | {n} | {achieved:.0f} | {received} | {stored} | {lost} | {invalid} | {uncounted} |")
    lossless = [r[0] for r in rows if r[3] == r[1]]
    print(f"# highest rate with nothing lost: {max(lossless):.0f} Hz" if lossless else "# every rate lost messages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
