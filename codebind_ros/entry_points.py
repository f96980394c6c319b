"""Console-script entry points (``codebind-encoder`` ...) that stop quietly on Ctrl-C at any time.

pip writes each console script as ``from <module> import <function>``; an interrupt while that
import runs (rclpy and torch load for seconds) would end in a KeyboardInterrupt traceback. These
functions import the node module themselves, inside the same guard as the node's own shutdown
(:func:`codebind_ros.nodes.session.run_node`): Ctrl-C exits with status 0 and no traceback,
whether it comes while the modules load or while the node runs. The ``ros2 run`` executables
(cmake/codebind_executables.cmake) do the same. This module imports nothing heavy.
"""
from __future__ import annotations

import importlib


# console-script function -> the node's ``module:function`` (the same as the ros2 run executables')
TARGETS = {
    "encoder": "codebind_ros.nodes.encoder_node:main",
    "localisation": "codebind_ros.nodes.localisation_node:main",
    "memory": "codebind_ros.nodes.memory_node:main",
    "sensor_player": "codebind_ros.nodes.sensor_player:main",
    "graph": "codebind_ros.tools.graph_runner:main",
    "query": "codebind_ros.tools.query_cli:main",
}


def run(target: str) -> int:
    """Import ``module:function`` and call it; KeyboardInterrupt at any point -> 0."""
    module, function = target.split(":")
    try:
        return getattr(importlib.import_module(module), function)()
    except KeyboardInterrupt:
        return 0


def encoder() -> int:
    return run(TARGETS["encoder"])


def localisation() -> int:
    return run(TARGETS["localisation"])


def memory() -> int:
    return run(TARGETS["memory"])


def sensor_player() -> int:
    return run(TARGETS["sensor_player"])


def graph() -> int:
    return run(TARGETS["graph"])


def query() -> int:
    return run(TARGETS["query"])
