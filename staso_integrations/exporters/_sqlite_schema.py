"""The local store's schema, the two ways to open it (write, read-only) and its rows read back.

The schema version lives in ``PRAGMA user_version``. A store made by an older release is brought
up to date when a writer opens it; readers never change the file and read
either layout.

Schema 3 keeps what the CLI and the viewer query, filter or sort by as real columns and the
rest of a span cheap to write: its free-form content is one JSON array (``CONTENT_FIELDS``
order, the text the pipeline already encoded) and its token counts are integer columns.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

from .._core.schema import SPAN_FIELD_NAMES, SPAN_FIELDS, TRACE_FIELDS, TRACE_USAGE_KEYS
from .._core.span import CONTENT_FIELDS
from ._owner_only import create_private, make_private_dirs

logger = logging.getLogger("staso_integrations")

SCHEMA_VERSION = 3
# Creating the file closes a descriptor of it: no connection of this process may open it meanwhile.
_creating = threading.Lock()


def _reset_creating_lock() -> None:  # a forked child: the parent's thread may have held it
    global _creating
    _creating = threading.Lock()


os.register_at_fork(after_in_child=_reset_creating_lock)


@dataclass(frozen=True, slots=True)
class Column:
    """One stored column.

    Attributes:
        name: the column's name.
        sql_type: its declared type.
        value: a Python expression of the stored value, over ``item`` (the span or roll-up);
            the names it uses besides ``item`` are set up by the row maker.
        always: set on every item: bound as it is, where an optional column is left out of the
            INSERT when its value is None (SQLite binds None slowly).
        within: a condition (setting the names ``value`` uses) under which the column may be set.
        literal: one of a few values shared by many rows (a kind, a status, the process's
            environment): written into the INSERT as a literal, rows grouped by it, not bound.
    """

    name: str
    sql_type: str
    value: str
    always: bool = False
    within: str = ""
    literal: bool = False


_SQL_TYPES = {"text": "TEXT", "integer": "INTEGER", "real": "REAL", "bool": "INTEGER"}
_ALWAYS = frozenset({"trace_id", "span_id", "name", "start_ns", "end_ns", "span_count", "error_count"})
_LITERAL = frozenset({"kind", "status", "environment", "workspace_slug", "source_type", "provider",
                      "operation", "request_model", "response_model", "finish_reason", "stream"})  # fmt: skip
_DERIVED = "duration_ms"  # not stored: read back from the start and end, as the span computes it
# Columns read from an object that is mostly absent (no usage, no ``conversation()``) are only
# looked at when it is there.
_HAS_USAGE = "(u := item.usage) is not None"
_HAS_ATTRS = "(attrs := item.trace_attrs) is not NO_ATTRS"
# A span's usage, one column per count; the total as ``Usage.to_dict`` gives it. ``usage_empty``
# tells a usage of no counts from no usage at all.
USAGE_COLUMNS: dict[str, str] = dict(TRACE_USAGE_KEYS)
_TOTAL = "(t if (t := u.total) is not None or u.input is None or u.output is None else u.input + u.output)"
_SPAN_USAGE = (
    *(
        Column(name, "INTEGER", _TOTAL if key == "total" else f"u.{key}", within=_HAS_USAGE)
        for name, key in USAGE_COLUMNS.items()
    ),
    Column(
        "usage_empty",
        "INTEGER",
        "(1 if {} else None)".format(" and ".join(f"u.{key} is None" for key in USAGE_COLUMNS.values())),
        within=_HAS_USAGE,
    ),
)


def _field_column(name: str, kind: str, source: str) -> Column:
    within, value = "", f"item.{source}"
    if source.startswith("trace_attrs."):
        within, value = _HAS_ATTRS, f"attrs.{source.removeprefix('trace_attrs.')}"
    if kind == "bool":
        value = f"(None if (flag := {value}) is None else 1 if flag else 0)"
    if name in _LITERAL:
        return Column(name, _SQL_TYPES[kind], value, literal=True)
    return Column(name, _SQL_TYPES[kind], value, name in _ALWAYS, within)


SPAN_COLUMNS: tuple[Column, ...] = (
    *(
        _field_column(f.name, f.kind, f.source)
        for f in SPAN_FIELDS
        if f.kind != "json" and f.name not in (_DERIVED, "stream")
    ),
    *_SPAN_USAGE,
    _field_column("stream", "bool", "stream"),
    Column("content", "TEXT", "(item.encoded_content or json_text(content_values(item)))", always=True),
)
TRACE_COLUMNS: tuple[Column, ...] = tuple(
    Column(
        "tags", "TEXT", "((json_text(tags) if tags else '[]') if (tags := item.tags) is not None else None)"
    )
    if f.name == "tags"
    else Column("metadata", "TEXT", "(json_text(meta) if (meta := item.metadata) is not None else None)")
    if f.name == "metadata"
    else _field_column(f.name, f.kind, f.source)
    for f in TRACE_FIELDS
    if f.name != _DERIVED
)
# A trace of one span, as ``TraceSummary.of_root`` sums it up, derived in SQL from the rows of
# root spans written since rowid ``?`` that have no trace tags or metadata (their content ends
# ``,[],null]``, its two last fields) and whose trace has no row yet: a root handed without its
# roll-up is a trace of that span alone (``TraceAggregator(lone_summaries=False)``); a given
# roll-up is written first, and one of a later span replaces the derived row.
_LONE_VALUES = {
    "tags": "'[]'",
    "metadata": "NULL",
    "span_count": "1",
    "error_count": "status = 'error'",
    "total_tokens": "COALESCE(total_tokens, input_tokens)",  # the span's is NULL when its output is
}
LONE_TRACES = (
    "INSERT OR IGNORE INTO traces ({}) SELECT {} FROM spans"
    " WHERE rowid > ? AND parent_span_id IS NULL"
    " AND substr(CAST(content AS BLOB), -9) = CAST(',[],null]' AS BLOB)"
).format(
    ", ".join(column.name for column in TRACE_COLUMNS),
    ", ".join(_LONE_VALUES.get(column.name, column.name) for column in TRACE_COLUMNS),
)
# A span is keyed by (trace, span): the key's index serves the reads of a trace's spans, and a
# span sent again replaces its row. A trace's roll-up is rewritten by each batch of its spans.
# (Measured: clustering either table as WITHOUT ROWID costs as much per row as this layout.)
TABLES: dict[str, str] = {
    "spans": "CREATE TABLE spans ({}, UNIQUE (trace_id, span_id))".format(
        ", ".join(
            f"{c.name} {c.sql_type}" + (" NOT NULL" if c.name in ("trace_id", "span_id") else "")
            for c in SPAN_COLUMNS
        )
    ),
    "traces": "CREATE TABLE traces ({})".format(
        ", ".join(
            f"{c.name} {c.sql_type}" + (" PRIMARY KEY" if c.name == "trace_id" else "") for c in TRACE_COLUMNS
        )
    ),
}
# Only the indexes the CLI and UI query by. Traces are listed by time (``traces_start``) and
# filtered by agent, conversation or session: those indexes are partial, so a trace without
# the value (most apps set no conversation) costs no index write. Spans are read by trace (their
# key) or scanned by ``export``.
INDEXES = (
    "CREATE INDEX traces_agent ON traces (agent_name, start_ns) WHERE agent_name IS NOT NULL",
    "CREATE INDEX traces_conversation ON traces (conversation_id, start_ns)"
    " WHERE conversation_id IS NOT NULL",
    "CREATE INDEX traces_session ON traces (session_id, turn_index) WHERE session_id IS NOT NULL",
    "CREATE INDEX traces_start ON traces (start_ns)",
)


def open_for_writing(path: str, lock_wait_s: float) -> sqlite3.Connection:
    """Open (creating owner-only if needed) and migrate the store at ``path``.

    ``lock_wait_s`` bounds every wait on another process's lock (SQLite's busy timeout).
    """
    make_private_dirs(os.path.dirname(os.path.abspath(path)))
    with _creating:
        create_private(path)  # SQLite gives its -wal/-shm files this file's mode
        conn = sqlite3.connect(  # statements: one per set of literal values (``sqlite._statement``)
            path, timeout=lock_wait_s, check_same_thread=False, isolation_level=None, cached_statements=512
        )
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


# Indexes of older releases: the trace indexes were full before schema 2, spans had their own.
_OLD_INDEXES = ("traces_agent", "traces_conversation", "traces_session", "traces_start", "spans_trace",
                "spans_agent", "spans_conversation", "spans_start")  # fmt: skip


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    """Rebuild each table whose definition differs from the current one, in one transaction.

    One process migrates, the others wait for its lock and then find it done. A table is
    rebuilt by one ``INSERT ... SELECT``, in SQLite, so the rows never pass through Python: a
    schema 1-2 span's JSON columns are joined into the content array as the text they hold,
    and its usage object split into the count columns.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            conn.execute("ROLLBACK")
            return
        defined = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
        rebuilt = []
        for table, create in TABLES.items():
            if table not in defined:
                conn.execute(create)
            elif defined[table] != create:
                _rebuild(conn, table, create)
                rebuilt.append(table)
        for index in _OLD_INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {index}")
        for statement in INDEXES:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    if rebuilt:
        logger.info(
            "staso: trace store %s migrated to schema %d (%s)", path, SCHEMA_VERSION, ", ".join(rebuilt)
        )


