"""Run the whole perception graph in one process from the params YAML (no ``ros2 launch`` needed).

    codebind-graph --model-path runs/synthbind --query "the red sphere"

starts the nodes that ``launch/perception.launch.py`` starts (one per YAML section, the sensor
player with ``--use-sim true``) in one process, sharing one loaded model. Each node is spun by an
executor of its own, in its own thread, of the kind its executable uses (``NodeKind.multi_threaded``:
a MultiThreadedExecutor for the memory node, a SingleThreadedExecutor for the others). With
``--query`` it waits ``--wait`` seconds for observations, asks the memory node's QueryText
service, prints the ranked results (where the queried object is) and exits; without it, it
spins until Ctrl-C or ``--duration`` seconds.

Topics are remapped as with the launch file: ``--remappings-file`` (node name or ``/**`` ->
{from: to}, :func:`codebind_ros.nodes.node_kinds.load_remappings`) or ROS arguments after
``--ros-args`` (``-r camera/image_raw:=/my/image`` for every node, ``-r encoder_camera:camera/image_raw:=...``
for one).
"""
from __future__ import annotations

import argparse
import inspect
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

import yaml

from codebind_ros.nodes.node_kinds import graph_nodes, load_remappings, remappings_for
from codebind_ros.messaging.topics import QUERY_SERVICE
from codebind_ros.share import config_file

DEFAULT_PARAMS = "ros_params.yaml"


def default_params_file() -> Path:
    """The YAML next to the sources (checkout) or in the installed share directory."""
    return config_file(DEFAULT_PARAMS)


@dataclass
class GraphOptions:
    """What to start: the params file, the sensor player, model overrides."""

    params_file: Path = field(default_factory=default_params_file)
    use_sim: bool = True
    model_path: str = ""
    backend: str = ""
    device: str = "cpu"
    memory_db: str = ""  # the memory node's database file (overrides the YAML's db_path)
    remappings_file: str = ""  # topic remappings YAML ('' = none)

    def validate(self) -> None:
        for what, path in (("params", self.params_file), ("remappings", self.remappings_file)):
            if (path or what == "params") and not Path(path).is_file():
                raise ValueError(f"{what} file {str(path)!r} does not exist")


class Graph:
    """The nodes of one params file, created in ``context``, each spun by its own executor
    (``executors``, in the order of ``nodes``) as its executable spins it."""

    def __init__(self, options: GraphOptions, context=None, model=None):
        from rclpy.parameter import Parameter

        from codebind_ros.messaging.graph_executor import spun_executor

        options.validate()
        sections = yaml.safe_load(Path(options.params_file).read_text()) or {}
        self.plan = graph_nodes(sections, options.use_sim)
        rules = load_remappings(Path(options.remappings_file).read_text()) if options.remappings_file else {}
        overrides = [Parameter(k, value=v) for k, v in
                     (("model_path", options.model_path), ("backend", options.backend),
                      ("db_path", options.memory_db)) if v]  # a node ignores those it does not declare
        if model is None and any(k.uses_model for _, k in self.plan):
            model = _shared_model(options, sections)
        self.nodes, self.executors = [], []
        try:
            for name, kind in self.plan:
                cls = kind.load()
                remaps = [arg for old, new in remappings_for(rules, name) for arg in ("-r", f"{old}:={new}")]
                kwargs = dict(context=context, cli_args=["--ros-args", "-r", f"__node:={name}", *remaps,
                                                         "--params-file", str(options.params_file)])
                if kind.uses_model:
                    kwargs["parameter_overrides"] = list(overrides)
                    if model is not None and "model" in inspect.signature(cls).parameters:
                        kwargs["model"] = model
                self.nodes.append(cls(**kwargs))
        except Exception:
            self.destroy()
            raise
        for node, (_, kind) in zip(self.nodes, self.plan):
            self.executors.append(spun_executor(kind.multi_threaded, context))
            self.executors[-1].add_node(node)

    def start(self) -> "Graph":
        """Spin every node in a background thread of its own."""
        for node, executor in zip(self.nodes, self.executors):
            executor.start(name=f"codebind-graph-{node.get_name()}")
        return self

    def destroy(self, timeout_sec: float = 10.0) -> None:
        """Stop every executor (the callbacks in flight finish first, within ``timeout_sec`` for
        all of them), then destroy the nodes."""
        from codebind_ros.messaging.graph_executor import stop_all

        stop_all(self.executors, timeout_sec)  # callbacks in flight finish before their nodes' handles go away
        for node in self.nodes:
            node.destroy_node()
        self.nodes, self.executors = [], []


