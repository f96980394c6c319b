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
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(ROOT))

MODALITIES = ("camera", "depth", "thermal", "tactile", "pointcloud", "audio")
MAX_MESSAGE_BYTES = 4 << 20  # node parameter: larger messages are dropped unread
U32 = (1 << 32) - 1


# ---- message builders ------------------------------------------------------------------------
def _header(rng, msg):
    if rng.random() < 0.1:  # extreme stamps and frame ids
        msg.header.stamp.sec = int(rng.choice([-(1 << 31), -1, 0, (1 << 31) - 1]))
        msg.header.stamp.nanosec = int(rng.choice([0, 999_999_999, 1_000_000_000, U32]))
        msg.header.frame_id = rng.choice(["", "x" * 4096, "\u00e9\u4e2d/\u0000?", " "])
    else:
        msg.header.stamp.sec = int(rng.integers(0, 1 << 30))
        msg.header.frame_id = "fuzz"
    return msg


IMAGE_ENCODINGS = {
    "camera": ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "rgb16", "bgr16", "yuv422", "uyvy",
               "yuyv", "8UC3", "8UC1", "16UC1", "32FC1", "8UC4", "bayer_rggb8"],
    "tactile": ["rgb8", "bgr8", "mono8", "rgba8", "yuv422", "8UC3", "16UC3", "32FC3"],
    "depth": ["16UC1", "mono16", "32FC1", "64FC1", "8UC1", "mono8", "16SC1", "rgb8"],
    "thermal": ["mono8", "mono16", "16UC1", "32FC1", "64FC1", "8SC1", "16SC1", "32SC1", "rgb8", "8UC2"],
}
_DTYPES = {"8U": np.uint8, "8S": np.int8, "16U": np.uint16, "16S": np.int16, "32S": np.int32,
           "32F": np.float32, "64F": np.float64}


def _bytes_per_pixel(encoding: str) -> Tuple[int, type]:
    named = {"rgb8": (3, np.uint8), "bgr8": (3, np.uint8), "rgba8": (4, np.uint8), "bgra8": (4, np.uint8),
             "mono8": (1, np.uint8), "mono16": (2, np.uint16), "rgb16": (6, np.uint16), "bgr16": (6, np.uint16),
             "yuv422": (2, np.uint8), "uyvy": (2, np.uint8), "yuyv": (2, np.uint8), "bayer_rggb8": (1, np.uint8)}
    if encoding in named:
        return named[encoding]
    depth, channels = encoding[:-2], int(encoding[-1])
    dtype = _DTYPES[depth]
    return channels * np.dtype(dtype).itemsize, dtype


def _content(rng, n_values: int, dtype) -> np.ndarray:
    style = rng.integers(0, 6)
    if np.issubdtype(dtype, np.floating):
        if style == 0:
            return np.full(n_values, rng.choice([np.nan, np.inf, -np.inf, 0.0, -1.0, 1e38, 1e-45]), dtype)
        values = rng.uniform(0.2, 5.0, n_values).astype(dtype)
        if style == 1:  # sprinkled NaN/inf
            values[rng.random(n_values) < 0.3] = rng.choice([np.nan, np.inf, -np.inf])
        elif style == 2:
            values *= rng.choice([-1.0, 1e30, 1e-30, 300.0])
        return values
    info = np.iinfo(dtype)
    if style == 0:
        return np.full(n_values, rng.choice([info.min, info.max, 0]), dtype)
    return rng.integers(info.min, int(info.max) + 1, n_values, dtype=dtype)


def _image_dims(rng) -> Tuple[int, int]:
    style = rng.integers(0, 8)
    if style == 0:
        return 1, int(rng.integers(1, 8192))
    if style == 1:
        return int(rng.integers(1, 8192)), 1
    if style == 2:
        return int(rng.integers(1, 4)), int(rng.integers(1, 4))
    if style == 3:
        return int(rng.integers(64, 481)), int(rng.integers(64, 641))
    return int(rng.integers(2, 97)), int(rng.integers(2, 129))


