"""Every sensor type at its usual rate through an encoder node process: does it keep up?

    .venv/bin/python benchmarks/sensor_rates.py                       # every sensor, 15 s each
    .venv/bin/python benchmarks/sensor_rates.py --sensors camera depth --seconds 10

One encoder node process per sensor, started as a robot starts it (``encoder_node`` with the
model, default backend and parameters, the shipped Fast DDS profile; audio with 2 s windows every
0.1 s). This process publishes each sensor in turn at its rate for ``--seconds`` (paced by the
clock, header stamp = wall time at publish; best-effort publisher as most drivers) and records
each Embedding's arrival. Per sensor: messages sent, embeddings expected (audio: one per window)
and received, frames the node dropped (overload, counted lost in transport, invalid, from its
/diagnostics), stamp -> embedding p50 / p99 against the frame period, and the encoder process's
CPU use. A sensor keeps its rate when p99 < the period and nothing was dropped. ``--together``
publishes every sensor at once (a thread each), as a robot runs them.

Sensors (message as the usual driver publishes it):
  camera      640 x 480 rgb8, 30 Hz          depth       640 x 480 16UC1, 30 Hz
  tactile     320 x 240 rgb8, 30 Hz           thermal     640 x 512 mono16, 30 Hz
  audio       0.1 s chunks, 16 kHz S16LE, 10 Hz; 2 s windows every 0.1 s (10 Hz)
  pointcloud  100,000 points xyz + rgb, 20 Hz  cloud_300k  300,000 points xyz + rgb, 10 Hz
"""
from __future__ import annotations

import argparse
import os
import shlex
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
sys.path.insert(0, str(ROOT / "benchmarks"))
from sensor_qos import Watch as StreamWatch  # noqa: E402

from codebind_ros.messaging.topics import encoder_remaps  # noqa: E402
AUDIO_RATE, AUDIO_CHUNK_S, AUDIO_WINDOW_S, AUDIO_HOP_S = 16_000, 0.1, 2.0, 0.1
# name -> (encoder modality, rate Hz, description)
SENSORS = {
    "camera": ("camera", 30.0, "640x480 rgb8"),
    "depth": ("depth", 30.0, "640x480 16UC1"),
    "tactile": ("tactile", 30.0, "320x240 rgb8"),
    "thermal": ("thermal", 30.0, "640x512 mono16"),
    "audio": ("audio", 10.0, "2 s windows / 0.1 s"),
    "pointcloud": ("pointcloud", 20.0, "100k points"),
    "cloud_300k": ("pointcloud", 10.0, "300k points"),
}
DEFAULT_SENSORS = ["camera", "depth", "tactile", "thermal", "audio", "pointcloud", "cloud_300k"]


def message(name: str, rng: np.random.Generator):
    from codebind_ros.conversions.audio import array_to_audio
    from codebind_ros.conversions.image import array_to_image
    from codebind_ros.conversions.pointcloud2 import xyz_to_cloud

    if name in ("camera", "tactile"):
        h, w = (480, 640) if name == "camera" else (240, 320)
        return array_to_image(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "rgb8")
    if name == "depth":
        return array_to_image(rng.integers(300, 5000, (480, 640), dtype=np.uint16), "16UC1")
    if name == "thermal":
        return array_to_image(rng.integers(20_000, 40_000, (512, 640), dtype=np.uint16), "mono16")
    if name == "audio":
        return array_to_audio(0.1 * rng.standard_normal(int(AUDIO_RATE * AUDIO_CHUNK_S)), AUDIO_RATE, "S16LE")
    n = 100_000 if name == "pointcloud" else 300_000
    pts = np.concatenate([rng.uniform(-5, 5, (n, 3)), rng.integers(0, 256, (n, 3)) / 255.0], axis=1)
    return xyz_to_cloud(pts.astype(np.float32))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Watch(StreamWatch):
    """Embedding arrival latencies and each encoder's latest /diagnostics values (the counts and
    ``settled`` of sensor_qos.py's watcher, for this benchmark's encoder nodes)."""

    def __init__(self, node, prefix: str, sensors):
        from diagnostic_msgs.msg import DiagnosticArray

        from codebind_ros.messaging.qos import results_qos
        from codebind_ros.msg import Embedding

        self.lock = threading.Lock()
        self.latency = {s: [] for s in sensors}
        self.values, self.reports = {}, {}
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, results_qos(100))
        for s in sensors:
            node.create_subscription(Embedding, f"{prefix}/{s}/out", lambda m, s=s: self._on_embedding(s, m),
                                     results_qos(100))

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            if status.name.startswith("codebind/rate_"):
                with self.lock:
                    sensor = status.name.removeprefix("codebind/rate_")
                    self.values[sensor] = {kv.key: kv.value for kv in status.values}
                    self.reports[sensor] = self.reports.get(sensor, 0) + 1


