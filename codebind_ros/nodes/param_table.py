"""The parameter table of docs/ros.md, generated from the params dataclasses' field metadata.

    python -m codebind_ros.nodes.param_table            # print the generated block
    python -m codebind_ros.nodes.param_table --write    # replace the block in docs/ros.md
    python -m codebind_ros.nodes.param_table --check    # exit 1 when docs/ros.md differs

The block stands between :data:`BEGIN` and :data:`END`; every declared parameter of every node
kind (:mod:`codebind_ros.nodes.node_kinds`) is one row: name, type, default, description.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import typing
from pathlib import Path
from typing import List, Sequence, Tuple

DOC = Path(__file__).resolve().parents[2] / "docs" / "ros.md"
COMMAND = "python -m codebind_ros.nodes.param_table --write"
BEGIN = f"<!-- BEGIN generated parameter table ({COMMAND}); do not edit by hand -->"
END = "<!-- END generated parameter table -->"

# (executable, params dataclass as module:Class), in the order of docs/ros.md
NODE_PARAMS: Tuple[Tuple[str, str], ...] = (
    ("encoder_node", "codebind_ros.nodes.encoder_params:EncoderParams"),
    ("localisation_node", "codebind_ros.nodes.localisation_params:LocalisationParams"),
    ("memory_node", "codebind_ros.nodes.memory_params:MemoryParams"),
    ("sensor_player", "codebind_ros.nodes.sensor_player_params:PlayerParams"),
)


def params_class(target: str) -> type:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def undocumented(cls: type) -> List[str]:
    """Names of the fields of ``cls`` whose description is missing or blank."""
    return [f.name for f in dataclasses.fields(cls) if not str((f.metadata or {}).get("description", "")).strip()]


def _default(f: dataclasses.Field):
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(value) -> str:
    """A default as written in a params YAML (``''`` for the empty string)."""
    text = str(value).lower() if isinstance(value, bool) else str(value) if value != "" else "''"
    return f"`{_cell(text)}`"


def node_table(executable: str, cls: type) -> List[str]:
    """Markdown lines of one node's parameters, in declaration order."""
    hints = typing.get_type_hints(cls)
    lines = [f"**`{executable}`** (`{cls.__module__}.{cls.__name__}`)", "",
             "| parameter | type | default | description |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        description = _cell(str((f.metadata or {}).get("description", "")))
        lines.append(f"| `{f.name}` | {hints[f.name].__name__} | {_code(_default(f))} | {description} |")
    return lines


def render(node_params: Sequence[Tuple[str, str]] = NODE_PARAMS) -> str:
    """The whole generated block, markers included."""
    lines = [BEGIN, ""]
    for executable, target in node_params:
        lines += node_table(executable, params_class(target)) + [""]
    return "\n".join(lines + [END])


def _span(text: str) -> Tuple[int, int]:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no generated parameter block in the document (markers {BEGIN!r} ... {END!r})")
    return start, end + len(END)


def current_block(text: str) -> str:
    """The generated block as it stands in ``text`` (markers included); ValueError without markers."""
    start, end = _span(text)
    return text[start:end]


def replace_block(text: str, block: str) -> str:
    """``text`` with its generated block replaced by ``block``; ValueError without the markers."""
    start, end = _span(text)
    return text[:start] + block + text[end:]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"replace the block in {DOC.name}")
    mode.add_argument("--check", action="store_true", help=f"exit 1 when {DOC.name} differs")
    args = parser.parse_args(argv)
    block = render()
    if not (args.write or args.check):
        print(block)
        return 0
    text = DOC.read_text(encoding="utf-8")
    if args.check:
        same = current_block(text) == block
        print(f"{DOC}: parameter table {'up to date' if same else f'differs; run {COMMAND}'}")
        return 0 if same else 1
    DOC.write_text(replace_block(text, block), encoding="utf-8")
    print(f"wrote the parameter table of {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
