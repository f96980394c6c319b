"""Every executable stops cleanly: SIGINT (Ctrl-C of ``ros2 launch``) and SIGTERM (what launch
sends next, and what process supervisors send) end each node's process with status 0 and no
traceback, and the memory node commits what it holds before it exits.

Real processes, real rclpy: each node runs as its own executable (``python -m ...``), the way
``ros2 run`` / ``ros2 launch`` start it, on this module's ROS domain."""
from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from ros_testing import wait_for_subscribers, wait_until
from rclpy.node import Node
from std_msgs.msg import Header

import codebind_core as cb
from codebind_core.memory import CodebookSet, ObservationMemory
from codebind_ros.conversions import embedding_msg
from codebind_ros.nodes.diagnostics import DIAGNOSTICS_TOPIC
from codebind_ros.msg import Embedding
from codebind_ros.messaging.qos import results_qos
from codebind_ros.conversions.results import ns_to_stamp
from codebind_ros.messaging.topics import embedding_topic

ROOT = Path(__file__).resolve().parents[2]
PATH = "depth"
PENDING = 5  # observations the memory node holds, uncommitted, when the signal arrives


@pytest.fixture(scope="module")
def checkpoint(tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tiny-shutdown"
    cb.save(tiny_model, path)
    return path


class Diagnostics:
    """The latest /diagnostics values per status name (``codebind/<node>``)."""

    def __init__(self, node):
        self.latest = {}
        node.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, self._on, results_qos(100))

    def _on(self, msg):
        for status in msg.status:
            self.latest[status.name] = {kv.key: kv.value for kv in status.values}


def _start(args, domain, log):
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, *args], env=env, cwd=ROOT, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)


def _node(module, namespace, name, *params):
    args = ["-m", f"codebind_ros.nodes.{module}", "--ros-args", "-r", f"__ns:={namespace}",
            "-r", f"__node:={name}", "-p", "diagnostics_period:=0.2"]
    for p in params:
        args += ["-p", p]
    return args


def _embeddings(model, model_id, first_sec):
    with torch.no_grad():
        emb = model.encode_text([f"object number {i}" for i in range(PENDING)], codebook_set=PATH)
    return [embedding_msg.to_msg(emb, i, Header(stamp=ns_to_stamp((first_sec + i) * 10**9), frame_id="cam"),
                                 "audio", model_id) for i in range(PENDING)]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_every_node_exits_cleanly_on_a_signal_and_the_memory_keeps_what_it_held(
        signum, spin, ros_context, tiny_model, checkpoint, topic, tmp_path):
    domain = ros_context.get_domain_id()
    model = f"model_path:={checkpoint}"
    # commit_period is long: the PENDING observations are still uncommitted when the signal comes
    memory_db, graph_db = tmp_path / "memory.db", tmp_path / "graph.db"
    graph_params = tmp_path / "graph.yaml"
    graph_params.write_text(yaml.safe_dump({
        "/**": {"ros__parameters": {"model_path": "", "backend": "torch", "diagnostics_period": 0.2}},
        "encoder_g": {"ros__parameters": {"modality": "camera", "warmup": False}},
        "memory_g": {"ros__parameters": {"commit_period": 3600.0, "min_period": 0.0,
                                         "modalities": "audio", "store_proposals": False}},
    }))
    runs = {
        "encoder": _node("encoder_node", topic, "enc", model, "modality:=camera", "warmup:=false"),
        "localisation": _node("localisation_node", topic, "loc", model),
        "memory": _node("memory_node", topic, "mem", model, f"db_path:={memory_db}", "modalities:=audio",
                        "store_proposals:=false", "commit_period:=3600.0", "min_period:=0.0"),
        # its own namespace: its frames must not reach the memory node's count
        "sensor_player": _node("sensor_player", f"{topic}/sim", "player", "noise_frames:=1"),
        "graph": ["-m", "codebind_ros.tools.graph_runner", "--params-file", str(graph_params), "--use-sim", "false",
                  "--model-path", str(checkpoint), "--memory-db", str(graph_db),
                  "--ros-args", "-r", f"encoder_g:camera/image_raw:={topic}/graph/cam"],
    }
    status_names = {"encoder": "codebind/enc", "localisation": "codebind/loc", "memory": "codebind/mem",
                    "sensor_player": "codebind/player", "graph": "codebind/memory_g"}
    helper = spin.add(Node("shutdown_helper", namespace=topic, context=ros_context))
    diagnostics = Diagnostics(helper)
    to_memory = helper.create_publisher(Embedding, embedding_topic("audio"), results_qos(50))
    to_graph = helper.create_publisher(Embedding, f"/{embedding_topic('audio')}", results_qos(50))
    logs = {name: tmp_path / f"{name}.log" for name in runs}
    procs = {name: _start(args, domain, logs[name]) for name, args in runs.items()}
    try:
        ready = wait_until(lambda: all(n in diagnostics.latest for n in status_names.values())
                           or any(p.poll() is not None for p in procs.values()), timeout=180.0)
        missing = [k for k, n in status_names.items() if n not in diagnostics.latest]
        assert ready and not missing, {k: logs[k].read_text()[-3000:] for k in missing}
        for pub, name, first in ((to_memory, "memory", 1), (to_graph, "graph", 100)):
            assert wait_for_subscribers(pub, timeout=30.0), logs[name].read_text()
            for msg in _embeddings(tiny_model, checkpoint.name, first):
                pub.publish(msg)
        held = lambda n: diagnostics.latest[status_names[n]].get("pending") == str(PENDING)  # noqa: E731
        assert wait_until(lambda: held("memory") and held("graph"), timeout=30.0), diagnostics.latest
        assert diagnostics.latest["codebind/mem"]["acknowledged_id"] == "0"  # nothing committed yet

        for proc in procs.values():
            proc.send_signal(signum)
        codes = {}
        for name, proc in procs.items():
            try:
                codes[name] = proc.wait(timeout=60.0)
            except subprocess.TimeoutExpired:
                codes[name] = "still running"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    outputs = {name: log.read_text() for name, log in logs.items()}
    bad = {name: (codes[name], outputs[name][-3000:]) for name in runs
           if codes[name] != 0 or "Traceback" in outputs[name]}
    assert not bad, bad
    for db in (memory_db, graph_db):  # committed on the way out, durable
        with ObservationMemory(db, CodebookSet.from_model(tiny_model)) as mem:
            assert len(mem) == PENDING, db


