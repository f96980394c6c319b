"""One strict, typed config system for every codebind_core config (timm / open_clip style).

A config is a ``@dataclass`` (frozen or not) that inherits :class:`Config`; each field has a
type hint and a short comment. That gives it:

* validate on construction: ``__post_init__`` turns list values of tuple fields into tuples
  (:meth:`Config.normalise`), then calls :meth:`Config.validate`, whose default checks every
  field against its type hint (:func:`check_types`). Override ``validate`` to add range and
  cross-field checks, calling ``super().validate()`` first (or :func:`check_types` directly);
* ``Cls.from_dict(d)``: strict: ``d`` must be a mapping, unknown keys raise ``ValueError``
  naming them and the allowed ones, nested dataclass fields (``Optional[Section]``,
  ``Dict[str, Section]`` included) are built recursively from their mappings (:func:`build`);
* ``cfg.to_dict()``: plain JSON/YAML-able dicts (tuples become lists, nested configs dicts);
* ``Cls.from_file(path)`` / ``Cls.from_yaml(path)``: a JSON (``.json``) or YAML file
  (:func:`read_mapping`); ``cfg.save(path)`` writes JSON for ``.json``, YAML otherwise;
* ``cfg.replace(**changes)``: a validated copy.

Class attributes a config may set: ``config_label`` (how errors name the whole config, e.g.
"model config"; default the class name) and ``error_prefix`` (prepended to the messages of
:meth:`Config.fail`/:meth:`Config.check`, e.g. ``"MemoryConfig: "``).

Helpers for ``validate``: :func:`check` (raise ``ValueError(msg)`` unless ``cond``),
:func:`check_positive`, :func:`check_choice`, :func:`check_range` (also as methods that
name the field: ``self.check_choice("mode", MODES)``); :func:`deep_merge` for preset overrides.
Every failure is a ``ValueError`` whose message names the field.

Porting a config (example)::

    @dataclass
    class MyConfig(Config):
        config_label: ClassVar[str] = "my config"
        size: int = 8         # number of things
        mode: str = "fast"    # fast | exact

        def validate(self) -> None:
            super().validate()                      # types
            check_positive(self, "", ("size",))
            self.check_choice("mode", ("fast", "exact"))
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import numbers
import types
import typing
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Dict, Iterable, Optional, Type, TypeVar, Union

C = TypeVar("C", bound="Config")


# ---- checks ---------------------------------------------------------------------------------
def check(cond: bool, msg: str) -> None:
    """Raise ``ValueError(msg)`` unless ``cond``."""
    if not cond:
        raise ValueError(msg)


def check_positive(obj: Any, where: str, names: Iterable[str]) -> None:
    """Each field in ``names`` of ``obj`` is > 0 (message: ``{where}{name} must be > 0``)."""
    for name in names:
        value = getattr(obj, name)
        check(value > 0, f"{where}{name} must be > 0, got {value!r}")


def check_choice(value: Any, choices: Iterable[Any], name: str) -> None:
    """``value`` is one of ``choices`` (message: ``{name} must be one of [...sorted], got ...``)."""
    choices = sorted(choices, key=str)
    check(value in choices, f"{name} must be one of {choices}, got {value!r}")


def check_range(value: Any, lo: float, hi: float, name: str, *, integer: bool = False,
                open_lo: bool = False) -> None:
    """``value`` is a number (an integer with ``integer``) in [lo, hi], or (lo, hi] with
    ``open_lo`` (message: ``{name} must be an integer in [lo, hi], got ...``)."""
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > lo if open_lo else value >= lo) and value <= hi
    what = "an integer" if integer else "a number"
    check(ok, f"{name} must be {what} in {'(' if open_lo else '['}{lo:g}, {hi:g}], got {value!r}")


def type_ok(value: Any, hint: Any) -> bool:
    """Whether ``value`` (as read from JSON/YAML or passed in code) fits the field type ``hint``."""
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union:
        return any(type_ok(value, a) for a in args)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:  # numpy integers too
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list):
        return isinstance(value, (list, tuple)) and (not args or all(type_ok(v, args[0]) for v in value))
    if origin is dict:
        return isinstance(value, Mapping) and all(isinstance(k, str) and type_ok(v, args[1]) for k, v in value.items())
    if dataclasses.is_dataclass(hint):
        return isinstance(value, hint)
    return True


def type_name(hint: Any) -> str:
    """How an error message names a type: "an int", "a list of strings", ..."""
    names = {bool: "a bool (true/false)", int: "an int", float: "a finite number", str: "a string"}
    if hint in names:
        return names[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union:
        return " or ".join("null" if a is type(None) else type_name(a) for a in args)
    if origin in (tuple, list):
        inner = type_name(args[0]) if args else "value"
        return f"a list of {inner.removeprefix('a ').removeprefix('an ')}s"
    if origin is dict or dataclasses.is_dataclass(hint):
        return "a mapping"
    return str(hint)


_HINTS: "weakref.WeakKeyDictionary[type, Mapping[str, Any]]" = weakref.WeakKeyDictionary()


def type_hints(cls: type) -> Mapping[str, Any]:
    """``typing.get_type_hints(cls)``, resolved once per class (read-only): a config is built for
    every sensor frame and text query, and resolving the hints took longer than its checks."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = types.MappingProxyType(typing.get_type_hints(cls))
    return hints


def check_types(obj: Any, where: str = "") -> None:
    """Every field of the dataclass ``obj`` holds a value of its declared type
    (message: ``{where}{field} must be <type>, got <value>``)."""
    hints = type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        check(type_ok(value, hints[f.name]), f"{where}{f.name} must be {type_name(hints[f.name])}, got {value!r}")


