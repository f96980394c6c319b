"""Run launch/perception.launch.py without ``launch``/``launch_ros`` (not installable here), and
start its nodes the way ``launch_ros`` would.

:func:`run_launch_file` executes the file with recorders in place of the launch actions: the
declared arguments' defaults, overridden by the given ones, go through its OpaqueFunction and the
``Node`` actions it returns are kept with their arguments. :func:`node_command` turns one of them
into the command line ``launch_ros.actions.Node`` runs: the executable, ``--ros-args``, the ROS
arguments, ``-r __node:=<name>``, ``-r __ns:=/<namespace>``, ``-r <from>:=<to>`` per remapping,
one ``--params-file`` per parameter file and a generated file for each mapping (keyed by the
node's full name, as launch_ros writes it).
"""
from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path
from typing import Dict, List, Tuple

import yaml

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "launch" / "perception.launch.py"
PARAMS = ROOT / "config" / "ros_params.yaml"


class Recorded:
    """Stands in for a launch action or substitution: keeps its arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration(Recorded):
    def perform(self, context):
        return context.launch_configurations[self.args[0]]


def run_launch_file(monkeypatch, **arguments) -> Tuple[Dict[str, str], List[Recorded]]:
    """Execute the launch file as `ros2 launch` would; (declared arguments with their defaults,
    the started Node actions). ``params_file`` defaults to the repository's YAML."""
    modules = {
        "launch": types.SimpleNamespace(LaunchDescription=lambda actions: actions),
        "launch.actions": types.SimpleNamespace(DeclareLaunchArgument=Recorded, OpaqueFunction=Recorded),
        "launch.substitutions": types.SimpleNamespace(LaunchConfiguration=_LaunchConfiguration),
        "launch_ros": types.SimpleNamespace(),
        "launch_ros.actions": types.SimpleNamespace(Node=Recorded),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setenv("AMENT_PREFIX_PATH", sys.prefix)  # the venv holds share/codebind_ros
    spec = importlib.util.spec_from_file_location("perception_launch", LAUNCH)
    launch_file = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_file)
    actions = launch_file.generate_launch_description()
    declared = {a.args[0]: a.kwargs["default_value"] for a in actions if "default_value" in a.kwargs}
    unknown = set(arguments) - set(declared)
    assert not unknown, f"not launch arguments: {unknown}"
    context = types.SimpleNamespace(launch_configurations={**declared, "params_file": str(PARAMS), **arguments})
    (opaque,) = [a for a in actions if "function" in a.kwargs]
    return declared, opaque.kwargs["function"](context)


def node_command(node: Recorded, tmp_dir: Path) -> List[str]:
    """The command line launch_ros runs for ``node`` (a recorded Node action), with the package's
    executable replaced by this interpreter running the same ``main`` (the installed executables
    do exactly that: cmake/codebind_executables.cmake)."""
    from codebind_ros.nodes.node_kinds import NODE_KINDS

    kw = node.kwargs
    (kind,) = [k for k in NODE_KINDS.values() if k.executable == kw["executable"]]
    target = kind.target.split(":")[0] + ":main"
    cmd = [sys.executable, "-c", f"import sys\nfrom codebind_ros.entry_points import run\nsys.exit(run({target!r}))",
           "--ros-args", *kw.get("ros_arguments", []), "-r", f"__node:={kw['name']}"]
    namespace = kw.get("namespace", "").strip("/")
    if namespace:
        cmd += ["-r", f"__ns:=/{namespace}"]
    for old, new in kw.get("remappings", []):
        cmd += ["-r", f"{old}:={new}"]
    full_name = f"/{namespace}/{kw['name']}" if namespace else f"/{kw['name']}"
    for i, parameters in enumerate(kw.get("parameters", [])):
        if isinstance(parameters, dict):
            path = tmp_dir / f"launch_params_{namespace or 'root'}_{kw['name']}_{i}.yaml"
            path.write_text(yaml.safe_dump({full_name: {"ros__parameters": parameters}}))
            parameters = path
        cmd += ["--params-file", os.fspath(parameters)]
    return cmd
