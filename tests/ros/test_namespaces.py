"""Several robots on one network: two launches in two namespaces on one ROS domain, each node with
its own launch's parameters, and codebind-query reaching either robot's memory with the standard
``--ros-args -r __ns:=...`` (or a service remapping).

The launch file runs with recorders in place of ``launch``/``launch_ros`` (launch_recorder.py) and
its nodes are started as launch_ros starts them: the node's ``main`` with ``--ros-args``, ``-r
__node:=``, ``-r __ns:=`` and ``--params-file`` arguments, so rcl matches the params file's keys
to the namespaced node names exactly as on a robot."""
from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from launch_recorder import PARAMS, node_command, run_launch_file
from ros_testing import wait_until
from rcl_interfaces.srv import GetParameters
from rclpy.node import Node
from rclpy.parameter import parameter_value_to_python

from codebind_core.memory import CodebookSet, Observation, ObservationMemory
from codebind_ros.messaging.topics import SENSOR_TOPICS
from codebind_ros.nodes.node_kinds import graph_nodes, node_name

QUIET = {"camera_rate": 1.0, "depth_rate": 1.0, "thermal_rate": 0.0, "pointcloud_rate": 0.0, "audio_rate": 0.0,
         "tactile_rate": 0.0}  # the sensor player's streams: what the depth encoders need, slowly
CHANGES = {  # what each robot's params file sets beyond the shipped one
    "robot1": {"/**/sensor_player": {"trajectory": "", **QUIET}, "/**/encoder_depth": {"queue_size": 3},
               "/**/memory": {"max_top_k": 9}},
    "robot2": {"/**/sensor_player": {"trajectory": "tour", **QUIET, "camera_rate": 2.0},
               "/**/encoder_depth": {"queue_size": 5, "warmup": False}, "/**/memory": {"max_top_k": 7}},
}


def _robot_params(tmp_path: Path, robot: str) -> Path:
    """The shipped params file (its keys as they are) with ``CHANGES[robot]``."""
    sections = copy.deepcopy(yaml.safe_load(PARAMS.read_text()))
    for key, values in CHANGES[robot].items():
        sections[key]["ros__parameters"].update(values)
    path = tmp_path / f"{robot}_params.yaml"
    path.write_text(yaml.safe_dump(sections, sort_keys=False))
    return path


def _expected(params_file: Path, name: str, overrides: dict) -> dict:
    sections = yaml.safe_load(Path(params_file).read_text())
    return {**sections["/**"]["ros__parameters"], **sections[f"/**/{name}"]["ros__parameters"], **overrides}


def test_every_node_of_two_namespaced_launches_gets_its_own_section(monkeypatch, ros_context, tmp_path):
    """rcl's params-file matching for every node of both launches: a node built with exactly the
    arguments launch gives it holds the YAML's '/**' values, its own section's and the launch's
    overrides (shipped YAML for robot1, a changed copy for robot2)."""
    files = {"robot1": PARAMS, "robot2": _robot_params(tmp_path, "robot2")}
    checked = 0
    for namespace, params_file in files.items():
        _, actions = run_launch_file(monkeypatch, namespace=namespace, params_file=str(params_file),
                                     model_path="/ckpt/tiny", memory_db=str(tmp_path / f"{namespace}.db"))
        assert [a.kwargs["name"] for a in actions] == [n for n, _ in graph_nodes(
            yaml.safe_load(params_file.read_text()), use_sim=True, namespace=namespace)]
        for action in actions:
            cmd = node_command(action, tmp_path)
            node = Node(action.kwargs["name"], context=ros_context, use_global_arguments=False,
                        cli_args=cmd[cmd.index("--ros-args"):],
                        automatically_declare_parameters_from_overrides=True)
            try:
                assert node.get_fully_qualified_name() == f"/{namespace}/{action.kwargs['name']}"
                overrides = {}
                for extra in action.kwargs["parameters"][1:]:
                    overrides.update(extra)
                want = _expected(params_file, action.kwargs["name"], overrides)
                got = {k: node.get_parameter(k).value for k in want if node.has_parameter(k)}
                assert got == want, (namespace, action.kwargs["name"])
                checked += 1
            finally:
                node.destroy_node()
    assert checked == 2 * 9  # sensor player, six encoders, localisation, memory per launch


def test_a_bare_section_key_is_refused_with_a_namespace(monkeypatch, tmp_path):
    sections = yaml.safe_load(PARAMS.read_text())
    sections["encoder_depth"] = sections.pop("/**/encoder_depth")
    path = tmp_path / "bare.yaml"
    path.write_text(yaml.safe_dump(sections))
    with pytest.raises(ValueError, match=r"'encoder_depth' would not reach node '/robot1/encoder_depth'.*"
                                         r"key it '/\*\*/encoder_depth'"):
        run_launch_file(monkeypatch, namespace="robot1", params_file=str(path))
    _, actions = run_launch_file(monkeypatch, params_file=str(path))  # no namespace: it matches
    assert "encoder_depth" in [a.kwargs["name"] for a in actions]
    assert node_name("/**/memory", "robot1") == node_name("memory") == node_name("/memory") == "memory"
    with pytest.raises(ValueError, match="names a namespace"):
        node_name("/robot1/memory")


