"""Node executables take their start-up objects out of the garbage collector's reach.

A full collection in an encoder process walked the ~430k objects of start-up (modules, the
model): about 190 ms, during which a 30 Hz camera stream lost frames (docs/benchmarks.md,
"every sensor at its usual rate"). ``run_node`` freezes them before it spins."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import domain_id_for

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str) -> str:
    env = {**os.environ, "ROS_DOMAIN_ID": str(domain_id_for(__name__))}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_frozen_objects_are_out_of_a_full_collections_walk():
    out = _python("""
        import gc
        from codebind_ros.nodes.session import freeze_start_up_objects
        start_up = [[i] for i in range(100_000)]
        frozen = freeze_start_up_objects()
        later = [[i] for i in range(10)]
        walked = {id(o) for o in gc.get_objects()}  # what a full collection traverses
        print(frozen >= 100_000, id(start_up[0]) in walked, id(start_up) in walked, id(later[0]) in walked)
    """)
    assert out.split() == ["True", "False", "False", "True"]


def test_run_node_freezes_before_it_spins():
    out = _python("""
        import gc
        import rclpy
        from rclpy.node import Node
        from codebind_ros.nodes.session import run_node

        def make():
            node = Node("gc_probe")
            def probe():
                print("frozen while spinning:", gc.get_freeze_count(), flush=True)
                rclpy.shutdown()
            node.create_timer(0.05, probe)
            return node

        print("frozen before:", gc.get_freeze_count())
        print("status", run_node(make, "gc_probe"))
    """)
    lines = dict(line.split(":", 1) if ":" in line else (line, "") for line in out.splitlines())
    assert int(lines["frozen before"]) == 0
    assert int(lines["frozen while spinning"]) > 10_000, out  # rclpy, torch, codebind: far more
    assert "status 0" in out


def test_codebind_graph_freezes_before_its_nodes_spin(tmp_path):
    """codebind-graph runs its nodes on one executor in one process: the same freeze, before it starts."""
    params = tmp_path / "graph.yaml"
    params.write_text("sensor_player:\n  ros__parameters: {noise_frames: 1}\n")
    out = _python(f"""
        import gc
        from codebind_ros.tools import graph_runner

        start = graph_runner.Graph.start
        def probe(graph):
            print("frozen at start:", gc.get_freeze_count(), flush=True)
            return start(graph)
        graph_runner.Graph.start = probe
        print("frozen before:", gc.get_freeze_count())
        print("status", graph_runner.main(["--params-file", {str(params)!r}, "--duration", "0.3"]))
    """)
    lines = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    assert int(lines["frozen before"]) == 0
    assert int(lines["frozen at start"]) > 10_000, out
    assert "status 0" in out
