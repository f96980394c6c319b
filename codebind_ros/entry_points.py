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


def run(target: str) -> int:
    """Import ``module:function`` and call it; KeyboardInterrupt at any point -> 0."""
    module, function = target.split(":")
    try:
        return getattr(importlib.import_module(module), function)()
    except KeyboardInterrupt:
        return 0


def encoder() -> int:
    return run("codebind_ros.nodes.encoder_node:main")


def localisation() -> int:
    return run("codebind_ros.nodes.localisation_node:main")


def memory() -> int:
    return run("codebind_ros.nodes.memory_node:main")


def sensor_player() -> int:
    return run("codebind_ros.nodes.sensor_player:main")


def graph() -> int:
    return run("codebind_ros.tools.graph_runner:main")


def query() -> int:
    return run("codebind_ros.tools.query_cli:main")
