"""The fuzzed side of benchmarks/ros_fuzz.py: an encoder node in its own process, the watcher of the
nodes' /diagnostics and Embedding outputs, and the per-sensor result."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple

from fuzz_messages import MAX_MESSAGE_BYTES
from codebind_ros.messaging.topics import encoder_remaps
from machine import peak_rss_mb


class NodeProcess:
    """An encoder node in its own process: ``codebind_ros.nodes.encoder_node.main`` with parameters."""

    def __init__(self, modality: str, prefix: str, model_path: str, log_dir: Path, window: int, env: dict):
        self.modality, self.name = modality, f"fuzz_{modality}"
        self.input_topic, self.output_topic = f"{prefix}/{modality}/in", f"{prefix}/{modality}/out"
        params = {"modality": modality, "model_path": model_path, "warmup": "false", "batch_size": str(window),
                  "queue_size": str(4 * window), "diagnostics_period": "0.05",
                  f"qos_overrides.{self.input_topic}.subscription.depth": str(4 * window),
                  # reliable: a best-effort reader loses big frames, and one lost before the first
                  # delivered message of a publisher already in the graph is visible to no one
                  f"qos_overrides.{self.input_topic}.subscription.reliability": "reliable",
                  "log_throttle_sec": "2.0",
                  "max_message_bytes": str(MAX_MESSAGE_BYTES), "stream_timeout": "0.0"}
        # absolute names: the qos_overrides keys above are the remapped, fully qualified names
        args = ["--ros-args", "-r", f"__node:={self.name}",
                *encoder_remaps(modality, self.input_topic, self.output_topic)]
        for k, v in params.items():
            args += ["-p", f"{k}:={v}"]
        self.log_path = log_dir / f"{self.name}.log"
        self._log = open(self.log_path, "wb")
        code = "import sys; from codebind_ros.nodes.encoder_node import main; sys.exit(main())"
        self.proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.peak_mb: Optional[float] = None

    def sample_rss(self) -> None:
        value = peak_rss_mb(self.proc.pid)
        if value is not None:
            self.peak_mb = max(self.peak_mb or 0.0, value)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 2000) -> str:
        self._log.flush()
        return self.log_path.read_bytes()[-n:].decode(errors="replace")

    def stop(self) -> Optional[int]:
        if self.alive():
            self.proc.send_signal(2)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@dataclass
class Result:
    modality: str
    sent: int = 0
    raw_cdr: int = 0
    not_deserializable: int = 0
    embedded: int = 0
    embeddings_seen: int = 0
    dropped_invalid: int = 0
    dropped_overload: int = 0
    dropped_transport: int = 0
    errors: int = 0
    uncounted: int = 0
    crashes: int = 0
    hangs: int = 0
    stalls: int = 0
    peak_rss_mb: float = 0.0
    seconds: float = 0.0
    kinds: Dict[str, int] = field(default_factory=dict)
    last_error: str = ""
    note: str = ""
    qos: str = ""  # the node's input subscription QoS, from its /diagnostics


class Watcher:
    """This process's side: /diagnostics of every fuzzed node, their Embedding outputs."""

    def __init__(self, node):
        from diagnostic_msgs.msg import DiagnosticArray

        from codebind_ros.nodes.diagnostics import status_values
        from codebind_ros.msg import Embedding
        from codebind_ros.messaging.qos import results_qos

        self._values = status_values
        self.latest: Dict[str, Tuple[float, dict]] = {}
        self.embeddings: Counter = Counter()
        self._lock = threading.Lock()
        self._node = node
        self._embedding, self._qos = Embedding, results_qos
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, results_qos(100))

    def watch_output(self, name: str, topic: str) -> None:
        self._node.create_subscription(self._embedding, topic, lambda m, n=name: self._count(n), self._qos(500))

    def _count(self, name: str) -> None:
        with self._lock:
            self.embeddings[name] += 1

    def _on_diagnostics(self, msg) -> None:
        now = time.monotonic()
        with self._lock:
            for status in msg.status:
                if status.name.startswith("codebind/"):
                    self.latest[status.name.split("/", 1)[1]] = (now, self._values(status))

    def get(self, name: str) -> Tuple[float, dict]:
        with self._lock:
            return self.latest.get(name, (0.0, {}))


def accounted(values: dict) -> int:
    return int(values.get("processed", 0)) + int(values.get("dropped_total", 0)) + int(values.get("errors", 0))
