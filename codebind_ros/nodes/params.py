"""Typed node parameters: a dataclass declares every ROS parameter up front and validates itself.

>>> @dataclass
... class MyParams:
...     rate_hz: float = field(default=10.0, metadata=doc("publishing rate"))
>>> params = declare(node, MyParams)   # declares rate_hz, reads overrides/YAML, validates

Supported field types: bool, int, float, str (mappings travel as YAML strings, see
:func:`parse_mapping`). A dataclass may define ``validate(self)`` raising ValueError; ``declare``
calls it. It may also define ``retired(self)``: parameters it no longer has, each with the ROS
arguments that do their job now; ``declare`` refuses such a parameter when it is given (rclpy
would otherwise ignore it without a word, the node then using its default).
"""
from __future__ import annotations

import dataclasses
import json
import re
import typing
from typing import Any, Dict, Type, TypeVar

import yaml
from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.exceptions import InvalidParameterTypeException

P = TypeVar("P")

_TYPES = {
    bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING,
}


def doc(description: str, read_only: bool = True) -> Dict[str, Any]:
    """Field metadata: the parameter's description (shown by ``ros2 param describe``)."""
    return {"description": description, "read_only": read_only}


def declare(node, cls: Type[P]) -> P:
    """Declare every field of dataclass ``cls`` as a parameter of ``node``; return the values."""
    hints = typing.get_type_hints(cls)
    values: Dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if kind not in _TYPES:
            raise TypeError(f"parameter {f.name!r} has unsupported type {kind}")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        meta = f.metadata or {}
        # floats accept integers too (``rate: 10`` in YAML), checked below
        descriptor = ParameterDescriptor(name=f.name, type=_TYPES[kind],
                                         description=meta.get("description", ""),
                                         read_only=meta.get("read_only", True),
                                         dynamic_typing=kind is float)
        try:
            value = node.declare_parameter(f.name, default, descriptor).value
        except InvalidParameterTypeException as exc:
            raise ValueError(f"parameter {f.name} must be of type {kind.__name__}: {exc}") from None
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"parameter {f.name} must be a number, got {value!r}")
            value = float(value)
        values[f.name] = value
    params = cls(**values)
    refuse_retired(node, getattr(params, "retired", dict)())
    validate = getattr(params, "validate", None)
    if validate is not None:
        validate()
    return params


def refuse_retired(node, retired: Dict[str, str]) -> None:
    """ValueError when a parameter in ``retired`` is given to ``node`` (by ``-p``, a params file or
    ``parameter_overrides``): name -> the ROS arguments instead, with a ``{value}`` placeholder, and
    after a ``|`` those that replace the value '' where it meant more than the default."""
    # what rclpy resolved for this node; a parameter nobody declares stays here unread
    given = getattr(node, "_parameter_overrides", {})
    for name in sorted(set(retired) & set(given)):
        value = given[name].value
        rule, _, when_empty = retired[name].partition("|")
        if value == "":  # '' meant the default name (or, where a rule says so, off)
            instead = f" and use --ros-args {when_empty}" if when_empty else ""
            raise ValueError(f"parameter {name} no longer exists: a node's topics are fixed relative names "
                             f"that are remapped; leave {name} out{instead} (docs/ros.md, \"Topics and remapping\")")
        arguments = rule.format(value=value)
        launch = ", ".join(f"({old!r}, {new!r})" for old, new in re.findall(r"-r (\S+):=(\S*)", arguments))
        raise ValueError(f"parameter {name} no longer exists: a node's topics are fixed relative names "
                         f"that are remapped; instead of {name}:={value!r} use --ros-args {arguments} "
                         f"(a launch file: Node(remappings=[{launch}])); see docs/ros.md, \"Topics and remapping\"")


def parse_mapping(text: str, what: str) -> Dict[str, Any]:
    """A YAML/JSON mapping given as a string parameter ('' -> {}); ValueError otherwise."""
    if not text.strip():
        return {}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{what} is not valid YAML/JSON: {exc}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{what} must be a mapping of option names to values, got {text!r}")
    return json.loads(json.dumps(value))  # plain types only