def start_encoder(sensor: str, prefix: str, model_path: str, env: dict, log_dir: Path, extra):
    modality = SENSORS[sensor][0]
    args = ["--ros-args", "-r", f"__node:=rate_{sensor}", "-p", f"modality:={modality}",
            "-p", f"model_path:={model_path}",
            *encoder_remaps(modality, f"{prefix}/{sensor}", f"{prefix}/{sensor}/out")]
    if modality == "audio":
        args += ["-p", f"audio_window_seconds:={AUDIO_WINDOW_S}", "-p", f"audio_hop_seconds:={AUDIO_HOP_S}"]
    for item in extra:
        args += ["-p", item]
    log = open(log_dir / f"rate_{sensor}.log", "wb")
    return subprocess.Popen([sys.executable, "-m", "codebind_ros.nodes.encoder_node", *args],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


def drive(pub, msg, rate: float, seconds: float) -> int:
    """Publish ``msg`` at ``rate`` for ``seconds`` (paced by the clock); the number sent."""
    sent, due, end = 0, time.monotonic(), time.monotonic() + seconds
    while due < end:
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(time.time_ns(), 1_000_000_000)
        pub.publish(msg)
        sent += 1
        due += 1.0 / rate
        time.sleep(max(0.0, due - time.monotonic()))
    return sent


class Stream:
    """One sensor's publisher, message and counts around a run."""

    def __init__(self, sensor, node, watch, proc, prefix: str, rng):
        from codebind_ros.conversions import sensors as ros_sensors
        from codebind_ros.messaging.qos import sensor_qos

        self.sensor, self.node, self.watch, self.proc = sensor, node, watch, proc
        self.modality, self.rate, _ = SENSORS[sensor]
        self.pub = node.create_publisher(ros_sensors.get(self.modality).message, f"{prefix}/{sensor}",
                                         sensor_qos(5))
        self.msg = message(sensor, rng)
        self.sent = 0

    def ready(self) -> None:
        deadline = time.monotonic() + 60
        while self.pub.get_subscription_count() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        self.before = self.watch.settled(self.sensor)
        with self.watch.lock:
            self.watch.latency[self.sensor].clear()
        self.cpu0, self.t0 = cpu_seconds(self.proc.pid), time.monotonic()

    def drive(self, seconds: float) -> None:
        self.sent = drive(self.pub, self.msg, self.rate, seconds)
        self.wall, self.cpu = time.monotonic() - self.t0, cpu_seconds(self.proc.pid) - self.cpu0

    def result(self) -> dict:
        after = self.watch.settled(self.sensor)  # the publisher stays: destroyed under the spinning
        # executor, its event handlers raised InvalidHandle there and ended the spin thread
        d = {k: after[k] - self.before[k] for k in ("received", "processed", "dropped_overload", "dropped_invalid",
                                                    "lost_in_transport")}
        with self.watch.lock:
            lat = np.asarray(self.watch.latency[self.sensor]) * 1e3
        audio = self.modality == "audio"
        windows_per_chunk = AUDIO_CHUNK_S / AUDIO_HOP_S
        first = int(round(AUDIO_WINDOW_S / AUDIO_CHUNK_S)) - 1  # chunks before the first full window
        expected = max(0, int((self.sent - first) * windows_per_chunk)) if audio else self.sent
        dropped = d["dropped_overload"] + d["lost_in_transport"] + d["dropped_invalid"]
        p50, p99 = (np.percentile(lat, 50), np.percentile(lat, 99)) if lat.size else (float("nan"),) * 2
        period = 1e3 / (self.rate * (windows_per_chunk if audio else 1.0))
        return {"sent": self.sent, "expected": expected, "embedded": int(lat.size), "dropped": dropped, **d,
                "p50": p50, "p99": p99, "max": float(lat.max()) if lat.size else float("nan"), "period": period,
                "cpu": 100.0 * self.cpu / self.wall,
                "ok": bool(lat.size and p99 < period and dropped == 0 and lat.size == expected)}


def run(streams, seconds: float, together: bool):
    """Drive the streams one after the other, or all at once (a thread each)."""
    if not together:
        for stream in streams:
            stream.ready()
            stream.drive(seconds)
            yield stream.sensor, stream.result()
        return
    for stream in streams:
        stream.ready()
    threads = [threading.Thread(target=stream.drive, args=(seconds,)) for stream in streams]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for stream in streams:
        yield stream.sensor, stream.result()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sensors", nargs="+", default=DEFAULT_SENSORS, choices=sorted(SENSORS))
    parser.add_argument("--seconds", type=float, default=15.0, help="publishing time per sensor")
    parser.add_argument("--model-path", default=str(ROOT / "models" / "demo"))
    parser.add_argument("--domain", type=int, default=1 + os.getpid() % 100)
    parser.add_argument("--together", action="store_true", help="every sensor at once (a robot's case)")
    parser.add_argument("--param", action="append", default=[],
                        help="extra encoder parameter name:=value (repeatable), e.g. backend:=onnxruntime")
    args = parser.parse_args()

    from codebind_ros.messaging.middleware import use_large_frames_profile
    from memory_objects import cpu_name

    log_dir = Path(tempfile.mkdtemp(prefix="codebind-sensor-rates-"))
    os.environ.update(ROS_DOMAIN_ID=str(args.domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
                      ROS_LOG_DIR=str(log_dir), HF_HUB_OFFLINE="1")
    profile = use_large_frames_profile(os.environ)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from codebind_ros.nodes.session import freeze_start_up_objects

    prefix = f"/r{uuid.uuid4().hex[:8]}"
    procs = {s: start_encoder(s, prefix, args.model_path, env, log_dir, args.param) for s in args.sensors}
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=args.domain)
    node = Node("codebind_rate_benchmark", context=context)
    watch = Watch(node, prefix, args.sensors)
    # One thread for the light callbacks: rclpy's MultiThreadedExecutor here kept the GIL busy
    # and held up this process's publishing loop for up to 6 s (late frames in bursts, which the
    # encoders then dropped as overload); its full garbage collections took ~100 ms each.
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    freeze_start_up_objects()
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    print(f"# {cpu_name()}, {os.cpu_count()} CPUs, profile {Path(profile).name if profile else '-'}, model "
          f"{Path(args.model_path).name}, encoder defaults{' + ' + ' '.join(args.param) if args.param else ''}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {args.seconds:g} s per sensor, "
          f"{'all sensors at once' if args.together else 'one sensor at a time'}; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at the start")
    print(f"# command: {shlex.join(['.venv/bin/python', 'benchmarks/sensor_rates.py', *sys.argv[1:]])}")
    rows = {}
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not all(watch.reports.get(s) for s in args.sensors):
            if any(p.poll() is not None for p in procs.values()):
                raise RuntimeError(f"an encoder exited; logs in {log_dir}")
            time.sleep(0.5)
        rng = np.random.default_rng(0)
        streams = [Stream(s, node, watch, procs[s], prefix, rng) for s in args.sensors]
        for sensor, r in run(streams, args.seconds, args.together):
            rows[sensor] = r
            print(f"# {sensor}: {r}", flush=True)
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGINT)
        codes = [proc.wait(timeout=60) for proc in procs.values()]
        executor.shutdown()
        spinner.join(10.0)
        node.destroy_node()
        rclpy.shutdown(context=context)
    print(f"# load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end; encoder exit codes after "
          f"SIGINT {codes}; logs in {log_dir}")
    print("| sensor | message | rate Hz | sent | expected | embedded | dropped (overload / lost / invalid) | "
          "p50 ms | p99 ms | period ms | encoder CPU % | keeps rate |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for sensor, r in rows.items():
        modality, rate, what = SENSORS[sensor]
        print(f"| {modality if sensor != 'cloud_300k' else 'pointcloud'} | {what} | {rate:g} | {r['sent']} | "
              f"{r['expected']} | {r['embedded']} | {r['dropped']} ({r['dropped_overload']} / "
              f"{r['lost_in_transport']} / {r['dropped_invalid']}) | {r['p50']:.1f} | {r['p99']:.1f} | "
              f"{r['period']:.1f} | {r['cpu']:.0f} | {'yes' if r['ok'] else 'no'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
