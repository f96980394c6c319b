"""Named sections of a generated document, written by different commands: ``<!-- name:begin -->``
... ``<!-- name:end -->``. A command replaces its own block and carries the others over."""
from __future__ import annotations

import re
from typing import Optional

_BLOCK = re.compile(r"<!-- ([\w-]+):begin -->.*?<!-- \1:end -->", re.S)


def markers(name: str) -> tuple:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def replace_block(text: str, name: str, body: str) -> str:
    """`text` with block `name` set to `body` (appended at the end when absent)."""
    begin, end = markers(name)
    block = f"{begin}\n{body.strip()}\n{end}"
    if begin in text and end in text:
        a, b = text.index(begin), text.index(end) + len(end)
        return text[:a] + block + text[b:]
    return text.rstrip("\n") + "\n\n" + block + "\n"


def carry_blocks(old: Optional[str], new: str) -> str:
    """`new` with every named block of `old` that `new` lacks appended (in `old`'s order)."""
    if not old:
        return new
    for m in _BLOCK.finditer(old):
        name = m.group(1)
        if markers(name)[0] not in new:
            new = new.rstrip("\n") + "\n\n" + m.group(0) + "\n"
    return new