def _rebuild(conn: sqlite3.Connection, table: str, create: str) -> None:
    old = f"{table}_before_v{SCHEMA_VERSION}"
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    conn.execute(f"ALTER TABLE {table} RENAME TO {old}")
    conn.execute(create)
    columns = SPAN_COLUMNS if table == "spans" else TRACE_COLUMNS
    values = [_old_value(column.name, present) for column in columns]
    names = ", ".join(column.name for column in columns)
    conn.execute(f"INSERT OR REPLACE INTO {table} ({names}) SELECT {', '.join(values)} FROM {old}")
    conn.execute(f"DROP TABLE {old}")


def _old_value(column: str, present: set[str]) -> str:
    """The SQL expression of ``column`` over a row of the older table (NULL where it had none)."""
    if column == "content":  # the old JSON columns' text, spliced into one array
        parts = [f"COALESCE({name}, 'null')" if name in present else "'null'" for name in CONTENT_FIELDS[:-1]]
        return "'[' || " + " || ',' || ".join(parts) + " || ',null]'"
    usage = "usage" in present and (column in USAGE_COLUMNS or column == "usage_empty")
    if usage and column == "usage_empty":
        counts = " AND ".join(f"json_extract(usage, '$.{key}') IS NULL" for key in USAGE_COLUMNS.values())
        return f"CASE WHEN json_valid(usage) AND {counts} THEN 1 END"
    if usage:
        return f"CASE WHEN json_valid(usage) THEN json_extract(usage, '$.{USAGE_COLUMNS[column]}') END"
    return column if column in present else "NULL"


