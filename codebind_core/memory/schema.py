"""Version of the memory's SQLite schema and the upgrade of older files in place.

The version is the meta key ``schema_version``. Version 2 names a row's codebook set (paper §3.4)
in a column ``codebook_set`` (tables ``observations`` and ``objects``) and lists the stored
codebooks under the meta keys ``codebook_sets`` / ``objects_codebook_sets``. Version 1 (files
written before) used another name for all four (:data:`V1_NAME`). Opening a version-1 file
upgrades it in one transaction: after a crash it is either still version 1 or completely version
2, and an upgraded file opens again without change. A file of a newer version than this code
knows is refused, untouched.
"""
from __future__ import annotations

import sqlite3
from typing import Optional

SCHEMA_VERSION = 2
VERSION_KEY = "schema_version"
V1_NAME = "path"  # version 1's name of the codebook-set column and of the meta keys' suffix
_META_KEYS_V2 = {f"codebook_{V1_NAME}s": "codebook_sets", f"objects_codebook_{V1_NAME}s": "objects_codebook_sets"}


class NewerSchemaError(ValueError):
    """The database was written by a newer codebind (a schema version this code does not know)."""


def _tables(conn: sqlite3.Connection) -> set:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _columns(conn: sqlite3.Connection, table: str) -> set:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def stored_version(conn: sqlite3.Connection, where: str = "") -> Optional[int]:
    """The file's schema version; None for a file without memory tables (new or empty).
    A memory table without a recorded version is version 1 (it was written before any upgrade)."""
    tables = _tables(conn)
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (VERSION_KEY,)).fetchone() if "meta" in tables else None
    if row is None:
        return 1 if tables & {"observations", "objects"} else None
    text = bytes(row[0]).decode(errors="replace") if isinstance(row[0], bytes) else str(row[0])
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"memory database {where} is damaged: its schema_version {text!r} is not a number") from None


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    for table in ("observations", "objects"):
        if table in _tables(conn) and V1_NAME in _columns(conn, table):
            conn.execute(f"ALTER TABLE {table} RENAME COLUMN {V1_NAME} TO codebook_set")
    for old, new in _META_KEYS_V2.items():
        conn.execute("UPDATE meta SET key = ? WHERE key = ?", (new, old))


_UPGRADES = {1: _v1_to_v2}  # version -> the step to the next one


def upgrade(conn: sqlite3.Connection, where: str) -> Optional[int]:
    """Bring the file on ``conn`` (autocommit mode, meta table present) to :data:`SCHEMA_VERSION`
    in one transaction; returns the version it had (None: a new file, only the version is written).

    Raises:
        NewerSchemaError: the file's version is newer than this code's; nothing is changed.
        ValueError: the recorded version is not a number.
    """
    found = stored_version(conn, where)
    if found == SCHEMA_VERSION:
        return found
    if found is not None and found > SCHEMA_VERSION:
        raise NewerSchemaError(
            f"memory database {where} has schema version {found}; this codebind reads versions up to "
            f"{SCHEMA_VERSION}. It was written by a newer codebind: open it with that one, or give this "
            f"one another database file")
    if found is not None and found < 1:
        raise ValueError(f"memory database {where} is damaged: schema_version {found} was never written")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for version in range(found or SCHEMA_VERSION, SCHEMA_VERSION):
            _UPGRADES[version](conn)
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                     (VERSION_KEY, str(SCHEMA_VERSION).encode()))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return found
