"""The Staso ingest body: ``{"traces": [{trace fields..., "spans": [...]}]}`` (DESIGN.md section 3).

Each span carries the fields the public ``staso`` SDK sends, encoded as that SDK encodes them
(strings ``""`` and token counts ``0`` when unknown, ``input``/``output``/``attributes`` as JSON
strings, ``usage_available`` ``False`` on a model call without usage, ``None`` elsewhere), and
ours beside them, ``None`` when unknown (``usage`` with cache and reasoning tokens, cost, TTFT...).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .._core.rollup import TraceSummary
from .._core.schema import TRACE_LEVEL_NAMES
from .._core.span import Span

# The namespace the staso SDK derives ``agent_id`` from: ``uuid5(namespace, agent_name)``.
AGENT_ID_NAMESPACE = uuid.UUID("a1b2c3d4-e5f6-7890-abcd-ef1234567890")
MODEL_CALL_KINDS = ("llm", "embedding")

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
    del out["metadata"]  # sent as ``attributes``
    out["start_time"] = iso_time(span.start_ns)
    out["end_time"] = iso_time(span.end_ns)
    out.update(_sdk_fields(span))
    if span.is_root and span.parent_span_id is not None:
        # Our root joined an OpenTelemetry trace: its parent lives in the app's OTel backend,
        # not in Staso, so the server sees a root and keeps the link for reference.
        out["parent_span_id"] = None
        out["otel_parent_span_id"] = span.parent_span_id
    return out


def _sdk_fields(span: Span) -> dict[str, Any]:
    usage = span.usage
    counted = usage is not None and (usage.input is not None or usage.output is not None)
    totals = usage.to_dict() if usage is not None else {}
    agent_name = span.agent_name or ""
    attrs = span.trace_attrs
    return {
        "timestamp": iso_time(span.start_ns),
        "duration_ms": round(span.duration_ms or 0.0, 2),
        "model": span.response_model or span.request_model or "",
        "provider": span.provider or "",
        "requested_model": span.request_model or "",
        "usage_available": True if counted else (False if span.kind in MODEL_CALL_KINDS else None),
        "input_tokens": totals.get("input") or 0,
        "output_tokens": totals.get("output") or 0,
        "total_tokens": totals.get("total") or 0,
        "input": _json_text(span.input),
        "output": _json_text(span.output),
        "attributes": _json_text(span.metadata) or "{}",
        "error_message": span.error.get("message") if span.error else None,
        "session_id": attrs.session_id or "",
        "agent_name": agent_name,
        "agent_id": agent_id(agent_name) if agent_name else "",
        "user_id": attrs.user_id or "",
    }


def agent_id(agent_name: str) -> str:
    """The id the staso SDK gives an agent: the same name gives the same id in both."""
    return str(uuid.uuid5(AGENT_ID_NAMESPACE, agent_name))


def _json_text(value: Any) -> str:
    # The SDK sends "" for an input it did not capture; an empty dict or list counts as none.
    if value is None or value == {} or value == []:
        return ""
    return json.dumps(value, default=str, separators=(",", ":"))


def _trace(trace_id: str, spans: list[dict[str, Any]], summary: TraceSummary | None) -> dict[str, Any]:
    if summary is not None:
        fields = summary.to_dict()
        start_ns = summary.start_ns
    else:
        fields = next((s for s in spans if s["parent_span_id"] is None), spans[0])
        start_ns = min(s["start_ns"] for s in spans)
    trace: dict[str, Any] = {"trace_id": trace_id, "timestamp": iso_time(start_ns)}
    # Span dicts carry the SDK's "" for an unknown name or id; the trace keeps None for those.
    trace.update((key, fields.get(key) if fields.get(key) != "" else None) for key in TRACE_LEVEL_NAMES)
    trace["workspace_slug"] = trace["workspace_slug"] or ""  # the SDK's envelope: "" when unset
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