# ---- dicts and files ------------------------------------------------------------------------
def deep_merge(base: Dict[str, Any], over: Dict[str, Any]) -> Dict[str, Any]:
    """`base` updated recursively by `over` (dicts merge, everything else replaces); new dict."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def reject_unknown(cls: type, values: Mapping, where: str) -> None:
    """``values`` has only field names of the dataclass ``cls`` (message names the unknown and
    the allowed keys)."""
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(allowed))
    check(not unknown, f"unknown keys in {where}: {unknown}; allowed: {allowed}")


def _section_type(hint: Any) -> Optional[type]:
    """The dataclass type of a field hint ``Section`` or ``Optional[Section]``, else None."""
    if dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) is Union:
        found = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
        return found[0] if len(found) == 1 else None
    return None


def _build_value(hint: Any, value: Any, where: str) -> Any:
    section = _section_type(hint)
    optional = section is not None and not dataclasses.is_dataclass(hint)  # Optional[Section]
    if section is not None and not (optional and value is None) and not isinstance(value, section):
        check(isinstance(value, Mapping), f"config section {where!r} must be a mapping of its keys, got {value!r}")
        return build(section, value, where)
    if typing.get_origin(hint) is dict and len(typing.get_args(hint)) == 2:
        item = _section_type(typing.get_args(hint)[1])
        if item is not None:
            value = {} if value is None else value
            check(isinstance(value, Mapping), f"config section {where!r} must be a mapping, got {value!r}")
            return {k: _build_value(item, v, f"{where}.{k}") for k, v in value.items()}
    return value


def build(cls: Type[Any], values: Any, where: Optional[str] = None) -> Any:
    """The dataclass ``cls`` from the mapping ``values``, strictly: unknown keys rejected, nested
    dataclass fields built recursively, then ``cls(**values)`` (which validates a :class:`Config`).
    ``where`` names the section in messages (default: the class's ``config_label``)."""
    label = getattr(cls, "config_label", None) or cls.__name__
    if where is None:
        check(isinstance(values, Mapping), f"a {label} must be a mapping, got {type(values).__name__}")
        where = getattr(cls, "config_where", "config")
    else:
        check(isinstance(values, Mapping), f"config section {where!r} must be a mapping of its keys, got {values!r}")
    reject_unknown(cls, values, where)
    hints = type_hints(cls)
    prefix = "" if where == getattr(cls, "config_where", "config") else f"{where}."
    kwargs = {k: _build_value(hints[k], v, f"{prefix}{k}") for k, v in values.items()}
    return cls(**kwargs)


def to_plain(value: Any) -> Any:
    """Dataclasses -> dicts, tuples -> lists, recursively (JSON/YAML-able)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    return copy.deepcopy(value)


def read_mapping(path: Union[str, Path], what: str = "config") -> Any:
    """The parsed content of a JSON (``.json``) or YAML (any other name) file; an empty YAML
    file is ``{}``. A missing file or invalid YAML/JSON raises ``ValueError`` naming the file."""
    p = Path(path)
    check(p.is_file(), f"{what} not found: {p}")
    text = p.read_text()
    if p.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{p}: invalid JSON ({e})") from e
    import yaml

    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{p}: invalid YAML ({e})") from e


# ---- the mixin ------------------------------------------------------------------------------
class Config:
    """Base of every typed config dataclass (see the module docstring)."""

    config_label: ClassVar[str] = ""   # how errors name the whole config ("model config")
    config_where: ClassVar[str] = "config"  # how unknown-key errors name the top level
    error_prefix: ClassVar[str] = ""   # prefix of check()/fail() messages ("MemoryConfig: ")

    def __post_init__(self) -> None:
        self.normalise()
        self.validate()

    def normalise(self) -> None:
        """Before validation: list values of tuple-typed fields become tuples (frozen-safe)."""
        hints = type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list) and typing.get_origin(_strip_optional(hints[f.name])) is tuple:
                object.__setattr__(self, f.name, tuple(value))

    def validate(self) -> None:
        """Default: every field has its declared type. Subclasses add their own checks."""
        check_types(self, self.error_prefix)

    def check(self, cond: bool, msg: str) -> None:
        """:func:`check` with this config's ``error_prefix``."""
        check(cond, f"{self.error_prefix}{msg}")

    def check_choice(self, field: str, choices: Iterable[Any]) -> None:
        """Field ``field`` is one of ``choices`` (:func:`check_choice`, with ``error_prefix``)."""
        check_choice(getattr(self, field), choices, f"{self.error_prefix}{field}")

    def check_range(self, field: str, lo: float, hi: float, *, integer: bool = False,
                    open_lo: bool = False) -> None:
        """Field ``field`` lies in [lo, hi] (:func:`check_range`); a None value passes."""
        value = getattr(self, field)
        if value is not None:
            check_range(value, lo, hi, f"{self.error_prefix}{field}", integer=integer, open_lo=open_lo)

    # ---- (de)serialisation -------------------------------------------------------------------
    @classmethod
    def from_dict(cls: Type[C], values: Any) -> C:
        """Strict: see :func:`build`."""
        return build(cls, values)

    def to_dict(self) -> Dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_file(cls: Type[C], path: Union[str, Path]) -> C:
        """A YAML or JSON file holding :meth:`from_dict`'s mapping."""
        return cls.from_dict(read_mapping(path, cls.config_label or cls.__name__))

    @classmethod
    def from_yaml(cls: Type[C], path: Union[str, Path]) -> C:
        return cls.from_file(path)

    def save(self, path: Union[str, Path]) -> None:
        """JSON (sorted keys) for ``.json``, YAML (field order) otherwise."""
        p = Path(path)
        if p.suffix == ".json":
            p.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        else:
            import yaml

            p.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)


def _strip_optional(hint: Any) -> Any:
    if typing.get_origin(hint) is Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint
