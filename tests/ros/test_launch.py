"""The launch file, params YAML, install rules and the one-process graph agree with each other.

``launch``/``launch_ros`` are not installable here, so the launch file is checked by parsing it
(ast) and by running its functions with recorders in their place; the graph runner, which starts
the same nodes from the same YAML, runs for real."""
from __future__ import annotations

import ast
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from launch_recorder import LAUNCH, PARAMS, node_command, run_launch_file
from ros_testing import Collector, wait_for_subscribers, wait_until
from rclpy.node import Node
from sensor_msgs.msg import Image

from codebind_ros.conversions.image import array_to_image
from codebind_ros.messaging.graph_executor import GraphExecutor
from codebind_ros.nodes.encoder_params import EncoderParams
from codebind_ros.tools.graph_runner import Graph, GraphOptions, format_results, parse_args
from codebind_ros.msg import Embedding, QueryResult
from codebind_ros.nodes.node_kinds import NODE_KINDS, graph_nodes, kind_of
from codebind_ros.srv import QueryText

ROOT = Path(__file__).resolve().parents[2]


def _cmake_executables():
    block = re.search(r"set\(CODEBIND_EXECUTABLES(.*?)\)", (ROOT / "CMakeLists.txt").read_text(), re.S)[1]
    return dict(re.findall(r'"(\w+)=([\w.]+:\w+)"', block))


def _calls(tree, name):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == name]


