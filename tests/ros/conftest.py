"""Real rclpy in tests: localhost-only discovery, a ROS domain per test module, logs in a tmp dir.

Fixtures:
    ros_context   (module) an initialised rclpy Context on this module's own domain id
    spin          (module) a MultiThreadedExecutor spinning in a background thread; call
                  ``spin.add(node)`` to run a node, nodes are removed and destroyed at teardown
    tiny_model    (session) a small CodeBind model with every sensor's target modality
    topic         (function) a unique topic prefix, so concurrent tests never cross-talk
Helpers for the tests live in ``ros_testing.py`` (imported by module name, which is unique).
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
import traceback
import uuid
import zlib
from typing import List

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="codebind-ros-logs-"))
os.environ.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

rclpy = pytest.importorskip("rclpy")
try:  # the generated interfaces must be built (scripts/build_interfaces.sh)
    import codebind_ros.msg  # noqa: F401,E402
except ImportError as exc:  # pragma: no cover - a set-up problem, reported loudly
    raise RuntimeError("codebind_ros interfaces are not built: run scripts/build_interfaces.sh") from exc

from rclpy.executors import MultiThreadedExecutor  # noqa: E402

ROS_TARGETS = ["depth", "thermal", "tactile", "pointcloud", "audio"]


def domain_id_for(name: str) -> int:
    """A ROS domain id in 1..100 from the module name and process id (parallel runs differ)."""
    return 1 + (zlib.crc32(name.encode()) + os.getpid()) % 100


@pytest.fixture(scope="module")
def ros_context(request):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id_for(request.module.__name__))
    yield context
    rclpy.shutdown(context=context)


class Spinner:
    """A MultiThreadedExecutor on a background thread.

    An exception out of a callback comes out of ``spin_once``; it is kept in ``errors`` (and
    logged) and the spinning goes on: a thread that stopped there would leave every node of the
    test unserved (a client's answer never processed), failing much later for no visible reason."""

    def __init__(self, context):
        self.executor = MultiThreadedExecutor(num_threads=4, context=context)
        self.nodes: List = []
        self.errors: List[str] = []
        self._closing = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self.executor.context.ok() and not self._closing:
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception as exc:
                if self._closing or not self.executor.context.ok():
                    break  # executor shut down under us at teardown
                self.errors.append("".join(traceback.format_exception(exc)))
                logging.getLogger("codebind.tests.spin").error("callback failed: %s: %s",
                                                               type(exc).__name__, exc)

    def add(self, node):
        self.executor.add_node(node)
        self.nodes.append(node)
        return node

    def remove(self, node) -> None:
        self.executor.remove_node(node)
        self.nodes.remove(node)
        node.destroy_node()

    def close(self) -> None:
        self._closing = True
        for node in list(self.nodes):
            self.remove(node)
        self.executor.shutdown(timeout_sec=2.0)


@pytest.fixture(scope="module")
def spin(ros_context):
    spinner = Spinner(ros_context)
    yield spinner
    spinner.close()


@pytest.fixture(scope="session")
def tiny_model():
    import torch

    import codebind_core as cb

    torch.manual_seed(0)
    return cb.create_model(cb.CodeBindConfig.preset("tiny", targets=ROS_TARGETS)).eval()


@pytest.fixture
def topic() -> str:
    return f"/t{uuid.uuid4().hex[:10]}"
