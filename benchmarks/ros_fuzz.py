"""Fuzzing at scale: malformed and extreme messages through real encoder node processes.

    .venv/bin/python benchmarks/ros_fuzz.py                       # 10,000 per sensor type
    .venv/bin/python benchmarks/ros_fuzz.py --messages 300 --modalities camera,audio

One encoder node process per sensor type (``codebind_ros.nodes.encoder_node``, the shipped demo model
``models/demo``, reliable sensor QoS) is started; then, one sensor type after the other, this
process publishes ``--messages`` messages on the node's input topic: well-formed but extreme
messages (odd sizes, 1 x N images, NaN/inf/huge values, every encoding, big-endian data, clouds
with padding or NaN points, audio at the rate limits), field-level malformations (bad encodings,
steps, sizes, field layouts, sample formats, channel counts, sample rates, sizes over the limits)
and raw CDR garbage (random bytes, bit-flipped and truncated serializations published as
serialized messages with ``Publisher.publish(bytes)``).

Flow control: at most ``--window`` messages are outstanding (sent minus what the node's
/diagnostics, every 0.05 s, has accounted for: processed + dropped_* + errors). The node runs with
``batch_size`` = window and subscription depth and queue of 4 x window: its worker takes up to
``batch_size`` messages and drops older ones (``dropped_overload``, by design), so with this window
every message reaches the conversion code, and a reliable middleware has no reason to lose any.
Per sensor type it reports:

- sent, embedded (the node's ``processed``; the Embeddings received here are checked against it),
  dropped per reason (``dropped_invalid``, ``dropped_overload``, ``dropped_transport``, errors);
- CDR garbage the middleware could not deserialize (checked here with
  ``rclpy.serialization.deserialize_message``, the same typesupport): the node never sees it and
  it is reported apart, as "not deserializable"; the node counts such a message as lost in
  transport once a later message shows the gap in the publisher's sequence numbers, so up to that
  many of ``dropped_transport`` are these and not deliverable messages;
- uncounted = deliverable sent - embedded - counted drops (the node lost a message silently);
- crashes (the node process died), hangs (no /diagnostics for ``--hang-s`` seconds while the
  process lives), peak RSS of the node process (VmHWM).

After a crash or a hang the last ``--window`` messages are written to ``--repro-dir`` (pickled
list of (kind, serialized CDR bytes)) and that sensor type stops. Exit status 1 when any crash,
hang or uncounted message was seen.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import asdict
from pathlib import Path
from typing import Callable, List, Optional

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(ROOT))
from machine import cpu_model  # noqa: E402

from fuzz_harness import NodeProcess, Result, Watcher, accounted  # noqa: E402
from fuzz_messages import MODALITIES, generate, message_class  # noqa: E402

__all__ = ["MODALITIES", "Result", "fuzz_one", "run", "table", "main"]


def fuzz_one(node_proc: NodeProcess, publisher, watcher: Watcher, count: int, window: int, seed: int,
             hang_s: float, stall_s: float, repro_dir: Path, log: Callable[[str], None]) -> Result:
    from rclpy.serialization import deserialize_message, serialize_message

    res = Result(node_proc.modality)
    msg_type = message_class(node_proc.modality)
    kinds: Counter = Counter()
    recent: deque = deque(maxlen=window)
    expected, written_off = 0, 0
    last_progress = (time.monotonic(), -1)
    started = time.monotonic()
    _, base = watcher.get(node_proc.name)
    base_accounted = accounted(base)

    def done_deliverable(values: dict) -> int:
        """What the node accounted for of the deliverable messages. The node subscribes to the raw
        serialized bytes, so every undeserializable message reaches it and is counted (refused as
        invalid, or lost in transport): those counts are not deliverable messages."""
        return accounted(values) - base_accounted - res.not_deserializable

    def check() -> Optional[str]:
        """'crash' / 'hang' / None; also writes off a stalled window as uncounted."""
        nonlocal written_off, last_progress
        node_proc.sample_rss()
        if not node_proc.alive():
            return "crash"
        stamp, values = watcher.get(node_proc.name)
        now = time.monotonic()
        if now - stamp > hang_s:
            return "hang"
        done = done_deliverable(values)
        written_off = max(0, min(written_off, expected - done))  # late arrivals take their write-off back
        if done != last_progress[1]:
            last_progress = (now, done)
        elif expected - done - written_off > 0 and now - last_progress[0] > stall_s:
            sizes = [(k, len(p) if isinstance(p, bytes) else len(getattr(p, "data", b""))) for k, p in recent]
            log(f"  {node_proc.modality}: {expected - done - written_off} messages unaccounted after "
                f"{stall_s:.0f} s (diagnostics: {values}), written off for now; last sent (kind, data bytes): "
                f"{sizes[-(expected - done - written_off):]}")
            res.stalls += 1
            written_off = expected - done
        return None

    failure = None
    for kind, payload in generate(node_proc.modality, count, seed):
        while failure is None:
            _, values = watcher.get(node_proc.name)
            written_off = max(0, min(written_off, expected - done_deliverable(values)))
            if expected - done_deliverable(values) - written_off < window:
                break
            failure = check()
            time.sleep(0.002)
        if failure is not None:
            break
        if isinstance(payload, bytes):
            res.raw_cdr += 1
            try:
                deserialize_message(payload, msg_type)
                deliverable = True
            except Exception:
                deliverable = False
                res.not_deserializable += 1
            recent.append((kind, payload))
        else:
            deliverable = True
            recent.append((kind, payload))
        publisher.publish(payload)
        res.sent += 1
        kinds[kind] += 1
        expected += deliverable
        if res.sent % 256 == 0:
            failure = check()

    # settle: everything deliverable accounted for, or no progress for stall_s
    while failure is None:
        _, values = watcher.get(node_proc.name)
        if done_deliverable(values) >= expected or time.monotonic() - last_progress[0] > stall_s:
            break
        failure = check()
        time.sleep(0.05)
    time.sleep(0.3)  # one more diagnostics report
    node_proc.sample_rss()
    _, values = watcher.get(node_proc.name)
    res.seconds = time.monotonic() - started
    res.embedded = int(values.get("processed", 0)) - int(base.get("processed", 0))
    for reason in ("invalid", "overload", "transport"):
        key = f"dropped_{reason}"
        setattr(res, key, int(values.get(key, 0)) - int(base.get(key, 0)))
    res.errors = int(values.get("errors", 0)) - int(base.get("errors", 0))
    res.last_error = values.get("last_error", "")[:200]
    res.qos = values.get("qos", "")
    res.uncounted = expected - done_deliverable(values)
    res.kinds = dict(kinds)
    time.sleep(0.5)
    res.embeddings_seen = watcher.embeddings[node_proc.name]
    res.peak_rss_mb = round(node_proc.peak_mb or 0.0, 1)
    if failure:
        setattr(res, failure + "es" if failure == "crash" else failure + "s", 1)
        repro_dir.mkdir(parents=True, exist_ok=True)
        path = repro_dir / f"{failure}_{node_proc.modality}.pkl"
        with open(path, "wb") as fh:
            pickle.dump([(k, p if isinstance(p, bytes) else bytes(serialize_message(p))) for k, p in recent], fh)
        res.note = f"{failure}: last {len(recent)} messages in {path}; node log: {node_proc.log_tail(600)!r}"
        if failure == "hang":
            node_proc.proc.kill()
    return res


def run(modalities, count: int, window: int = 16, seed: int = 0, model_path: str = str(ROOT / "models" / "demo"),
        domain: Optional[int] = None, hang_s: float = 15.0, stall_s: float = 10.0,
        repro_dir: Optional[Path] = None, log: Callable[[str], None] = lambda s: print(s, file=sys.stderr,
                                                                                      flush=True)
        ) -> List[Result]:
    """Start one encoder process per modality, fuzz them one after the other, stop them."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node

    from codebind_ros.messaging.middleware import use_large_frames_profile
    from codebind_ros.messaging.qos import sensor_qos

    domain = domain if domain is not None else 1 + (os.getpid() % 100)
    log_dir = Path(tempfile.mkdtemp(prefix="codebind-fuzz-"))
    repro_dir = repro_dir or log_dir
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_LOG_DIR=str(log_dir),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    use_large_frames_profile(env)  # the user's profile if set, else the shipped one (this Fast DDS's variable)
    prefix = f"/fuzz{uuid.uuid4().hex[:8]}"
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    node = Node("codebind_fuzz_driver", context=context)
    watcher = Watcher(node)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    procs = {m: NodeProcess(m, prefix, model_path, log_dir, window, env) for m in modalities}
    results = []
    try:
        publishers = {}
        for m, p in procs.items():
            watcher.watch_output(p.name, p.output_topic)
            publishers[m] = node.create_publisher(message_class(m), p.input_topic, sensor_qos(4 * window, "reliable"))
        for m, p in procs.items():
            deadline = time.monotonic() + 120.0
            while time.monotonic() < deadline and p.alive() and not (
                    publishers[m].get_subscription_count() >= 1 and watcher.get(p.name)[1]):
                time.sleep(0.1)
            if not p.alive() or not watcher.get(p.name)[1]:
                raise RuntimeError(f"encoder {m} did not start: {p.log_tail()}")
        time.sleep(0.5)
        log(f"{len(procs)} encoder node processes up (domain {domain}, logs in {log_dir})")
        for m, p in procs.items():
            res = fuzz_one(p, publishers[m], watcher, count, window, seed, hang_s, stall_s, repro_dir, log)
            log(json.dumps(asdict(res)))
            results.append(res)
    finally:
        for m, p in procs.items():
            code = p.stop()
            if code not in (0, None, -9):
                for res in results:
                    if res.modality == m and not res.crashes:
                        res.note += f" exit status {code} at shutdown"
        executor.shutdown()
        rclpy.shutdown(context=context)
    return results


