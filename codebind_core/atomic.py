"""Atomic file writes: a reader sees the previous file or the new one, never half of one.

The one way codebind writes a file that something else may read (checkpoints, weight caches,
TensorRT engines): write to a temporary file in the target's folder, flush and fsync it, move it
into place with ``os.replace`` (atomic within one file system) and fsync the folder so the rename
itself survives a power loss. A failed write leaves no temporary file behind.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Optional, Union

PathLike = Union[str, Path]


def atomic_write(target: PathLike, write: Callable[[str], object], mode: Optional[int] = None) -> Path:
    """Call ``write(tmp)`` on a fresh temporary path next to ``target``, then move it to ``target``.

    ``write`` gets the temporary file's path as a string (the file exists and is empty) and fills
    it any way it likes (``safetensors.save_file``, ``torch.save``, ``Path.write_text``). ``mode``
    sets the file's permission bits (a temporary file starts as 0o600). The folder is created
    when missing. Returns ``target`` as a Path."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if mode is not None:
            os.chmod(tmp, mode)
        write(tmp)
        _fsync_path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    fsync_dir(target.parent)
    return target


def atomic_write_bytes(target: PathLike, data: bytes, mode: Optional[int] = None) -> Path:
    """``data`` written to ``target`` atomically (see :func:`atomic_write`)."""
    return atomic_write(target, lambda p: Path(p).write_bytes(data), mode=mode)


def atomic_write_text(target: PathLike, text: str, mode: Optional[int] = None) -> Path:
    """``text`` written to ``target`` atomically (see :func:`atomic_write`)."""
    return atomic_write(target, lambda p: Path(p).write_text(text), mode=mode)


def fsync_dir(directory: PathLike) -> None:
    """Flush a folder's entries (a rename into it) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows: folders cannot be opened, renames are durable there anyway
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