def extreme_image(rng, modality):
    from sensor_msgs.msg import Image

    encoding = str(rng.choice(IMAGE_ENCODINGS[modality]))
    h, w = _image_dims(rng)
    bpp, dtype = _bytes_per_pixel(encoding)
    pad = int(rng.choice([0, 0, 0, 1, 3, 64]))
    step = w * bpp + pad
    values = _content(rng, h * w * bpp // np.dtype(dtype).itemsize, dtype)
    big = bool(rng.random() < 0.2 and np.dtype(dtype).itemsize > 1)
    rows = values.astype(values.dtype.newbyteorder(">") if big else values.dtype).tobytes()
    data = b"".join(rows[r * w * bpp:(r + 1) * w * bpp] + bytes(pad) for r in range(h)) if pad else rows
    return Image(height=h, width=w, encoding=encoding, is_bigendian=int(big), step=step, data=data)


def malformed_image(rng, modality):
    msg = extreme_image(rng, modality)
    kind = rng.integers(0, 11)
    if kind == 0:
        alphabet = list("abcdefgrbmonoUCSF0123456789_ \u00e9\u4e2d")
        msg.encoding = "".join(rng.choice(alphabet, int(rng.integers(0, 40))))
    elif kind == 1:
        msg.step = int(rng.integers(0, max(1, msg.step)))
    elif kind == 2:
        msg.step = int(rng.choice([U32, (1 << 31), msg.step * 1000 + 1]))
    elif kind == 3:
        msg.data = bytes(max(0, len(msg.data) + int(rng.choice([-1, 1, -7, 13, -len(msg.data)]))))
    elif kind == 4:
        msg.height, msg.width = int(rng.choice([0, 1, U32])), int(rng.choice([0, U32, 1 << 20]))
    elif kind == 5:
        msg.height, msg.width, msg.step = 1 << 16, 1 << 16, 3 << 16  # 4 G pixels declared, tiny data
    elif kind == 6:
        msg.height, msg.width, msg.step = 1, MAX_MESSAGE_BYTES + 1, MAX_MESSAGE_BYTES + 1
        msg.encoding = "mono8"
        msg.data = bytes(MAX_MESSAGE_BYTES + 1) if rng.random() < 0.02 else bytes(16)
    elif kind == 7:
        msg.is_bigendian = int(rng.choice([2, 255]))
    elif kind == 8:
        msg.height = 0
    elif kind == 9:
        msg.width = msg.width + int(rng.integers(1, 10))
    else:
        msg.data = rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8).tobytes()
    return msg


CLOUD_TYPES = {1: np.int8, 2: np.uint8, 3: np.int16, 4: np.uint16, 5: np.int32, 6: np.uint32, 7: np.float32,
               8: np.float64}