def _shared_model(options: GraphOptions, sections):
    """Load the checkpoint once for every node that runs the model (None when none is set)."""
    path = options.model_path or str(((sections.get("/**") or {}).get("ros__parameters") or {})
                                     .get("model_path", ""))
    if not path:
        return None
    from codebind_ros.nodes.model_loading import load_model

    return load_model(path, options.device)


def query(node, text: str, top_k: int = 5, modality: str = "", timeout: float = 10.0,
          service: str = QUERY_SERVICE, executor=None):
    """Call the memory node's QueryText service from ``node``, spun by ``executor`` in this thread
    (None: by another thread); returns the response. The client is codebind-query's: a deep
    response history (every client of a service receives every client's responses) and the
    request re-sent until answered. A node only this thread spins is the safe choice for a
    one-off query: the client is destroyed afterwards, and another thread's executor may still be
    handling it then (rclpy reports that as an exception nobody retrieved)."""
    from codebind_ros.srv import QueryText
    from codebind_ros.tools.query_cli import call

    return call(node, executor, QueryText.Request(text=text, top_k=top_k, modality=modality), service, timeout)


def format_results(text: str, response) -> str:
    """Human-readable answer of a QueryText response (objects or ranked observations)."""
    from codebind_ros.tools.answer_format import format_answer

    return format_answer(text, response)


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")
    return value in ("true", "1", "yes")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="codebind-graph", description=__doc__.split("\n\n")[0])
    parser.add_argument("--params-file", type=Path, default=None, help="params YAML (default: config/ros_params.yaml)")
    parser.add_argument("--use-sim", type=_bool, default=True, help="start the sensor player (default true)")
    parser.add_argument("--model-path", default="", help="checkpoint directory (overrides the YAML)")
    parser.add_argument("--backend", default="", help="runtime backend (overrides the YAML)")
    parser.add_argument("--device", default="cpu", help="torch device for the shared model")
    parser.add_argument("--memory-db", default="", help="memory database file (overrides the YAML's db_path)")
    parser.add_argument("--remappings-file", default="", help="topic remappings YAML: '/**' or a node name -> "
                                                               "{from: to}")
    parser.add_argument("--query", default="", help="text to look for; prints the ranked results and exits")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--wait", type=float, default=8.0, help="seconds of observations before querying")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the query's answer")
    parser.add_argument("--duration", type=float, default=0.0, help="run this long, then exit (0: until Ctrl-C)")
    args = parser.parse_args(argv)
    if args.top_k < 1 or args.wait < 0 or args.duration < 0 or args.timeout <= 0:
        parser.error("--top-k must be >= 1, --wait and --duration >= 0, --timeout > 0")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """``codebind-graph`` console command."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from codebind_ros.messaging.middleware import use_large_frames_profile
    from codebind_ros.nodes.session import freeze_start_up_objects, ros_session

    argv = list(argv if argv is not None else sys.argv[1:])
    split = argv.index("--ros-args") if "--ros-args" in argv else len(argv)  # the rest is rclpy's
    args = parse_args(argv[:split])
    use_large_frames_profile()  # before rclpy.init: full-size frames under best effort (docs/ros.md)
    options = GraphOptions(use_sim=args.use_sim, model_path=args.model_path, backend=args.backend,
                           device=args.device, memory_db=args.memory_db, remappings_file=args.remappings_file)
    if args.params_file is not None:
        options.params_file = args.params_file
    with ros_session(args=["codebind-graph", *argv[split:]]):
        try:
            graph = Graph(options)
            freeze_start_up_objects()  # as run_node does: no full collection walks the model mid-stream
            graph.start()
        except ValueError as exc:
            if not rclpy.ok():
                return 0  # SIGINT/SIGTERM while the nodes started
            print(f"codebind-graph: {exc}", file=sys.stderr)
            return 2
        try:
            names = ", ".join(n.get_name() for n in graph.nodes)
            print(f"codebind-graph: running {len(graph.nodes)} nodes: {names}", flush=True)
            if args.query:
                time.sleep(args.wait)
                asker = Node("codebind_graph_query")
                asking = SingleThreadedExecutor()  # this thread's own: see query()
                asking.add_node(asker)
                try:
                    response = query(asker, args.query, args.top_k, timeout=args.timeout, executor=asking)
                except TimeoutError as exc:
                    print(f"codebind-graph: {exc}", file=sys.stderr)
                    return 1
                finally:
                    asking.shutdown()
                    asker.destroy_node()
                print(format_results(args.query, response), flush=True)
                return 0 if response.success and response.results else 1
            deadline = time.monotonic() + args.duration if args.duration else None
            while rclpy.ok() and (deadline is None or time.monotonic() < deadline):
                time.sleep(0.1)
        except KeyboardInterrupt:
            pass
        finally:
            graph.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
