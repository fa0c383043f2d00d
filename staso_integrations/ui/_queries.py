"""Read-only queries over the local SQLite store for the web viewer.

The store is opened with a ``mode=ro`` URI on every request: the viewer can never write to it,
never creates it, and notices when the app creates or replaces it. Failures become a
``StoreUnavailable`` naming what is wrong and what to do, shown as a page instead of a traceback.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exporters.sqlite import span_from_row, trace_from_row
from ..store import parse_since

BUSY_TIMEOUT_MS = 1500
MAX_PAGE = 200
FACET_LIMIT = 100


class StoreUnavailable(Exception):
    """The store cannot be read: ``kind`` is missing, locked, corrupt, not_a_store or unreadable."""

    def __init__(self, kind: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.hint = hint


def open_readonly(path: str) -> sqlite3.Connection:
    """A read-only connection to the store at ``path``.

    Raises:
        StoreUnavailable: there is no file at ``path``, or SQLite cannot open it.
    """
    if not os.path.isfile(path):
        raise StoreUnavailable(
            "missing",
            f"No trace store at {path}",
            "Run your app with staso (the sqlite exporter is the default) or `staso-integrations demo`, "
            "or start the viewer with --db PATH. This page retries on its own.",
        )
    try:
        conn = sqlite3.connect(
            Path(path).resolve().as_uri() + "?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
            check_same_thread=False,
        )  # fmt: skip
    except sqlite3.Error as exc:
        raise classify(path, exc) from None
    conn.row_factory = sqlite3.Row
    return conn


def classify(path: str, exc: sqlite3.Error) -> StoreUnavailable:
    """What a SQLite error on the store means for the person looking at it."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return StoreUnavailable(
            "locked",
            f"The trace store {path} is locked by another process",
            "A writer holds an exclusive lock (WAL stores are never locked by staso itself). "
            "This page retries on its own.",
        )
    if "no such table" in text or "no such column" in text:
        return StoreUnavailable(
            "not_a_store",
            f"{path} is a SQLite database but not a staso trace store ({exc})",
            "Point the viewer at the file your app writes (STASO_SQLITE_PATH, default .staso/traces.db).",
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StoreUnavailable(
            "corrupt",
            f"{path} is not a readable SQLite database ({exc})",
            "The file is damaged or is not a trace store. "
            "Move it aside: the next traced run creates a new one.",
        )
    return StoreUnavailable(
        "unreadable", f"Cannot read the trace store {path} ({exc})", "Check the path and its permissions."
    )


@dataclass(frozen=True, slots=True)
class TraceQuery:
    """The traces page's filters and page, as given in its URL."""

    agent: str | None = None
    status: str | None = None  # "ok": no span failed; "error": some span failed
    conversation: str | None = None
    session: str | None = None
    user: str | None = None
    environment: str | None = None
    source_type: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    text: str | None = None
    offset: int = 0
    limit: int = 50

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> TraceQuery:
        """Raises: ValueError for a bad status, time or number, naming the value."""
        given = {key: value for key, value in params.items() if value != ""}
        status = given.get("status")
        if status not in (None, "ok", "error"):
            raise ValueError(f"status {status!r}: use ok or error")
        return cls(
            agent=given.get("agent"),
            status=status,
            conversation=given.get("conversation"),
            session=given.get("session"),
            user=given.get("user"),
            environment=given.get("environment"),
            source_type=given.get("source_type"),
            since_ns=_moment(given, "since"),
            until_ns=_moment(given, "until"),
            text=given.get("q"),
            offset=max(0, _integer(given, "offset", 0)),
            limit=min(MAX_PAGE, max(1, _integer(given, "limit", 50))),
        )

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("agent_name", self.agent), ("conversation_id", self.conversation), ("session_id", self.session),
            ("user_id", self.user), ("environment", self.environment), ("source_type", self.source_type),
        ):  # fmt: skip
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.status == "ok":
            clauses.append("status = 'ok' AND COALESCE(error_count, 0) = 0")
        elif self.status == "error":
            clauses.append("(status = 'error' OR error_count > 0)")
        if self.since_ns is not None:
            clauses.append("start_ns >= ?")
            params.append(self.since_ns)
        if self.until_ns is not None:
            clauses.append("start_ns <= ?")
            params.append(self.until_ns)
        if self.text:
            # a trace matches on its name, its id, or the name of any of its spans
            clauses.append(
                "(instr(lower(name), lower(?)) > 0 OR trace_id LIKE ? OR trace_id IN "
                "(SELECT trace_id FROM spans WHERE instr(lower(name), lower(?)) > 0))"
            )
            params.extend([self.text, self.text.lower() + "%", self.text])
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _integer(params: Mapping[str, str], key: str, default: int) -> int:
    try:
        return int(params.get(key, default))
    except ValueError:
        raise ValueError(f"{key} {params[key]!r}: use a whole number") from None


