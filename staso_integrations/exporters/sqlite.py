"""The embedded local store: a SQLite file (default ``.staso/traces.db``), owner-only.

WAL mode makes it safe to write from several threads and processes at once; each process
(and each child after ``fork``) opens its own connection. A store another process holds
locked is waited on for at most ``LOCK_WAIT_S`` per batch: the rows are then held in memory
(bounded) and written with the next batch, and whatever is still held at shutdown, or
overflows the bound, is counted as dropped. One bad row costs only itself.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .._core.drops import count_drop
from .._core.rollup import TraceSummary
from .._core.schema import json_text
from .._core.span import EMPTY_TRACE_ATTRIBUTES, Span, content_values
from ._sqlite_schema import (
    LONE_TRACES,
    SPAN_COLUMNS,
    TRACE_COLUMNS,
    Column,
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

# A row is held as ``((which optional columns are set, as bits; the literal columns' values),
# the bound values)``: SQLite binds None (and bools) through the adapter protocol, many times the
# cost of a value, so unset columns are left out of the INSERT (a column left out is NULL), and
# every bound value costs a copy and a lock, so the values many rows share are literals.
_Key = tuple[Any, ...]
_Row = tuple[_Key, list[Any]]
COLUMNS = {"spans": SPAN_COLUMNS, "traces": TRACE_COLUMNS}


class SqliteExporter:
    derives_lone_traces = True  # a trace of one span is handed without its summary (``TraceAggregator``)

    def __init__(self, path: str = ".staso/traces.db") -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._held_spans: list[_Row] = []
        self._held_traces: list[_Row] = []
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
        span_rows = _span_rows(spans)
        trace_rows = _trace_rows(traces) if traces else []
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
                last = conn.execute("SELECT max(rowid) FROM spans").fetchone()[0] or 0
                _insert(conn, "spans", self._held_spans)
                _insert(conn, "traces", self._held_traces)
                if self._held_spans:
                    conn.execute(LONE_TRACES, (last,))
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


def _row_failed() -> None:
    """A value the pipeline could not make safe: this span only is lost."""
    count_drop("serialization", 1, "a span could not be encoded for the sqlite store")
    logger.debug("staso: sqlite row failed", exc_info=True)


def _insert(conn: sqlite3.Connection, table: str, rows: list[_Row]) -> None:
    """One ``executemany`` per statement (a batch's rows share a few)."""
    by_statement: dict[_Key, list[list[Any]]] = {}
    lost = False
    for key, values in rows:
        try:
            group = by_statement.get(key)
        except TypeError:  # a literal value that is not text (a status set to a list): this row only
            if table == "spans":  # (its trace's row goes with its root span's)
                _row_failed()
            lost = True
            continue
        if group is None:
            by_statement[key] = [values]
        else:
            group.append(values)
    for key, group in by_statement.items():
        sql = _statement(table, key)
        try:
            conn.executemany(sql, group)
        except _DATA_ERRORS:  # a row SQLite cannot bind (huge int, odd type): retry one by one
            group[:] = [values for values in group if _insert_one(conn, table, sql, values)]
            lost = True
    if lost:  # held for a retry of the batch: without the rows already counted as lost
        rows[:] = [(key, values) for key, group in by_statement.items() for values in group]


def _insert_one(conn: sqlite3.Connection, table: str, sql: str, values: list[Any]) -> bool:
    try:
        conn.execute(sql, values)
    except _DATA_ERRORS:
        if table == "spans":  # a trace row is rewritten by the trace's next span
            count_drop("serialization", 1, "a span SQLite cannot store")
        return False
    return True


@functools.lru_cache(maxsize=512)
def _statement(table: str, key: _Key) -> str:
    """The INSERT of a group of rows.

    Its columns: those always bound, the optional ones set in ``key[0]``, then the literal ones,
    valued ``key[1:]``.
    """
    present, *literals = key
    columns = COLUMNS[table]
    optional = [column for column in columns if not column.always and not column.literal]
    names = [column.name for column in columns if column.always]
    names += [column.name for bit, column in enumerate(optional) if present >> bit & 1]
    values = ["?"] * len(names) + [_literal(value) for value in literals]
    names += [column.name for column in columns if column.literal]
    return f"INSERT OR REPLACE INTO {table} ({', '.join(names)}) VALUES ({', '.join(values)})"


def _literal(value: object) -> str:
    """``value`` (text, an integer or None) as an SQL literal.

    Text holding a NUL, which the SQL text cannot, is written as the hex of its UTF-8.
    """
    if value is None:
        return "NULL"
    if type(value) is int:
        return str(value)
    text = value if type(value) is str else str(value)
    if "\x00" in text:
        return f"CAST(X'{text.encode().hex()}' AS TEXT)"
    return "'" + text.replace("'", "''") + "'"


def _close(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error:
        logger.debug("staso: closing the sqlite store failed", exc_info=True)


def _rows_maker(columns: tuple[Column, ...]) -> Callable[[Sequence[Any]], list[_Row]]:
    """A function giving items' rows (see ``_Row``), skipping (and counting) those that fail.

    Generated (as ``dataclasses`` does) so that a row costs one attribute read and one test per
    optional column, with no call for a column left unset or for the row itself; a loop over the
    columns would cost several times more per span.
    """
    lines = [f"values = [{', '.join(c.value for c in columns if c.always)}]", "present = 0"]
    within = ""
    for bit, column in enumerate(c for c in columns if not c.always and not c.literal):
        if column.within and column.within != within:
            lines.append(f"if {column.within}:")
        within, indent = column.within, "    " if column.within else ""
        lines += [f"{indent}if (value := {column.value}) is not None:", f"{indent}    values.append(value)",
                  f"{indent}    present += {1 << bit}"]  # fmt: skip
    lines.append(f"rows.append(((present, {''.join(c.value + ', ' for c in columns if c.literal)}), values))")
    body = "\n".join(f"            {line}" for line in lines)
    namespace: dict[str, Any] = {
        "NO_ATTRS": EMPTY_TRACE_ATTRIBUTES,
        "json_text": json_text,
        "content_values": content_values,
        "failed": _row_failed,
    }
    exec(
        f"def make_rows(items):\n    rows = []\n    for item in items:\n        try:\n{body}\n"
        "        except Exception:\n            failed()\n    return rows\n",
        namespace,
    )
    make_rows: Callable[[Sequence[Any]], list[_Row]] = namespace["make_rows"]
    return make_rows


_span_rows = _rows_maker(COLUMNS["spans"])
_trace_rows = _rows_maker(COLUMNS["traces"])
