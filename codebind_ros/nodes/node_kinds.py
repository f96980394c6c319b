"""The node kinds of the graph, by name, for the launch file and the one-process runner.

A params YAML section for the node named ``<kind>`` or ``<kind>_<anything>`` (e.g.
``encoder_depth``) starts one node of that kind. A section is keyed ``/**/<node name>`` (that node
in any namespace, the way rcl matches params-file keys; rclpy supports it from Jazzy on) or, for a
graph without a namespace only, ``<node name>``. Each kind names its installed executable (CMakeLists.txt, setup.py) and
its node class ``module:Class``; a class takes ``**kwargs`` for :class:`rclpy.node.Node`
(``context``, ``cli_args``, ``parameter_overrides``) and, if it has a ``model`` argument, may be
handed an already loaded model. Importing this module does not import rclpy.

Topics are remapped, not set by parameters: a remappings YAML (launch ``remappings_file:=``,
``codebind-graph --remappings-file``) maps ``/**`` (every node) or a node name (``/**/<name>`` or
``<name>``) to ``{from: to}`` rules, e.g. ``/**: {camera/image_raw: /my_driver/image}``;
:func:`remappings_for` gives one node's rules, as ``launch_ros`` ``Node(remappings=...)`` takes them.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Dict, List, Mapping, Tuple

import yaml

WILDCARD = "/**"  # the params-file section that applies to every node
ANY_NAMESPACE = "/**/"  # key prefix: the named node in any namespace


@dataclass(frozen=True)
class NodeKind:
    """One kind of node.

    Attributes:
        kind: section-name prefix in the params YAML.
        executable: name installed in lib/codebind_ros (``ros2 run codebind_ros <executable>``).
        target: ``module:Class`` of the node class.
        uses_model: takes a ``model_path`` parameter (the launch overrides it, and ``backend``
            where the node declares one: the encoders; a node ignores what it does not declare).
        sim_only: started only when ``use_sim`` is true.
        multi_threaded: spun by a MultiThreadedExecutor (the memory node answers queries while it
            stores observations); the others each by a SingleThreadedExecutor, which served the
            localisation node every frame where a MultiThreadedExecutor starved it
            (docs/benchmarks.md). Its executable and ``codebind-graph`` both follow this.
    """

    kind: str
    executable: str
    target: str
    uses_model: bool
    sim_only: bool = False
    multi_threaded: bool = False

    def load(self) -> type:
        """Import and return the node class."""
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


NODE_KINDS: Dict[str, NodeKind] = {k.kind: k for k in (
    NodeKind("sensor_player", "sensor_player", "codebind_ros.nodes.sensor_player:SensorPlayerNode",
             uses_model=False, sim_only=True),
    NodeKind("encoder", "encoder_node", "codebind_ros.nodes.encoder_node:EncoderNode", uses_model=True),
    NodeKind("localisation", "localisation_node", "codebind_ros.nodes.localisation_node:LocalisationNode",
             uses_model=True),
    NodeKind("memory", "memory_node", "codebind_ros.nodes.memory_node:MemoryNode", uses_model=True,
             multi_threaded=True),
)}


def kind_of(section: str) -> NodeKind:
    """The node kind a params section name starts; ValueError when none matches."""
    for kind in sorted(NODE_KINDS, key=len, reverse=True):
        if section == kind or section.startswith(kind + "_"):
            return NODE_KINDS[kind]
    raise ValueError(f"params section {section!r} names no node kind; it must be one of "
                     f"{sorted(NODE_KINDS)} or start with '<kind>_'")


def node_name(section: str, namespace: str = "") -> str:
    """The node name a params section key stands for: ``/**/memory``, ``memory`` or ``/memory``.

    ValueError for a key naming a namespace (``/robot1/memory``: the graph's namespace is the
    launch's), and for a bare key when the nodes run in ``namespace``: rcl would match it only
    to the node without a namespace, and the node would start on its defaults."""
    key = str(section)
    if key.startswith(ANY_NAMESPACE):
        name = key[len(ANY_NAMESPACE):]
    elif "/" in key.lstrip("/"):
        raise ValueError(f"params section {key!r} names a namespace; key the node's section "
                         f"'{ANY_NAMESPACE}{key.rsplit('/', 1)[-1]}' and give the namespace to the launch")
    else:
        name = key.lstrip("/")
        if namespace.strip("/"):
            raise ValueError(
                f"params section {key!r} would not reach node '/{namespace.strip('/')}/{name}' (a bare "
                f"key matches only the node without a namespace): key it '{ANY_NAMESPACE}{name}'")
    if not name or "/" in name or "*" in name:
        raise ValueError(f"params section {key!r} names no single node")
    return name


def graph_nodes(params: Mapping, use_sim: bool, namespace: str = "") -> List[Tuple[str, NodeKind]]:
    """(node name, kind) for every section of a parsed params YAML, in file order; the nodes will
    run in ``namespace`` (see :func:`node_name`)."""
    if not isinstance(params, Mapping):
        raise ValueError("the params file must be a mapping of node names to sections")
    nodes = []
    for section, body in params.items():
        if section == WILDCARD:
            continue
        if not isinstance(body, Mapping) or "ros__parameters" not in body:
            raise ValueError(f"params section {section!r} needs a 'ros__parameters' mapping")
        name = node_name(section, namespace)
        kind = kind_of(name)
        if kind.sim_only and not use_sim:
            continue
        nodes.append((name, kind))
    return nodes


def load_remappings(text: str) -> Dict[str, Dict[str, str]]:
    """Parse a remappings YAML (see the module docstring): node name or ``/**`` -> {from: to}.
    ValueError names a malformed entry."""
    try:
        rules = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"remappings file is not valid YAML: {exc}") from None
    if not isinstance(rules, Mapping):
        raise ValueError("the remappings file must map node names (or '/**') to {from: to} rules")
    out: Dict[str, Dict[str, str]] = {}
    for key, body in rules.items():
        name = WILDCARD if key == WILDCARD else node_name(str(key))
        if not isinstance(body, Mapping) or not all(
                isinstance(v, str) and v.strip() and isinstance(k, str) and k.strip() for k, v in body.items()):
            raise ValueError(f"remappings of {key!r} must be a mapping of topic names to new names, got {body!r}")
        out.setdefault(name, {}).update(body)
    return out


def remappings_for(rules: Mapping[str, Mapping[str, str]], name: str) -> List[Tuple[str, str]]:
    """(from, to) rules of node ``name``: the ``/**`` ones, then its own (which win)."""
    merged = {**rules.get(WILDCARD, {}), **rules.get(name, {})}
    return list(merged.items())