def _moment(params: Mapping[str, str], key: str) -> int | None:
    """``30m``/``2h``/``7d`` ago or an ISO time, as ``traces list --since`` reads them."""
    if key not in params:
        return None
    try:
        return parse_since(params[key])
    except ValueError:
        raise ValueError(
            f"{key} {params[key]!r}: use a duration like 2h or an ISO time like 2026-11-25T09:00"
        ) from None


def _decoded(row: sqlite3.Row, decode: Any) -> dict[str, Any]:
    """A row with its JSON columns decoded; a value that does not decode stays as stored text."""
    try:
        return dict(decode(row))
    except ValueError:
        return dict(row)


def list_traces(conn: sqlite3.Connection, query: TraceQuery) -> dict[str, Any]:
    """One page of traces, newest first, with the count of all that match."""
    where, params = query.where()
    total = conn.execute(f"SELECT COUNT(*) FROM traces{where}", params).fetchone()[0]
    rows = conn.execute(
        f"SELECT * FROM traces{where} ORDER BY start_ns DESC, trace_id LIMIT ? OFFSET ?",
        (*params, query.limit, query.offset),
    ).fetchall()
    traces = [_decoded(row, trace_from_row) for row in rows]
    return {"traces": traces, "total": total, "offset": query.offset, "limit": query.limit}


def facets(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """The values each filter can take, most recent first where it matters."""

    def distinct(column: str, recent: bool) -> list[str]:
        order = "MAX(start_ns) DESC" if recent else column
        sql = (
            f"SELECT {column} FROM traces WHERE {column} IS NOT NULL GROUP BY {column} "
            f"ORDER BY {order} LIMIT {FACET_LIMIT}"
        )
        return [row[0] for row in conn.execute(sql)]

    return {
        "agents": distinct("agent_name", recent=False),
        "environments": distinct("environment", recent=False),
        "source_types": distinct("source_type", recent=False),
        "conversations": distinct("conversation_id", recent=True),
        "sessions": distinct("session_id", recent=True),
        "users": distinct("user_id", recent=True),
    }


def get_trace(conn: sqlite3.Connection, trace_id: str) -> dict[str, Any] | None:
    """The trace's roll-up (None while its root is still open) and its spans by start time."""
    row = conn.execute("SELECT * FROM traces WHERE trace_id = ?", (trace_id,)).fetchone()
    spans = conn.execute("SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ns", (trace_id,)).fetchall()
    if row is None and not spans:
        return None
    return {
        "trace": _decoded(row, trace_from_row) if row is not None else None,
        "spans": [_decoded(span, span_from_row) for span in spans],
    }


TURN_COLUMNS = {"session": "session_id", "conversation": "conversation_id"}


def turns(conn: sqlite3.Connection, group: str, group_id: str) -> list[dict[str, Any]]:
    """The traces of a session or conversation in turn order, each with its root span's in and out."""
    column = TURN_COLUMNS[group]
    rows = conn.execute(
        f"SELECT * FROM traces WHERE {column} = ? ORDER BY turn_index IS NULL, turn_index, start_ns",
        (group_id,),
    ).fetchall()
    result = []
    for row in rows:
        trace = _decoded(row, trace_from_row)
        root = conn.execute(
            "SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ns LIMIT 1", (trace["trace_id"],)
        ).fetchone()
        if root is not None:
            span = _decoded(root, span_from_row)
            trace["input"], trace["output"] = span.get("input"), span.get("output")
        result.append(trace)
    return result