def table(results: List[Result]) -> str:
    lines = ["| sensor | sent | raw CDR (not deserializable) | embedded | dropped_invalid | dropped_overload | "
             "dropped_transport | errors | uncounted | crashes | hangs | peak RSS MB | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.modality} | {r.sent} | {r.raw_cdr} ({r.not_deserializable}) | {r.embedded} | "
                     f"{r.dropped_invalid} | {r.dropped_overload} | {r.dropped_transport} | {r.errors} | "
                     f"{r.uncounted} | {r.crashes} | {r.hangs} | {r.peak_rss_mb:.0f} | {r.seconds:.0f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="messages per sensor type")
    parser.add_argument("--modalities", default=",".join(MODALITIES))
    parser.add_argument("--window", type=int, default=16, help="most messages outstanding")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=str(ROOT / "models" / "demo"))
    parser.add_argument("--domain", type=int, default=None)
    parser.add_argument("--hang-s", type=float, default=15.0)
    parser.add_argument("--json", default="", help="also write the results to this file")
    args = parser.parse_args()
    started = time.monotonic()
    results = run(args.modalities.split(","), args.messages, args.window, args.seed, args.model, args.domain,
                  args.hang_s)
    from rclpy.utilities import get_rmw_implementation_identifier

    cpu = cpu_model()
    print(f"# {cpu}, {os.cpu_count()} CPUs, {get_rmw_implementation_identifier()}, model {Path(args.model).name}, "
          f"{args.messages} messages per sensor type, window {args.window}, "
          f"{time.monotonic() - started:.0f} s in all")
    print(f"# command: {' '.join([os.path.relpath(sys.executable, ROOT), *sys.argv])}")
    print(table(results))
    for r in results:
        print(f"# {r.modality}: {json.dumps(r.kinds)}; embeddings received here {r.embeddings_seen}"
              + (f"; {r.note}" if r.note else ""))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=1))
    bad = any(r.crashes or r.hangs or r.uncounted for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