def test_no_executable_enters_rclpy_init_as_a_context_manager():
    """``with rclpy.init()`` fails on Jazzy (rclpy 7.1 returns None): codebind_ros.nodes.session only."""
    offenders = []
    for path in [*(ROOT / "codebind_ros").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py"),
                 *(ROOT / "scripts").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    call = item.context_expr
                    if isinstance(call, ast.Call) and ast.unparse(call.func).endswith("rclpy.init"):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders


def test_ros_session_initialises_and_shuts_down_even_if_already_down(tmp_path):
    import rclpy

    from codebind_ros.nodes.session import ros_session

    context = rclpy.Context()
    with ros_session(context=context, domain_id=7) as ctx:
        assert ctx is context and context.ok() and context.get_domain_id() == 7
    assert not context.ok()

    context = rclpy.Context()
    with ros_session(context=context) as ctx:
        rclpy.shutdown(context=context)  # what the SIGINT handler does under a spinning node
    assert not context.ok()

    context = rclpy.Context()
    with pytest.raises(RuntimeError, match="boom"):
        with ros_session(context=context):
            raise RuntimeError("boom")
    assert not context.ok()

    with ros_session() as ctx:  # the default context, as the executables use it
        assert ctx is rclpy.get_default_context() and rclpy.ok()
    assert not rclpy.ok()


def test_ros_session_is_quiet_when_a_signal_shut_the_context_down_during_an_error(monkeypatch, capsys):
    """An interrupt that lands while the signal handler shuts the context down: the session's own
    shutdown then fails ("already called", rclpy 7.1). Nothing was lost, so nothing is printed;
    a shutdown that fails while the context is still up is reported."""
    import rclpy
    from rclpy._rclpy_pybind11 import RCLError

    from codebind_ros.nodes import session

    def failing_shutdown(context=None):
        raise RCLError("failed to shutdown: rcl_shutdown already called on the given context")

    context = rclpy.Context()
    with pytest.raises(KeyboardInterrupt):
        with session.ros_session(context=context):
            rclpy.shutdown(context=context)  # the signal handler's shutdown
            monkeypatch.setattr(session.rclpy, "try_shutdown", failing_shutdown)
            raise KeyboardInterrupt
    monkeypatch.undo()
    assert "while shutting down" not in capsys.readouterr().err

    context = rclpy.Context()
    with pytest.raises(RuntimeError, match="boom"):
        with session.ros_session(context=context):
            monkeypatch.setattr(session.rclpy, "try_shutdown", failing_shutdown)  # the context is still up
            raise RuntimeError("boom")
    monkeypatch.undo()
    assert "while shutting down after an error: RCLError" in capsys.readouterr().err
    rclpy.try_shutdown(context=context)
