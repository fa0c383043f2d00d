"""The embedded local store: a SQLite file (default ``.staso/traces.db``), owner-only.

WAL mode makes it safe to write from several threads and processes at once; each process
(and each child after ``fork``) opens its own connection. A store another process holds
locked is waited on for at most ``LOCK_WAIT_S`` per batch: the rows are then held in memory
(bounded) and written with the next batch, and whatever is still held at shutdown, or
overflows the bound, is counted as dropped. One bad row costs only itself.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .._core.drops import count_drop
from .._core.rollup import TraceSummary
from .._core.span import Span
from ._sqlite_schema import (
    JSON_SPAN_COLUMNS,
    SPAN_COLUMNS,
    TRACE_COLUMNS,
    USAGE_COLUMNS,
    is_lock_error,
    open_for_writing,
    span_from_row,
    trace_from_row,
)

__all__ = ["SqliteExporter", "span_from_row", "trace_from_row"]

logger = logging.getLogger("staso_integrations")

LOCK_WAIT_S = 3.0  # per attempt (siblings' writes take ms); the processor thread waits, never the app
EXIT_LOCK_WAIT_S = 0.5  # the last attempt at shutdown on a store already found locked
RETRY_INTERVAL_S = 2.0  # after a failed write, later batches are only held until this passed
MAX_HELD_SPANS = 5_000  # rows kept for a retry while the store is not writable
_DATA_ERRORS = (ValueError, OverflowError, sqlite3.ProgrammingError, sqlite3.InterfaceError)
_abandoned: list[sqlite3.Connection] = []  # a parent's connections: never closed from a child
_Item = TypeVar("_Item")

_encode = json.JSONEncoder(default=str, ensure_ascii=False).encode  # one encoder, not one per value


def _dumps(value: Any) -> str | None:
    if value is None:
        return None
    if not value and type(value) in (list, dict):  # tags and metadata are mostly empty
        return "[]" if type(value) is list else "{}"
    return _encode(value)


class SqliteExporter:
    def __init__(self, path: str = ".staso/traces.db") -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._held_spans: list[tuple[Any, ...]] = []
        self._held_traces: list[tuple[Any, ...]] = []
        self._failing = False
        self._retry_at = 0.0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            if self._conn is not None:
                _abandoned.append(self._conn)
            self._conn = None
            self._conn = open_for_writing(self.path, LOCK_WAIT_S)
            self._pid = os.getpid()
        return self._conn

    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None:
        span_rows = _rows(spans, lambda span: _span_row(span.to_dict()))
        trace_rows = _rows(traces, lambda summary: _trace_row(summary.to_dict()))
        with self._lock:
            self._held_spans += span_rows
            self._held_traces += trace_rows
            if not self._failing or time.monotonic() >= self._retry_at:
                self._write_held()
            overflow = len(self._held_spans) - MAX_HELD_SPANS
            if overflow > 0:
                del self._held_spans[:overflow]
                count_drop("exporter", overflow, f"sqlite store {self.path} not writable")
            del self._held_traces[:-MAX_HELD_SPANS]  # roll-ups are rewritten by later spans

    def _write_held(self) -> None:
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                _insert(conn, "spans", SPAN_COLUMNS, self._held_spans)
                _insert(conn, "traces", TRACE_COLUMNS, self._held_traces)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:  # locked by another process, read-only, corrupt, full
            self._on_failure(exc)
            return
        if self._failing:
            logger.warning("staso: sqlite store %s writable again", self.path)
            self._failing = False
        self._held_spans.clear()
        self._held_traces.clear()

    def _on_failure(self, exc: Exception) -> None:
        self._retry_at = time.monotonic() + RETRY_INTERVAL_S
        if not is_lock_error(exc) and self._conn is not None:  # reopen next time: the file may be replaced
            _close(self._conn)
            self._conn = None
        if not self._failing:
            self._failing = True
            logger.warning(
                "staso: sqlite store %s not writable (%s); holding up to %d spans and retrying",
                self.path, exc, MAX_HELD_SPANS,
            )  # fmt: skip
        logger.debug("staso: sqlite write failed", exc_info=exc)

    def after_fork(self) -> None:
        """In a forked child: fresh lock and connection; the parent writes what it held."""
        self._lock = threading.Lock()
        if self._conn is not None:
            _abandoned.append(self._conn)
        self._conn = None
        self._held_spans, self._held_traces = [], []
        self._failing = False

    def shutdown(self) -> None:
        with self._lock:
            if self._held_spans or self._held_traces:
                if self._failing and self._conn is not None:
                    self._conn.execute(f"PRAGMA busy_timeout = {int(EXIT_LOCK_WAIT_S * 1000)}")
                self._write_held()  # one last bounded attempt
            if self._held_spans:
                count_drop(
                    "exporter", len(self._held_spans), f"sqlite store {self.path} not writable at exit"
                )
            self._held_spans, self._held_traces = [], []
            if self._conn is not None and self._pid == os.getpid():
                _close(self._conn)
            self._conn = None


def _rows(items: Sequence[_Item], row: Callable[[_Item], tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    rows = []
    for item in items:
        try:
            rows.append(row(item))
        except Exception:  # a value the pipeline could not make safe: lose this span only
            count_drop("serialization", 1, "a span could not be encoded for the sqlite store")
            logger.debug("staso: sqlite row failed", exc_info=True)
    return rows


def _insert(
    conn: sqlite3.Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    sql = f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    try:
        conn.executemany(sql, rows)
    except _DATA_ERRORS:  # a row SQLite cannot bind (huge int, odd type): retry one by one
        good = []
        for row in rows:
            try:
                conn.execute(sql, row)
                good.append(row)
            except _DATA_ERRORS:
                if table == "spans":  # a trace row is rewritten by the trace's next span
                    count_drop("serialization", 1, "a span SQLite cannot store")
        rows[:] = good


def _close(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error:
        logger.debug("staso: closing the sqlite store failed", exc_info=True)


def _span_row(data: dict[str, Any]) -> tuple[Any, ...]:
    for column in JSON_SPAN_COLUMNS:
        data[column] = _dumps(data[column])
    return tuple(data[column] for column in SPAN_COLUMNS)


def _trace_row(data: dict[str, Any]) -> tuple[Any, ...]:
    usage = data.pop("usage")
    for column, key in USAGE_COLUMNS.items():
        data[column] = usage.get(key)
    data["tags"] = _dumps(data["tags"])
    data["metadata"] = _dumps(data["metadata"])
    return tuple(data[column] for column in TRACE_COLUMNS)
