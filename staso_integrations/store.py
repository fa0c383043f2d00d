"""Read side of the local SQLite store: what ``traces list`` / ``traces show`` query.

Opened read-only: reading never creates, migrates or locks the file for writers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .exporters._sqlite_schema import open_read_only, span_from_row, trace_from_row


@dataclass(frozen=True, slots=True)
class TraceFilter:
    agent_name: str | None = None
    conversation_id: str | None = None
    environment: str | None = None
    source_types: tuple[str, ...] = ()
    since_ns: int | None = None
    limit: int = 50

    def clauses(self) -> tuple[list[str], list[Any]]:
        """SQL conditions and their parameters; the columns exist in both tables."""
        clauses, params = [], []
        for column in ("agent_name", "conversation_id", "environment"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.source_types:
            clauses.append(f"source_type IN ({', '.join('?' * len(self.source_types))})")
            params.extend(self.source_types)
        if self.since_ns is not None:
            clauses.append("start_ns >= ?")
            params.append(self.since_ns)
        return clauses, params


def short_trace_id(trace_id: str) -> str:
    """What the listings show of a trace id: its last 16 characters, the random ones."""
    return trace_id[-16:]


def parse_since(text: str, now: datetime | None = None) -> int:
    """``30m``/``2h``/``7d`` ago, or an ISO date/time, as nanoseconds since the epoch.

    Raises:
        ValueError: ``text`` is neither, naming the accepted forms.
    """
    now = now or datetime.now(UTC)
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    if text[:-1].isdigit() and text[-1:] in units:
        moment = now - timedelta(**{units[text[-1]]: int(text[:-1])})
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"--since {text!r}: use a duration like 30m, 2h, 7d or an ISO time like 2026-11-25T09:00"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1e9)


class TraceStore:
    def __init__(self, path: str = ".staso/traces.db") -> None:
        self.path = path
        self._conn = open_read_only(path)

    def close(self) -> None:
        self._conn.close()

    def list_traces(self, where: TraceFilter = TraceFilter()) -> list[dict[str, Any]]:
        """Newest first."""
        clauses, params = where.clauses()
        sql = "SELECT * FROM traces" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        rows = self._conn.execute(sql + " ORDER BY start_ns DESC LIMIT ?", (*params, where.limit)).fetchall()
        return [trace_from_row(row) for row in rows]

    def find_trace_id(self, short: str) -> str:
        """The one trace id starting or ending with ``short``.

        A trace id starts with its time (``new_trace_id``), so the listings show its random
        end (``short_trace_id``); a prefix of it still finds it when long enough.

        Raises:
            LookupError: none or several traces match.
        """
        rows = self._conn.execute(
            "SELECT trace_id FROM traces WHERE trace_id LIKE ?1 OR trace_id LIKE ?2 UNION "
            "SELECT DISTINCT trace_id FROM spans WHERE trace_id LIKE ?1 OR trace_id LIKE ?2 LIMIT 3",
            (short + "%", "%" + short),
        ).fetchall()
        ids = sorted({row[0] for row in rows})
        if len(ids) != 1:
            raise LookupError(
                f"no trace id starts or ends with {short!r}"
                if not ids
                else f"{short!r} matches several traces: {ids}"
            )
        return str(ids[0])

    def get_trace(self, trace_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        row = self._conn.execute("SELECT * FROM traces WHERE trace_id = ?", (trace_id,)).fetchone()
        spans = self._conn.execute(
            "SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ns", (trace_id,)
        ).fetchall()
        return (trace_from_row(row) if row else None), [span_from_row(s) for s in spans]

    def llm_spans(self, where: TraceFilter) -> list[dict[str, Any]]:
        """LLM spans, oldest first, filtered like traces."""
        clauses, params = where.clauses()
        sql = f"SELECT * FROM spans WHERE {' AND '.join(['kind = ?', *clauses])} ORDER BY start_ns"
        return [span_from_row(row) for row in self._conn.execute(sql, ("llm", *params)).fetchall()]
