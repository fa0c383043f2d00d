"""The local store's schema, its migrations and the two ways to open it (write, read-only).

The schema version lives in ``PRAGMA user_version``. A store made by an older release (no
version, missing columns, old indexes) is brought up to date when a writer opens it, in one
transaction; readers never change the file and read what is there.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import urllib.parse
from typing import Any

from .._core.schema import SPAN_FIELDS, TRACE_FIELDS, TRACE_USAGE_KEYS, Field
from ._owner_only import create_private, make_private_dirs

logger = logging.getLogger("staso_integrations")

SCHEMA_VERSION = 2
# Creating the file closes a descriptor of it: no connection of this process may open it meanwhile.
_creating = threading.Lock()


def _reset_creating_lock() -> None:  # a forked child: the parent's thread may have held it
    global _creating
    _creating = threading.Lock()


os.register_at_fork(after_in_child=_reset_creating_lock)
_SQL_TYPES = {"text": "TEXT", "integer": "INTEGER", "real": "REAL", "bool": "INTEGER", "json": "TEXT"}
_KEYS = {"spans": {"span_id": "PRIMARY KEY", "trace_id": "NOT NULL"}, "traces": {"trace_id": "PRIMARY KEY"}}
FIELDS: dict[str, tuple[Field, ...]] = {"traces": TRACE_FIELDS, "spans": SPAN_FIELDS}
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    table: tuple(
        (field.name, f"{_SQL_TYPES[field.kind]} {_KEYS[table].get(field.name, '')}".strip())
        for field in fields
    )
    for table, fields in FIELDS.items()
}
# Only the indexes the CLI and UI query by. Traces are listed by time (``traces_start``) and
# filtered by agent, conversation or session: those indexes are partial, so a trace without
# the value (most apps set no conversation) costs no index write. Spans are read by trace
# (``spans_trace``) or scanned by ``export``. Schema 1 had full indexes (rebuilt here as partial
# ones); stores made before 0.1 had three span indexes more (dropped).
_INDEXES = (
    "DROP INDEX IF EXISTS traces_agent",
    "DROP INDEX IF EXISTS traces_conversation",
    "DROP INDEX IF EXISTS traces_session",
    "CREATE INDEX traces_agent ON traces (agent_name, start_ns) WHERE agent_name IS NOT NULL",
    "CREATE INDEX traces_conversation ON traces (conversation_id, start_ns)"
    " WHERE conversation_id IS NOT NULL",
    "CREATE INDEX traces_session ON traces (session_id, turn_index) WHERE session_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS traces_start ON traces (start_ns)",
    "CREATE INDEX IF NOT EXISTS spans_trace ON spans (trace_id, start_ns)",
    "DROP INDEX IF EXISTS spans_agent",
    "DROP INDEX IF EXISTS spans_conversation",
    "DROP INDEX IF EXISTS spans_start",
)
_DECODED = {
    table: tuple((field.name, field.kind) for field in fields if field.kind in ("json", "bool"))
    for table, fields in FIELDS.items()
}


def open_for_writing(path: str, lock_wait_s: float) -> sqlite3.Connection:
    """Open (creating owner-only if needed) and migrate the store at ``path``.

    ``lock_wait_s`` bounds every wait on another process's lock (SQLite's busy timeout).
    """
    make_private_dirs(os.path.dirname(os.path.abspath(path)))
    with _creating:
        create_private(path)  # SQLite gives its -wal/-shm files this file's mode
        conn = sqlite3.connect(path, timeout=lock_wait_s, check_same_thread=False, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            _migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def open_read_only(path: str, lock_wait_s: float = 1.0) -> sqlite3.Connection:
    """A connection that cannot change the file (``mode=ro``); rows as ``sqlite3.Row``.

    Raises:
        sqlite3.Error: missing, unreadable or not a database (checked here, not at first query).
    """
    uri = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=lock_wait_s, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then see it done
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            conn.execute("ROLLBACK")
            return
        added = []
        for table, columns in TABLES.items():
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(f'{n} {t}' for n, t in columns)})")
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            for name, declared in columns:
                if name not in present:  # ADD COLUMN takes neither PRIMARY KEY nor NOT NULL
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declared.split()[0]}")
                    added.append(f"{table}.{name}")
        for statement in _INDEXES:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    if added:
        logger.info(
            "staso: trace store %s migrated to schema %d (added %s)", path, SCHEMA_VERSION, ", ".join(added)
        )


def is_lock_error(exc: BaseException) -> bool:
    """Another connection holds the lock SQLite waited for (``database is locked`` / busy)."""
    text = str(exc)
    return "locked" in text or "busy" in text


def span_from_row(row: sqlite3.Row) -> dict[str, Any]:
    """A stored span back in its exported dict form (columns an old store lacks are None)."""
    return _decoded("spans", row)


def trace_from_row(row: sqlite3.Row) -> dict[str, Any]:
    """A stored trace back in the ``TraceSummary.to_dict()`` form."""
    data = _decoded("traces", row)
    data["usage"] = {key: data.pop(column) for column, key in TRACE_USAGE_KEYS.items()}
    return data


def _decoded(table: str, row: sqlite3.Row) -> dict[str, Any]:
    data: dict[str, Any] = dict.fromkeys(field.name for field in FIELDS[table])
    data.update(dict(row))
    for column, kind in _DECODED[table]:
        value = data[column]
        if value is not None:
            data[column] = json.loads(value) if kind == "json" else bool(value)
    return data
