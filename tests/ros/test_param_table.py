"""docs/ros.md's parameter table is the one generated from the params dataclasses, and every declared
parameter has a description (``python -m codebind_ros.nodes.param_table --write`` regenerates it)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from codebind_ros.nodes import param_table as T
from codebind_ros.nodes.node_kinds import NODE_KINDS
from codebind_ros.nodes.params import doc


def test_docs_table_is_the_generated_one():
    text = T.DOC.read_text(encoding="utf-8")
    assert text.count(T.BEGIN) == 1 and text.count(T.END) == 1, "docs/ros.md needs exactly one generated block"
    assert T.current_block(text) == T.render(), f"docs/ros.md's parameter table is out of date: run {T.COMMAND}"
    assert T.main(["--check"]) == 0


@pytest.mark.parametrize("executable,target", T.NODE_PARAMS)
def test_every_parameter_has_a_description_and_a_row(executable, target):
    cls = T.params_class(target)
    assert T.undocumented(cls) == []
    block = T.render()
    names = [f.name for f in dataclasses.fields(cls)]
    table = block.split(f"**`{executable}`**", 1)[1].split("\n\n", 2)[1]
    assert [row.split("`")[1] for row in table.splitlines()[2:]] == names


def test_every_node_kind_is_in_the_table():
    assert sorted(e for e, _ in T.NODE_PARAMS) == sorted(k.executable for k in NODE_KINDS.values())


def test_a_missing_or_blank_description_is_found():
    @dataclass
    class Partly:
        rate: float = field(default=1.0, metadata=doc("publishing rate (Hz)"))
        blank: int = field(default=2, metadata=doc("  "))
        bare: str = ""

    assert T.undocumented(Partly) == ["blank", "bare"]


def test_a_changed_table_is_detected():
    block = T.render()
    text = f"intro\n\n{block}\n\nafter\n"
    assert T.current_block(text) == block
    stale = text.replace("| `modality` | str |", "| `modality` | int |")
    assert T.current_block(stale) != block
    assert T.replace_block(stale, block) == text
    with pytest.raises(ValueError, match="no generated parameter block"):
        T.current_block("a document without the markers")
    # a row of a field's default, type and description
    row = next(line for line in block.splitlines() if line.startswith("| `max_message_bytes` |"))
    assert row.split(" | ")[1:3] == ["int", "`67108864`"]
