"""The Staso ingest body: ``{"traces": [{trace fields..., "spans": [...]}]}`` (DESIGN.md section 3)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .._core.rollup import TraceSummary
from .._core.span import Span

# Trace-level fields every span carries; a trace takes them from its root (or first) span.
_TRACE_FIELDS = (
    "environment",
    "workspace_slug",
    "agent_name",
    "conversation_id",
    "user_id",
    "session_id",
    "turn_index",
    "source_type",
    "tags",
)
# Roll-up fields, present when the trace's root ended in this batch.
_SUMMARY_FIELDS = (
    "name",
    "status",
    "duration_ms",
    "span_count",
    "error_count",
    "usage",
    "cost_usd",
    "metadata",
)


def encode_batch(spans: Sequence[Span], traces: Sequence[TraceSummary]) -> bytes:
    return json.dumps(build_payload(spans, traces), default=str, separators=(",", ":")).encode()


def build_payload(spans: Sequence[Span], traces: Sequence[TraceSummary]) -> dict[str, Any]:
    """Spans grouped by trace. A trace's spans may come over several batches; the roll-up once."""
    summaries = {summary.trace_id: summary for summary in traces}
    grouped: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        grouped.setdefault(span.trace_id, []).append(_span(span))
    for trace_id in summaries:
        grouped.setdefault(trace_id, [])
    return {
        "traces": [
            _trace(trace_id, span_dicts, summaries.get(trace_id)) for trace_id, span_dicts in grouped.items()
        ]
    }


def _span(span: Span) -> dict[str, Any]:
    out = span.to_dict()
    out["start_time"] = iso_time(span.start_ns)
    out["end_time"] = iso_time(span.end_ns)
    if span.is_root and span.parent_span_id is not None:
        # Our root joined an OpenTelemetry trace: its parent lives in the app's OTel backend,
        # not in Staso, so the server sees a root and keeps the link for reference.
        out["parent_span_id"] = None
        out["otel_parent_span_id"] = span.parent_span_id
    return out


def _trace(trace_id: str, spans: list[dict[str, Any]], summary: TraceSummary | None) -> dict[str, Any]:
    if summary is not None:
        fields = summary.to_dict()
        start_ns = summary.start_ns
    else:
        fields = next((s for s in spans if s["parent_span_id"] is None), spans[0])
        start_ns = min(s["start_ns"] for s in spans)
    trace: dict[str, Any] = {"trace_id": trace_id, "timestamp": iso_time(start_ns)}
    trace.update((key, fields.get(key)) for key in _TRACE_FIELDS)
    if summary is not None:
        trace.update((key, fields[key]) for key in _SUMMARY_FIELDS)
        trace["end_timestamp"] = iso_time(summary.end_ns)
    trace["complete"] = summary is not None
    trace["spans"] = spans
    return trace


def iso_time(ns: int | None) -> str | None:
    if ns is None:
        return None
    moment = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