def test_launch_declares_its_arguments_and_starts_registry_nodes():
    tree = ast.parse(LAUNCH.read_text())
    (table,) = [a.value for a in ast.walk(tree) if isinstance(a, ast.Assign)
                and getattr(a.targets[0], "id", "") == "arguments"]  # (name, default, description) rows
    declared = {row.elts[0].value for row in table.elts}
    assert len(_calls(tree, "DeclareLaunchArgument")) == 1  # one call, over the table
    assert declared == {"params_file", "use_sim", "model_path", "backend", "memory_db", "namespace",
                        "remappings_file", "log_level"}
    used = {c.args[0].value for c in _calls(tree, "LaunchConfiguration") if c.args and
            isinstance(c.args[0], ast.Constant)}
    assert used <= declared  # model_path/backend are read through a loop over their names
    (node_call,) = _calls(tree, "Node")
    keywords = {k.arg: k.value for k in node_call.keywords}
    assert ast.unparse(keywords["package"]) == "PACKAGE" and "PACKAGE = 'codebind_ros'" in ast.unparse(tree)
    assert ast.unparse(keywords["executable"]) == "kind.executable"
    assert ast.unparse(keywords["name"]) == "name"
    assert {"generate_launch_description"} <= {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert "'config', 'ros_params.yaml'" in ast.unparse(tree) and PARAMS.is_file()


def test_launch_file_arguments_reach_the_nodes(monkeypatch, tmp_path):
    declared, nodes = run_launch_file(monkeypatch)
    assert set(declared) == {"params_file", "use_sim", "model_path", "backend", "memory_db", "namespace",
                             "remappings_file", "log_level"}
    assert declared["memory_db"] == "" and declared["namespace"] == "" and declared["log_level"] == "info"
    assert declared["remappings_file"] == ""
    names = [n.kwargs["name"] for n in nodes]
    assert names == [name for name, _ in graph_nodes(yaml.safe_load(PARAMS.read_text()), use_sim=True)]
    for node in nodes:  # defaults: the YAML alone, no namespace, info logs
        assert node.kwargs["parameters"] == [str(PARAMS)] and "namespace" not in node.kwargs
        assert node.kwargs["ros_arguments"] == ["--log-level", "info"] and node.kwargs["remappings"] == []

    db = str(tmp_path / "robot1.db")
    _, nodes = run_launch_file(monkeypatch, memory_db=db, namespace="robot1", log_level="debug",
                                model_path="/ckpt/model", use_sim="false")
    by_name = {n.kwargs["name"]: n.kwargs for n in nodes}
    assert "sensor_player" not in by_name
    assert by_name["memory"]["parameters"] == [str(PARAMS), {"model_path": "/ckpt/model", "db_path": db}]
    assert by_name["encoder_depth"]["parameters"] == [str(PARAMS), {"model_path": "/ckpt/model"}]
    for kwargs in by_name.values():
        assert kwargs["namespace"] == "robot1" and kwargs["ros_arguments"] == ["--log-level", "debug"]
        assert kwargs["package"] == "codebind_ros"
        assert kwargs["executable"] == kind_of(kwargs["name"]).executable


def test_launch_remappings_reach_each_node_as_rcl_resolves_them(monkeypatch, ros_context, tmp_path):
    """remappings_file (the shipped example) becomes Node(remappings=...) per node; started as
    launch_ros starts it (``-r from:=to`` after ``__ns``), rcl resolves the nodes' relative names
    to the robot's topics, and the names nobody remapped stay in the namespace."""
    example = PARAMS.parent / "remappings.example.yaml"
    _, nodes = run_launch_file(monkeypatch, namespace="robot1", remappings_file=str(example))
    by_name = {n.kwargs["name"]: n for n in nodes}
    assert ("camera/image_raw", "/my_camera/color/image_raw") in by_name["memory"].kwargs["remappings"]
    assert ("audio/audio", "/microphone/audio") in by_name["encoder_audio"].kwargs["remappings"]
    assert "audio/audio" not in dict(by_name["encoder_depth"].kwargs["remappings"])
    depth = "/my_camera/aligned_depth_to_color/image_raw"
    for name, topic, want in (("encoder_depth", "camera/depth/image_raw", depth),
                              ("encoder_audio", "audio/audio", "/microphone/audio"),
                              ("encoder_depth", "audio/audio", "/robot1/audio/audio"),
                              ("memory", "odom", "/odometry/filtered"),
                              ("memory", "codebind/embeddings/depth", "/robot1/codebind/embeddings/depth")):
        cmd = node_command(by_name[name], tmp_path)
        node = Node(name, context=ros_context, use_global_arguments=False, cli_args=cmd[cmd.index("--ros-args"):])
        try:
            assert node.resolve_topic_name(topic) == want, (name, topic)
        finally:
            node.destroy_node()
    bad = tmp_path / "bad.yaml"
    bad.write_text("/**: [camera/image_raw]\n")
    with pytest.raises(ValueError, match="must be a mapping of topic names"):
        run_launch_file(monkeypatch, remappings_file=str(bad))


def test_every_node_kind_is_installed_as_an_executable():
    executables = _cmake_executables()
    for kind in NODE_KINDS.values():
        assert kind.executable in executables, kind
        module = executables[kind.executable].split(":")[0]
        assert module == kind.target.split(":")[0]
    assert executables["graph"] == "codebind_ros.tools.graph_runner:main"
    cmake = (ROOT / "CMakeLists.txt").read_text()
    assert re.search(r"install\(DIRECTORY launch config DESTINATION \"share/\$\{PROJECT_NAME\}\"\)", cmake)


def _install_executables(tmp_path: Path, symlink: bool, entry_points=None) -> Path:
    """Configure a project that installs CODEBIND_EXECUTABLES with the package's own CMake
    function (cmake/codebind_executables.cmake) through ament_cmake, as colcon does, with
    ``--symlink-install`` (AMENT_CMAKE_SYMLINK_INSTALL) or without; install into a prefix."""
    src, build, prefix = tmp_path / "src", tmp_path / "build", tmp_path / "install"
    src.mkdir()
    entry_points = entry_points or _cmake_executables()
    entries = " ".join(f'"{name}={target}"' for name, target in entry_points.items())
    (src / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.20)\n"
        "project(codebind_ros NONE)\n"
        "find_package(ament_cmake_core REQUIRED)\n"
        f'include("{ROOT}/cmake/codebind_executables.cmake")\n'
        f'codebind_python_executables(DESTINATION "lib/${{PROJECT_NAME}}" ENTRY_POINTS {entries})\n')
    venv = Path(sys.prefix)
    env = dict(os.environ, PATH=f"{venv}/bin:{os.environ.get('PATH', '')}", AMENT_PREFIX_PATH=str(venv),
               CMAKE_PREFIX_PATH=str(venv), _ROS_WHEELS_BOOTSTRAP_COMPLETE="1")
    for cmd in (["cmake", "-S", src, "-B", build, "-Wno-dev", f"-DCMAKE_INSTALL_PREFIX={prefix}",
                 f"-DAMENT_CMAKE_SYMLINK_INSTALL={'ON' if symlink else 'OFF'}"],
                ["cmake", "--install", build]):
        done = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=120,
                              cwd=tmp_path)  # the symlink install writes its manifest to the cwd
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return prefix / "lib" / "codebind_ros"


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
@pytest.mark.parametrize("symlink", [False, True], ids=["copy", "symlink-install"])
def test_installed_executables_run_with_and_without_symlink_install(tmp_path, symlink):
    lib = _install_executables(tmp_path, symlink)
    installed = sorted(p.name for p in lib.iterdir())
    assert installed == sorted(_cmake_executables())
    for exe in lib.iterdir():
        assert exe.is_symlink() == symlink, exe  # the mode under test was really used
        assert os.access(exe, os.X_OK), f"{exe} (-> {exe.resolve()}) has no run bit"
        assert os.access(exe.resolve(), os.X_OK)  # the build-tree file itself
    # what `ros2 run codebind_ros query --help` runs: the script, through its #! line
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    done = subprocess.run([str(lib / "query"), "--help"], env=env, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 0 and "codebind-query" in done.stdout, done.stderr


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_sigint_while_an_executable_loads_its_modules_exits_quietly(tmp_path, tiny_model):
    """Ctrl-C before the node's modules are imported ends like Ctrl-C later: status 0, no traceback.
    A module that interrupts its own import hits that window every time; the real memory node is
    interrupted at several delays after its interpreter has started (sitecustomize marks it)."""
    import codebind_core as cb

    cb.save(tiny_model, tmp_path / "ckpt")
    (tmp_path / "interrupted_import.py").write_text(
        "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(30)\n"
        "def main():\n    return 3\n")
    (tmp_path / "sitecustomize.py").write_text(
        "import os\nif os.environ.get('CODEBIND_STARTED'):\n"
        "    open(os.environ['CODEBIND_STARTED'], 'w').close()\n")
    # what pybind11 makes of an interrupt inside rclpy's extension init: an ImportError from it
    (tmp_path / "wrapped_import.py").write_text(
        "import os, signal, time\ntry:\n    os.kill(os.getpid(), signal.SIGINT)\n    time.sleep(30)\n"
        "except KeyboardInterrupt as e:\n    raise ImportError('initialization failed') from e\n")
    lib = _install_executables(tmp_path, False, {"interrupted": "interrupted_import:main",
                                                 "wrapped": "wrapped_import:main",
                                                 "memory_node": _cmake_executables()["memory_node"]})
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    # a shell runs background jobs with SIGINT ignored, and a child inherits that: give the
    # executables the default disposition a terminal or `ros2 launch` gives them

    def default_sigint():
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    for exe in ("interrupted", "wrapped"):
        done = subprocess.run([str(lib / exe)], env=env, capture_output=True, text=True, timeout=60,
                              preexec_fn=default_sigint)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (exe, done.stderr[-2000:])
    # pip's console scripts (codebind-memory ...) go through codebind_ros.entry_points: the same
    launcher = "import sys\nfrom codebind_ros.entry_points import run\nsys.exit(run('interrupted_import:main'))\n"
    done = subprocess.run([sys.executable, "-c", launcher], env=env, capture_output=True, text=True, timeout=60,
                          preexec_fn=default_sigint, cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    for delay in (0.0, 0.1, 0.2, 0.4, 0.8):
        started = tmp_path / f"started_{delay}"
        proc = subprocess.Popen([str(lib / "memory_node"), "--ros-args", "-p", f"model_path:={tmp_path / 'ckpt'}",
                                 "-p", f"db_path:={tmp_path / f'm_{delay}.db'}"],
                                env=dict(env, CODEBIND_STARTED=str(started)), cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
        assert wait_until(started.exists, 60.0)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and "Traceback" not in err, f"SIGINT {delay} s after start-up: {err[-2000:]}"


def test_cmakelists_installs_the_executables_with_the_checked_function():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    assert "include(cmake/codebind_executables.cmake)" in cmake
    assert re.search(r'codebind_python_executables\(DESTINATION "lib/\$\{PROJECT_NAME\}" '
                     r'ENTRY_POINTS \$\{CODEBIND_EXECUTABLES\}\)', cmake)
    assert "file(WRITE" not in cmake  # scripts are written by the function only


def test_every_executable_target_exists_in_the_sources():
    for exe, target in _cmake_executables().items():
        module, function = target.split(":")
        path = ROOT / (module.replace(".", "/") + ".py")
        assert path.is_file(), f"{exe}: {path} is missing"
        names = {n.name for n in ast.parse(path.read_text()).body
                 if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert function in names, f"{exe}: {module} has no {function}()"
        kind = next((k for k in NODE_KINDS.values() if k.executable == exe), None)
        if kind is not None:
            assert kind.target.split(":")[1] in names, f"{module} has no class {kind.target}"


def test_console_scripts_match_the_installed_executables():
    import tomllib

    from codebind_ros.entry_points import TARGETS

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    # the ROS tools' scripts run their node through codebind_ros.entry_points (Ctrl-C guard)
    runs = {TARGETS[t.split(":")[1]] if t.startswith("codebind_ros.entry_points:") else t for t in scripts.values()}
    for target in _cmake_executables().values():
        assert target in runs, f"pyproject.toml has no console script for {target}"


def test_params_yaml_sections_and_encoder_parameters_exist():
    sections = yaml.safe_load(PARAMS.read_text())
    with_sim = graph_nodes(sections, use_sim=True)
    assert {k.kind for _, k in with_sim} == set(NODE_KINDS)
    assert "sensor_player" not in [n for n, _ in graph_nodes(sections, use_sim=False)]
    fields = {f.name for f in dataclasses.fields(EncoderParams)}
    modalities = set()
    assert all(key == "/**" or key.startswith("/**/") for key in sections)  # any namespace
    for name, kind in with_sim:
        if kind.kind == "encoder":
            params = sections[f"/**/{name}"]["ros__parameters"]
            assert set(params) <= fields, (name, set(params) - fields)
            EncoderParams(**params).validate()
            modalities.add(params["modality"])
    assert modalities == {"camera", "depth", "thermal", "tactile", "pointcloud", "audio"}
    # what the launch overrides for model nodes is a real parameter and set in the YAML
    assert set(sections["/**"]["ros__parameters"]) == {"model_path", "backend"} <= fields


def test_section_names_map_to_kinds():
    assert kind_of("encoder_depth").kind == "encoder" and kind_of("memory").kind == "memory"
    with pytest.raises(ValueError, match="names no node kind"):
        kind_of("encoders")
    with pytest.raises(ValueError, match="ros__parameters"):
        graph_nodes({"memory": {"x": 1}}, use_sim=False)


def test_graph_starts_the_yaml_nodes_in_one_process(ros_context, tiny_model, topic, tmp_path):
    params = {
        "/**": {"ros__parameters": {"model_path": "", "backend": "torch"}},
        "encoder_cam": {"ros__parameters": {"modality": "camera", "queue_size": 3, "warmup": False}},
        "encoder_heat": {"ros__parameters": {"modality": "thermal", "warmup": False}},
        "sensor_player": {"ros__parameters": {}},
    }
    path, remaps = tmp_path / "params.yaml", tmp_path / "remaps.yaml"
    path.write_text(yaml.safe_dump(params))
    remaps.write_text(yaml.safe_dump({  # every node's output, and each encoder's input
        "/**": {"codebind/embeddings/camera": f"{topic}/out", "codebind/embeddings/thermal": f"{topic}/out"},
        "encoder_cam": {"camera/image_raw": f"{topic}/cam"},
        "/**/encoder_heat": {"thermal/image_raw": f"{topic}/heat"}}))
    checkpoint = tmp_path / "synth-ckpt"
    checkpoint.mkdir()
    graph = Graph(GraphOptions(params_file=path, use_sim=False, model_path=str(checkpoint),
                               remappings_file=str(remaps)), context=ros_context, model=tiny_model).start()
    helper = Node("graph_helper", context=ros_context)
    helper_executor = GraphExecutor(context=ros_context)
    helper_executor.add_node(helper)
    helper_executor.start()
    try:
        assert [n.get_name() for n in graph.nodes] == ["encoder_cam", "encoder_heat"]
        cam, heat = graph.nodes
        assert cam.params.queue_size == 3 and heat.params.queue_size == 2  # YAML, then defaults
        assert cam.model_id == "synth-ckpt"  # model_path override reached the node
        out = Collector(helper, Embedding, f"{topic}/out")
        pubs = [helper.create_publisher(Image, f"{topic}/{t}", 5) for t in ("cam", "heat")]
        assert all(wait_for_subscribers(p) for p in pubs)
        assert wait_until(lambda: cam.publisher.get_subscription_count() >= 1)
        rng = np.random.default_rng(0)
        pubs[0].publish(array_to_image(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), "rgb8"))
        pubs[1].publish(array_to_image(rng.integers(0, 255, (24, 32), dtype=np.uint8), "mono8"))
        received = out.wait_for(2, timeout=20.0)
        assert sorted(m.modality for m in received) == ["camera", "thermal"]
        # each node on an executor of its own, of its executable's kind
        assert [type(e).__name__ for e in graph.executors] == ["SingleGraphExecutor"] * 2
        assert [list(e.get_nodes()) for e in graph.executors] == [[cam], [heat]]
    finally:
        graph.destroy()
        helper_executor.stop()
        helper.destroy_node()


def test_graph_memory_db_option_reaches_the_memory_node_only(ros_context, tiny_model, topic, tmp_path):
    """``--memory-db`` (make demo keeps its memory next to its model) sets the memory node's
    database; the encoder, which has no such parameter, starts as before."""
    params = {
        "/**": {"ros__parameters": {"model_path": "", "backend": "torch"}},
        "encoder_cam": {"ros__parameters": {"modality": "camera", "warmup": False}},
        "memory": {"ros__parameters": {"db_path": str(tmp_path / "from_yaml.db")}},
    }
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    db = tmp_path / "demo" / "memory.db"
    db.parent.mkdir()
    graph = Graph(GraphOptions(params_file=path, use_sim=False, memory_db=str(db)),
                  context=ros_context, model=tiny_model)
    try:
        cam, memory = graph.nodes
        assert memory.db_path == db and db.is_file() and not (tmp_path / "from_yaml.db").exists()
        assert [type(e).__name__ for e in graph.executors] == ["SingleGraphExecutor", "GraphExecutor"]
        assert not cam.has_parameter("db_path")
    finally:
        graph.destroy()
    assert parse_args(["--memory-db", str(db)]).memory_db == str(db)


def test_graph_options_and_arguments_are_validated(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        Graph(GraphOptions(params_file=tmp_path / "missing.yaml"))
    with pytest.raises(ValueError, match="remappings file .* does not exist"):
        Graph(GraphOptions(remappings_file=str(tmp_path / "missing.yaml")))
    with pytest.raises(SystemExit):
        parse_args(["--top-k", "0"])
    args = parse_args(["--use-sim", "false", "--query", "the red sphere"])
    assert args.use_sim is False and args.query == "the red sphere"


def test_results_are_printed_with_their_location():
    response = QueryText.Response(success=True, results=[QueryResult(
        score=0.91, modality="pointcloud", frame_id="map", has_position=True)])
    response.results[0].position.x, response.results[0].position.z = 1.25, 0.5
    text = format_results("the red sphere", response)
    assert "score 0.910" in text and "(1.250, 0.000, 0.500) m in 'map'" in text


def test_graph_query_options_are_validated():
    assert parse_args([]).timeout == 30.0 and parse_args(["--timeout", "5"]).timeout == 5.0
    for bad in (["--timeout", "0"], ["--top-k", "0"], ["--wait", "-1"]):
        with pytest.raises(SystemExit):
            parse_args(bad)
