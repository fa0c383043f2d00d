"""The embedded local store: a SQLite file (default ``.staso/traces.db``).

WAL mode and a busy timeout make it safe to write from several threads and processes at
once; each process (and each child after ``fork``) opens its own connection.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from .._core.rollup import TraceSummary
from .._core.span import Span

SCHEMA = """
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY,
    name TEXT,
    agent_name TEXT,
    conversation_id TEXT,
    user_id TEXT,
    session_id TEXT,
    turn_index INTEGER,
    environment TEXT,
    workspace_slug TEXT,
    source_type TEXT,
    tags TEXT,
    metadata TEXT,
    start_ns INTEGER,
    end_ns INTEGER,
    duration_ms REAL,
    status TEXT,
    span_count INTEGER,
    error_count INTEGER,
    input_tokens INTEGER,
    output_tokens INTEGER,
    total_tokens INTEGER,
    cache_read_tokens INTEGER,
    cache_write_tokens INTEGER,
    reasoning_tokens INTEGER,
    cost_usd REAL
);
CREATE INDEX IF NOT EXISTS traces_agent ON traces (agent_name, start_ns);
CREATE INDEX IF NOT EXISTS traces_conversation ON traces (conversation_id, start_ns);
CREATE INDEX IF NOT EXISTS traces_session ON traces (session_id, turn_index);
CREATE INDEX IF NOT EXISTS traces_start ON traces (start_ns);
CREATE TABLE IF NOT EXISTS spans (
    span_id TEXT PRIMARY KEY,
    trace_id TEXT NOT NULL,
    parent_span_id TEXT,
    name TEXT,
    kind TEXT,
    status TEXT,
    error TEXT,
    start_ns INTEGER,
    end_ns INTEGER,
    duration_ms REAL,
    agent_name TEXT,
    conversation_id TEXT,
    user_id TEXT,
    session_id TEXT,
    turn_index INTEGER,
    environment TEXT,
    workspace_slug TEXT,
    source_type TEXT,
    tags TEXT,
    provider TEXT,
    operation TEXT,
    request_model TEXT,
    response_model TEXT,
    usage TEXT,
    cost_usd REAL,
    ttft_ms REAL,
    finish_reason TEXT,
    tool_calls TEXT,
    stream INTEGER,
    input TEXT,
    output TEXT,
    metadata TEXT
);
CREATE INDEX IF NOT EXISTS spans_trace ON spans (trace_id, start_ns);
DROP INDEX IF EXISTS spans_agent;
DROP INDEX IF EXISTS spans_conversation;
DROP INDEX IF EXISTS spans_start;
"""
# Spans are read by trace (``spans_trace``) or scanned by ``export``; other span indexes cost
# every write and served no query (stores made before 0.1 had three: dropped above).

_JSON_SPAN_COLUMNS = ("error", "tags", "usage", "tool_calls", "input", "output", "metadata")
_SPAN_COLUMNS = (
    "span_id", "trace_id", "parent_span_id", "name", "kind", "status", "error", "start_ns",
    "end_ns", "duration_ms", "agent_name", "conversation_id", "user_id", "session_id",
    "turn_index", "environment", "workspace_slug", "source_type", "tags", "provider",
    "operation", "request_model", "response_model", "usage", "cost_usd", "ttft_ms",
    "finish_reason", "tool_calls", "stream", "input", "output", "metadata",
)  # fmt: skip
_TRACE_COLUMNS = (
    "trace_id", "name", "agent_name", "conversation_id", "user_id", "session_id", "turn_index",
    "environment", "workspace_slug", "source_type", "tags", "metadata", "start_ns", "end_ns",
    "duration_ms", "status", "span_count", "error_count", "input_tokens", "output_tokens",
    "total_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd",
)  # fmt: skip
_USAGE_COLUMNS = {
    "input_tokens": "input",
    "output_tokens": "output",
    "total_tokens": "total",
    "cache_read_tokens": "cache_read",
    "cache_write_tokens": "cache_write",
    "reasoning_tokens": "reasoning",
}


_encode = json.JSONEncoder(default=str, ensure_ascii=False).encode  # one encoder, not one per value


def _dumps(value: Any) -> str | None:
    if value is None:
        return None
    if not value and type(value) in (list, dict):  # tags and metadata are mostly empty
        return "[]" if type(value) is list else "{}"
    return _encode(value)


def connect(path: str) -> sqlite3.Connection:
    """Open (and create if needed) the store at ``path`` with the schema in place."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(SCHEMA)
    return conn


class SqliteExporter:
    def __init__(self, path: str = ".staso/traces.db") -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self._conn = connect(self.path)
            self._pid = os.getpid()
        return self._conn

    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None:
        span_rows = [_span_row(span.to_dict()) for span in spans]
        trace_rows = [_trace_row(summary.to_dict()) for summary in traces]
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_upsert("spans", _SPAN_COLUMNS), span_rows)
                conn.executemany(_upsert("traces", _TRACE_COLUMNS), trace_rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def shutdown(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


def _upsert(table: str, columns: Sequence[str]) -> str:
    return (
        f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' * len(columns))})"
    )


def _span_row(data: dict[str, Any]) -> tuple[Any, ...]:
    for column in _JSON_SPAN_COLUMNS:
        data[column] = _dumps(data[column])
    return tuple(data[column] for column in _SPAN_COLUMNS)


def _trace_row(data: dict[str, Any]) -> tuple[Any, ...]:
    usage = data.pop("usage")
    for column, key in _USAGE_COLUMNS.items():
        data[column] = usage.get(key)
    data["tags"] = _dumps(data["tags"])
    data["metadata"] = _dumps(data["metadata"])
    return tuple(data[column] for column in _TRACE_COLUMNS)


def span_from_row(row: sqlite3.Row) -> dict[str, Any]:
    """A stored span back in its exported dict form."""
    data = dict(row)
    for column in _JSON_SPAN_COLUMNS:
        if data[column] is not None:
            data[column] = json.loads(data[column])
    if data["stream"] is not None:
        data["stream"] = bool(data["stream"])
    return data


def trace_from_row(row: sqlite3.Row) -> dict[str, Any]:
    """A stored trace back in the ``TraceSummary.to_dict()`` form."""
    data = dict(row)
    data["usage"] = {key: data.pop(column) for column, key in _USAGE_COLUMNS.items()}
    for column in ("tags", "metadata"):
        if data[column] is not None:
            data[column] = json.loads(data[column])
    return data
