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

from ._owner_only import create_private, make_private_dirs

logger = logging.getLogger("staso_integrations")

SCHEMA_VERSION = 1
# Creating the file closes a descriptor of it: no connection of this process may open it meanwhile.
_creating = threading.Lock()


def _reset_creating_lock() -> None:  # a forked child: the parent's thread may have held it
    global _creating
    _creating = threading.Lock()


os.register_at_fork(after_in_child=_reset_creating_lock)
_SHARED_COLUMNS = (
    ("agent_name", "TEXT"), ("conversation_id", "TEXT"), ("user_id", "TEXT"), ("session_id", "TEXT"),
    ("turn_index", "INTEGER"), ("environment", "TEXT"), ("workspace_slug", "TEXT"), ("source_type", "TEXT"),
    ("tags", "TEXT"),
)  # fmt: skip
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "traces": (
        ("trace_id", "TEXT PRIMARY KEY"), ("name", "TEXT"), *_SHARED_COLUMNS, ("metadata", "TEXT"),
        ("start_ns", "INTEGER"), ("end_ns", "INTEGER"), ("duration_ms", "REAL"), ("status", "TEXT"),
        ("span_count", "INTEGER"), ("error_count", "INTEGER"), ("input_tokens", "INTEGER"),
        ("output_tokens", "INTEGER"), ("total_tokens", "INTEGER"), ("cache_read_tokens", "INTEGER"),
        ("cache_write_tokens", "INTEGER"), ("reasoning_tokens", "INTEGER"), ("cost_usd", "REAL"),
    ),
    "spans": (
        ("span_id", "TEXT PRIMARY KEY"), ("trace_id", "TEXT NOT NULL"), ("parent_span_id", "TEXT"),
        ("name", "TEXT"), ("kind", "TEXT"), ("status", "TEXT"), ("error", "TEXT"), ("start_ns", "INTEGER"),
        ("end_ns", "INTEGER"), ("duration_ms", "REAL"), *_SHARED_COLUMNS, ("provider", "TEXT"),
        ("operation", "TEXT"), ("request_model", "TEXT"), ("response_model", "TEXT"), ("usage", "TEXT"),
        ("cost_usd", "REAL"), ("ttft_ms", "REAL"), ("finish_reason", "TEXT"), ("tool_calls", "TEXT"),
        ("stream", "INTEGER"), ("input", "TEXT"), ("output", "TEXT"), ("metadata", "TEXT"),
    ),
}  # fmt: skip
# Spans are read by trace (``spans_trace``) or scanned by ``export``; other span indexes cost
# every write and served no query (stores made before 0.1 had three: dropped here).
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS traces_agent ON traces (agent_name, start_ns)",
    "CREATE INDEX IF NOT EXISTS traces_conversation ON traces (conversation_id, start_ns)",
    "CREATE INDEX IF NOT EXISTS traces_session ON traces (session_id, turn_index)",
    "CREATE INDEX IF NOT EXISTS traces_start ON traces (start_ns)",
    "CREATE INDEX IF NOT EXISTS spans_trace ON spans (trace_id, start_ns)",
    "DROP INDEX IF EXISTS spans_agent",
    "DROP INDEX IF EXISTS spans_conversation",
    "DROP INDEX IF EXISTS spans_start",
)
SPAN_COLUMNS = tuple(name for name, _ in TABLES["spans"])
TRACE_COLUMNS = tuple(name for name, _ in TABLES["traces"])
JSON_SPAN_COLUMNS = ("error", "tags", "usage", "tool_calls", "input", "output", "metadata")
USAGE_COLUMNS = {
    "input_tokens": "input",
    "output_tokens": "output",
    "total_tokens": "total",
    "cache_read_tokens": "cache_read",
    "cache_write_tokens": "cache_write",
    "reasoning_tokens": "reasoning",
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
    data: dict[str, Any] = dict.fromkeys(SPAN_COLUMNS)
    data.update(dict(row))
    for column in JSON_SPAN_COLUMNS:
        if data[column] is not None:
            data[column] = json.loads(data[column])
    if data["stream"] is not None:
        data["stream"] = bool(data["stream"])
    return data


def trace_from_row(row: sqlite3.Row) -> dict[str, Any]:
    """A stored trace back in the ``TraceSummary.to_dict()`` form."""
    data: dict[str, Any] = dict.fromkeys(TRACE_COLUMNS)
    data.update(dict(row))
    data["usage"] = {key: data.pop(column) for column, key in USAGE_COLUMNS.items()}
    for column in ("tags", "metadata"):
        if data[column] is not None:
            data[column] = json.loads(data[column])
    return data