def extreme_cloud(rng):
    from sensor_msgs.msg import PointCloud2, PointField

    n = int(rng.choice([1, 2, 3, int(rng.integers(4, 3000)), int(rng.integers(20_000, 60_000))]))
    dt = int(rng.choice([7, 7, 7, 8, 3, 4]))
    names = ["x", "y", "z"] + (["rgb"] if rng.random() < 0.4 else []) + (["intensity"] if rng.random() < 0.3 else [])
    fields, offset = [], 0
    for name in names:
        t = 7 if name in ("rgb", "intensity") else dt
        fields.append(PointField(name=name, offset=offset, datatype=t, count=1))
        offset += np.dtype(CLOUD_TYPES[t]).itemsize + int(rng.choice([0, 0, 0, 4]))
    point_step = offset + int(rng.choice([0, 0, 4, 16]))
    data = bytearray(n * point_step)
    big = rng.random() < 0.15
    for f in fields:
        dtype = np.dtype(CLOUD_TYPES[f.datatype]).newbyteorder(">" if big else "<")
        values = (_content(rng, n, CLOUD_TYPES[f.datatype]) if f.name != "rgb"
                  else rng.integers(0, 1 << 24, n).astype(np.uint32).view(np.float32))
        view = np.ndarray((n,), dtype, buffer=data, offset=f.offset, strides=(point_step,))
        view[:] = values
    organised = rng.random() < 0.2 and n % 4 == 0
    h, w = (4, n // 4) if organised else (1, n)
    return PointCloud2(height=h, width=w, fields=fields, is_bigendian=bool(big), point_step=point_step,
                       row_step=w * point_step, data=bytes(data), is_dense=bool(rng.random() < 0.5))


def malformed_cloud(rng):
    from sensor_msgs.msg import PointField

    msg = extreme_cloud(rng)
    kind = rng.integers(0, 13)
    if kind == 0:
        msg.fields = [f for f in msg.fields if f.name != rng.choice(["x", "y", "z"])]
    elif kind == 1:
        msg.fields[int(rng.integers(0, len(msg.fields)))].offset = int(rng.choice([msg.point_step, U32, 1 << 20]))
    elif kind == 2:
        msg.fields[int(rng.integers(0, len(msg.fields)))].datatype = int(rng.choice([0, 9, 200, 255]))
    elif kind == 3:
        msg.fields[0].count = int(rng.choice([0, 2, U32]))
    elif kind == 4:
        msg.point_step = int(rng.choice([0, 1, U32, msg.point_step - 1]))
    elif kind == 5:
        msg.row_step = int(rng.choice([0, msg.row_step - 1, U32]))
    elif kind == 6:
        msg.width, msg.height = int(rng.choice([U32, 1 << 16])), int(rng.choice([1, U32, 1 << 16]))
    elif kind == 7:
        msg.data = bytes(max(0, len(msg.data) + int(rng.choice([-1, 1, -len(msg.data)]))))
    elif kind == 8:
        msg.fields = list(msg.fields) + [PointField(name="x", offset=0, datatype=7, count=1)]
    elif kind == 9:
        msg.fields = []
    elif kind == 10:
        msg.height = 0
    elif kind == 11:
        msg.fields = list(msg.fields) + [PointField(name=str(rng.choice(["rgb", "rgba", "\u00e9", ""])),
                                                    offset=int(rng.integers(0, 64)),
                                                    datatype=int(rng.integers(0, 12)), count=1)]
    else:
        n = MAX_MESSAGE_BYTES // 12 + 1
        msg.width, msg.height, msg.point_step, msg.row_step = n, 1, 12, n * 12
        msg.data = bytes(n * 12) if rng.random() < 0.02 else bytes(12)
    return msg


AUDIO_FORMATS = ["U8", "S16LE", "S16BE", "S32LE", "S32BE", "F32LE", "F32BE", "F64LE"]
AUDIO_WIDTH = {"U8": 1, "S16LE": 2, "S16BE": 2, "S32LE": 4, "S32BE": 4, "F32LE": 4, "F32BE": 4, "F64LE": 8}


def extreme_audio(rng):
    from codebind_ros.msg import AudioData

    fmt = str(rng.choice(AUDIO_FORMATS))
    rate = int(rng.choice([8000, 11025, 16000, 44100, 48000, 96000, 192000]))
    channels = int(rng.choice([1, 1, 2, 4, 8]))
    seconds = float(rng.choice([1 / rate, 0.001, 0.05, 0.5, 1.0, 2.0]))
    n = max(1, int(rate * seconds))
    while n * channels * AUDIO_WIDTH[fmt] > 2 << 20:
        n //= 2
    width = AUDIO_WIDTH[fmt]
    if fmt.startswith("F"):
        values = _content(rng, n * channels, np.float32 if width == 4 else np.float64)
        dtype = np.dtype(values.dtype).newbyteorder(">" if fmt.endswith("BE") else "<")
        data = values.astype(dtype).tobytes()
    else:
        data = rng.integers(0, 256, n * channels * width, dtype=np.uint8).tobytes()
        if rng.random() < 0.3:  # full scale
            data = (b"\x7f" * width) * (n * channels)
    return AudioData(sample_rate=rate, channels=channels, sample_format=fmt, data=data)


def malformed_audio(rng):
    msg = extreme_audio(rng)
    kind = rng.integers(0, 9)
    if kind == 0:
        msg.sample_format = str(rng.choice(["S24LE", "", "mp3", "f32le", "U16", "\u00e9", "F64BE" * 20]))
    elif kind == 1:
        msg.channels = int(rng.choice([0, 33, 1000, U32]))
    elif kind == 2:
        msg.sample_rate = int(rng.choice([0, 1, 7999, 192_001, 10_000_000, U32]))
    elif kind == 3 and len(msg.data) > 1:
        msg.data = msg.data[:-1]
    elif kind == 4:
        msg.data = b""
    elif kind == 5:  # longer than max_audio_seconds (60 s) at 8 kHz U8
        msg.sample_format, msg.sample_rate, msg.channels = "U8", 8000, 1
        msg.data = bytes(8000 * 61)
    elif kind == 6:
        msg.channels, msg.sample_format = 1, "F32LE"
        msg.data = np.full(int(rng.integers(1, 2000)), rng.choice([np.nan, np.inf]), np.float32).tobytes()
    elif kind == 7:
        msg.data = bytes(MAX_MESSAGE_BYTES + 2) if rng.random() < 0.02 else bytes(3)
    else:
        msg.channels = msg.channels + 1
    return msg


def _valid_message(modality, rng):
    if modality == "pointcloud":
        return extreme_cloud(rng)
    if modality == "audio":
        return extreme_audio(rng)
    return extreme_image(rng, modality)


def _malformed_message(modality, rng):
    if modality == "pointcloud":
        return malformed_cloud(rng)
    if modality == "audio":
        return malformed_audio(rng)
    return malformed_image(rng, modality)


def cdr_garbage(rng, modality) -> Tuple[str, bytes]:
    """Raw serialized bytes: random, CDR header + random, or a real message's serialization
    bit-flipped, truncated or extended."""
    from rclpy.serialization import serialize_message

    kind = int(rng.integers(0, 5))
    if kind == 0:
        return "cdr_random", rng.integers(0, 256, int(rng.integers(0, 4096)), dtype=np.uint8).tobytes()
    if kind == 1:
        return "cdr_header_random", b"\x00\x01\x00\x00" + rng.integers(
            0, 256, int(rng.integers(0, 512)), dtype=np.uint8).tobytes()
    raw = bytearray(serialize_message(_valid_message(modality, rng)))
    if len(raw) > 1 << 16:  # keep the garbage small: bit flips in a 1 MB frame say little more
        raw = raw[:1 << 16]
    if kind == 2:
        for pos in rng.integers(4, max(5, len(raw)), int(rng.integers(1, 16))):
            if pos < len(raw):
                raw[pos] ^= 1 << int(rng.integers(0, 8))
        return "cdr_bitflip", bytes(raw)
    if kind == 3:
        return "cdr_truncated", bytes(raw[:int(rng.integers(0, len(raw)))])
    # a length field (uint32 at a 4-aligned position) made huge
    pos = 4 + 4 * int(rng.integers(0, max(1, (min(len(raw), 256) - 8) // 4)))
    raw[pos:pos + 4] = int(rng.choice([U32, 1 << 31, 1 << 24])).to_bytes(4, "little")
    return "cdr_huge_length", bytes(raw)


def generate(modality: str, count: int, seed: int = 0, cdr_fraction: float = 0.1):
    """``count`` (kind, message or bytes) for ``modality``: about ``cdr_fraction`` raw CDR garbage,
    40 % well-formed extreme messages, the rest field-level malformations."""
    rng = np.random.default_rng([seed, zlib.crc32(modality.encode())])
    for _ in range(count):
        r = rng.random()
        if r < cdr_fraction:
            yield cdr_garbage(rng, modality)
        elif r < cdr_fraction + 0.4:
            yield "extreme", _header(rng, _valid_message(modality, rng))
        else:
            yield "malformed", _header(rng, _malformed_message(modality, rng))


def message_class(modality: str):
    from sensor_msgs.msg import Image, PointCloud2

    from codebind_ros.msg import AudioData

    return {"pointcloud": PointCloud2, "audio": AudioData}.get(modality, Image)


# ---- the node processes -----------------------------------------------------------------------
def peak_rss_mb(pid: int) -> Optional[float]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class NodeProcess:
    """An encoder node in its own process: ``codebind_ros.nodes.encoder_node.main`` with parameters."""

    def __init__(self, modality: str, prefix: str, model_path: str, log_dir: Path, window: int, env: dict):
        self.modality, self.name = modality, f"fuzz_{modality}"
        self.input_topic, self.output_topic = f"{prefix}/{modality}/in", f"{prefix}/{modality}/out"
        params = {"modality": modality, "model_path": model_path, "input_topic": self.input_topic,
                  "output_topic": self.output_topic, "warmup": "false", "batch_size": str(window),
                  "queue_size": str(4 * window), "diagnostics_period": "0.05",
                  f"qos_overrides.{self.input_topic}.subscription.depth": str(4 * window),
                  "log_throttle_sec": "2.0",
                  "max_message_bytes": str(MAX_MESSAGE_BYTES), "stream_timeout": "0.0"}
        args = ["--ros-args", "-r", f"__node:={self.name}"]
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
        done = done_deliverable(values)
        if done >= expected or time.monotonic() - last_progress[0] > stall_s:
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

    from codebind_ros.messaging.middleware import PROFILE_VARIABLE, large_frames_profile
    from codebind_ros.messaging.qos import sensor_qos

    domain = domain if domain is not None else 1 + (os.getpid() % 100)
    log_dir = Path(tempfile.mkdtemp(prefix="codebind-fuzz-"))
    repro_dir = repro_dir or log_dir
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_LOG_DIR=str(log_dir),
               **{PROFILE_VARIABLE: os.environ.get(PROFILE_VARIABLE) or str(large_frames_profile())},
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
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

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.machine())
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