def _fill_memory(db: Path, model, position) -> None:
    """One observation of 'a red sphere' at ``position`` in the robot's memory database."""
    with torch.no_grad():
        emb = model.encode_text(["a red sphere"], codebook_set="depth")
    with ObservationMemory(db, CodebookSet.from_model(model)) as memory:
        memory.add([Observation("depth", "depth", emb.codes[0].numpy().astype(np.uint16), 10 ** 9, "map",
                                position=position, model_id=db.parent.name)])


def _get_parameters(helper, node: str, names, timeout: float = 300.0):
    """The node's parameter values through its parameter service (what ``ros2 param get`` shows).
    The request is re-sent every 5 s: one sent before the node's service has matched this client's
    response reader is answered into the void (a node still loading its model answers late)."""
    client = helper.create_client(GetParameters, f"{node}/get_parameters")
    try:
        deadline = time.monotonic() + timeout
        assert client.wait_for_service(timeout_sec=timeout), f"{node} has no parameter service"
        while time.monotonic() < deadline:
            future = client.call_async(GetParameters.Request(names=list(names)))
            if wait_until(future.done, 5.0):
                return dict(zip(names, (parameter_value_to_python(v) for v in future.result().values)))
            client.remove_pending_request(future)
        raise AssertionError(f"{node} did not answer its get_parameters service in {timeout} s")
    finally:
        helper.destroy_client(client)


def _query(domain: int, *args: str) -> dict:
    """codebind-query (the console script) with ``args``; its JSON answer."""
    exe = Path(sys.executable).parent / "codebind-query"
    done = subprocess.run([str(exe), "a red sphere", "--observations", "--top-k", "1", "--json", "--timeout", "60",
                           *args],
                          env=dict(os.environ, ROS_DOMAIN_ID=str(domain)), capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_two_launches_on_one_domain_run_with_their_own_parameters(monkeypatch, spin, ros_context, tiny_model,
                                                                  tmp_path):
    """Real node processes of two launches (sensor player, depth encoder, memory of each) in
    /robot1 and /robot2 on one domain, each with its own copy of the shipped params file (values
    changed, keys as shipped; slow sensor streams for a loaded machine): each node reports
    its own launch's parameters through its parameter service, the depth encoders read their own
    robot's depth topic, and codebind-query answers from the memory it is pointed at."""
    import codebind_core as cb

    domain = ros_context.get_domain_id()
    cb.save(tiny_model, tmp_path / "tiny")
    model = cb.load(tmp_path / "tiny")
    files = {robot: _robot_params(tmp_path, robot) for robot in ("robot1", "robot2")}
    where = {"robot1": (1.0, 0.0, 0.0), "robot2": (2.0, 0.0, 0.0)}
    procs = []
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    helper = spin.add(Node("namespaces_helper", context=ros_context))
    try:
        for namespace, params_file in files.items():
            db = tmp_path / "tiny" / f"{namespace}.db"
            _fill_memory(db, model, where[namespace])
            _, actions = run_launch_file(monkeypatch, namespace=namespace, params_file=str(params_file),
                                         model_path=str(tmp_path / "tiny"), memory_db=str(db))
            for action in actions:
                if action.kwargs["name"] in ("sensor_player", "encoder_depth", "memory"):
                    log = open(tmp_path / f"{namespace}_{action.kwargs['name']}.log", "w")
                    procs.append((f"/{namespace}/{action.kwargs['name']}", log, subprocess.Popen(
                        node_command(action, tmp_path), env=env, stdout=log, stderr=subprocess.STDOUT,
                        preexec_fn=_default_sigint)))
        ckpt = str(tmp_path / "tiny")
        want = {  # modality depth (not the default camera) is the shipped section's; the rest CHANGES'
            "/robot1/sensor_player": {"trajectory": "", "camera_rate": 1.0},
            "/robot1/encoder_depth": {"modality": "depth", "queue_size": 3, "warmup": True, "model_path": ckpt},
            "/robot1/memory": {"max_top_k": 9, "db_path": f"{ckpt}/robot1.db", "model_path": ckpt},
            "/robot2/sensor_player": {"trajectory": "tour", "camera_rate": 2.0},
            "/robot2/encoder_depth": {"modality": "depth", "queue_size": 5, "warmup": False, "model_path": ckpt},
            "/robot2/memory": {"max_top_k": 7, "db_path": f"{ckpt}/robot2.db", "model_path": ckpt},
        }
        for node, values in want.items():
            assert _get_parameters(helper, node, list(values)) == values, node
        for namespace in files:
            assert wait_until(lambda: f"/{namespace}/{SENSOR_TOPICS['depth']}" in {
                t for t, _ in helper.get_subscriber_names_and_types_by_node("encoder_depth", f"/{namespace}")}, 30.0)

        for namespace, args in (("robot1", ["--ros-args", "-r", "__ns:=/robot1"]),
                                ("robot2", ["--ros-args", "-r", "__ns:=/robot2"]),
                                ("robot2", ["--ros-args", "-r", "codebind/query:=/robot2/codebind/query"])):
            answer = _query(domain, *args)
            assert [r["position"] for r in answer["results"]] == [list(where[namespace])], (args, answer)
    finally:
        for _, _, proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        codes = {}
        for name, log, proc in procs:
            try:
                codes[name] = proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = "hung"
            log.close()
    logs = {p.name: p.read_text()[-1500:] for p in tmp_path.glob("*.log")}
    assert set(codes.values()) == {0}, (codes, logs)
