"""Replay a rosbag2 (sqlite3 or MCAP) or rosbag1 recording onto live topics (``rosbags`` reader).

Messages are published as recorded (CDR bytes, so any message type whose Python package is
installed works), keeping their recorded header stamps and their relative timing divided by
``rate``. ROS 1 bags are converted to CDR on the fly.
"""
from __future__ import annotations

import importlib
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional


def message_class(msgtype: str):
    """'sensor_msgs/msg/Image' -> the rclpy message class (ValueError when not importable)."""
    parts = msgtype.split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3:
        raise ValueError(f"not a message type name: {msgtype!r}")
    try:
        return getattr(importlib.import_module(f"{parts[0]}.{parts[1]}"), parts[2])
    except (ImportError, AttributeError):
        raise ValueError(f"message type {msgtype!r} is not installed") from None


class BagReplayer:
    """Publishes a recording from a background thread.

    Args:
        node: the rclpy node that owns the publishers.
        path: rosbag2 directory (sqlite3 or mcap storage) or a rosbag1 file.
        rate: playback speed factor (2.0 = twice as fast).
        loop: start again at the end.
        topic_map: recorded topic -> published topic; when non-empty only these topics play.
        qos: QoS profile (or depth) of the publishers.
        on_published: called with the published topic after each message (diagnostics).
    """

    def __init__(self, node, path: str, rate: float = 1.0, loop: bool = False,
                 topic_map: Optional[Mapping[str, str]] = None, qos=10,
                 on_published: Optional[Callable[[str], None]] = None):
        from rosbags.highlevel import AnyReader

        if rate <= 0:
            raise ValueError(f"bag playback rate must be > 0, got {rate}")
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise ValueError(f"bag {str(self.path)!r} does not exist")
        self.rate, self.loop = float(rate), bool(loop)
        self.topic_map = dict(topic_map or {})
        self.on_published = on_published
        self._reader_cls = AnyReader
        self.publishers: Dict[str, object] = {}
        self.skipped: Dict[str, str] = {}  # recorded topic -> why it does not play
        with AnyReader([self.path]) as reader:
            for conn in reader.connections:
                if self.topic_map and conn.topic not in self.topic_map:
                    continue
                if conn.topic in self.publishers:
                    continue
                try:
                    cls = message_class(conn.msgtype)
                except ValueError as exc:
                    self.skipped[conn.topic] = str(exc)
                    continue
                out = self.topic_map.get(conn.topic, conn.topic)
                self.publishers[conn.topic] = node.create_publisher(cls, out, qos)
        if not self.publishers:
            raise ValueError(f"bag {str(self.path)!r} has no playable topic (skipped: {self.skipped})")
        self.published = 0
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="codebind-bag-replay", daemon=True)

    def start(self) -> "BagReplayer":
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._play_once()
            if not self.loop:
                break
        self.finished.set()

    def _play_once(self) -> None:
        with self._reader_cls([self.path]) as reader:
            conns = [c for c in reader.connections if c.topic in self.publishers]
            ros1 = not getattr(reader, "is2", True)
            start_bag, start_wall = None, time.monotonic()
            for conn, timestamp, raw in reader.messages(connections=conns):
                if self._stop.is_set():
                    return
                if start_bag is None:
                    start_bag = timestamp
                due = start_wall + (timestamp - start_bag) / 1e9 / self.rate
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                data = bytes(reader.typestore.ros1_to_cdr(raw, conn.msgtype)) if ros1 else bytes(raw)
                self.publishers[conn.topic].publish(data)
                self.published += 1
                if self.on_published is not None:
                    self.on_published(conn.topic)