def is_lock_error(exc: BaseException) -> bool:
    """Another connection holds the lock SQLite waited for (``database is locked`` / busy)."""
    text = str(exc)
    return "locked" in text or "busy" in text


_STORED_CONTENT = CONTENT_FIELDS[:-1]  # a trace's metadata is its roll-up's, not a span field
_SPAN_JSON_COLUMNS = tuple(field.name for field in SPAN_FIELDS if field.kind == "json")
_TRACE_NAMES = tuple(field.name for field in TRACE_FIELDS)
_TRACE_JSON_COLUMNS = ("tags", "metadata")


def span_from_row(row: sqlite3.Row) -> dict[str, Any]:
    """A stored span back in its exported dict form (columns an old store lacks are None)."""
    stored = dict(row)
    content = stored.pop("content", stored)
    if content is stored:  # a schema 1-2 store not migrated yet (read-only): JSON per column
        return _decoded(SPAN_FIELD_NAMES, _SPAN_JSON_COLUMNS, stored)
    counts = [stored.pop(name) for name in USAGE_COLUMNS]
    empty = stored.pop("usage_empty")
    data = _decoded(SPAN_FIELD_NAMES, (), stored)
    if content is not None:
        data.update(zip(_STORED_CONTENT, json.loads(content), strict=False))  # not the last
    if empty or counts.count(None) != len(counts):
        data["usage"] = dict(zip(USAGE_COLUMNS.values(), counts, strict=True))
    return data


def trace_from_row(row: sqlite3.Row) -> dict[str, Any]:
    """A stored trace back in the ``TraceSummary.to_dict()`` form."""
    data = _decoded(_TRACE_NAMES, _TRACE_JSON_COLUMNS, dict(row))
    data["usage"] = {key: data.pop(column) for column, key in TRACE_USAGE_KEYS.items()}
    return data


def _decoded(names: tuple[str, ...], json_columns: tuple[str, ...], stored: dict[str, Any]) -> dict[str, Any]:
    """``stored`` columns in the exported form: every name in order, JSON decoded, the duration derived."""
    data: dict[str, Any] = dict.fromkeys(names)
    data.update(stored)
    for column in json_columns:
        value = data[column]
        if value is not None:
            data[column] = json.loads(value)
    if data.get("stream") is not None:
        data["stream"] = bool(data["stream"])
    if (
        _DERIVED not in stored
        and (end := data["end_ns"]) is not None
        and (begin := data["start_ns"]) is not None
    ):
        data[_DERIVED] = (end - begin) / 1e6
    return data
