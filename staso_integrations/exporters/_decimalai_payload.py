"""The DecimalAI ingest body: a JSON list of run traces (``POST /api/v1/traces/batch``).

One run trace per trace, with its spans and one LLM call record per ``llm`` span, in the field
names and types of the public ``decimalai`` SDK's ``RunTrace``/``TraceSpan``/``LlmCallRecord``.
Ids there are UUIDs: a trace id is one already (32 hex digits); a span's UUID is its 16 hex digits
followed by the last 16 of its trace id, so a parent link resolves without a lookup table.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from .._core.config import SOURCE_TYPES
from .._core.rollup import TraceSummary
from .._core.span import Span
from ._staso_payload import iso_time

SPAN_TYPES = {"llm": "llm", "tool": "tool", "retriever": "retrieval", "agent": "agent"}  # else "other"
STATUSES = {"ok": "success", "error": "error"}
FINISH_REASONS = {
    "stop": "stop", "end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop",
    "tool_calls": "tool_calls", "tool_use": "tool_calls", "function_call": "tool_calls",
    "length": "length", "max_tokens": "length", "error": "error",
}  # fmt: skip
# Providers whose prompt-token count leaves the cached part out; we count it in (Usage.input).
CACHE_EXCLUDED_FROM_INPUT = ("anthropic",)
MAX_TOKEN_SETTINGS = ("max_tokens", "max_output_tokens", "max_completion_tokens")
SPAN_PREVIEW_CHARS = 500
TRACE_PREVIEW_CHARS = 200  # the SDK's ``*_preview`` of a run trace is the first 200 characters
FINAL_OUTPUT_MAX_CHARS = 20_000
_CALL_NAMESPACE = uuid.UUID("5b0e7c1e-2a4f-4c4d-9a51-6f1d3e2b8c70")  # ids of LLM call and tool call records


def encode_run_traces(spans: Sequence[Span], traces: Sequence[TraceSummary]) -> bytes:
    return json.dumps(build_run_traces(spans, traces), default=str, separators=(",", ":")).encode()


def build_run_traces(spans: Sequence[Span], traces: Sequence[TraceSummary]) -> list[dict[str, Any]]:
    """Run traces for ``spans`` grouped by trace; one with a summary is complete, one without partial."""
    summaries = {summary.trace_id: summary for summary in traces}
    grouped: dict[str, list[Span]] = {trace_id: [] for trace_id in summaries}
    for span in spans:
        grouped.setdefault(span.trace_id, []).append(span)
    return [_run_trace(trace_id, members, summaries.get(trace_id)) for trace_id, members in grouped.items()]


def _run_trace(trace_id: str, spans: list[Span], summary: TraceSummary | None) -> dict[str, Any]:
    root = next((span for span in spans if span.is_root), spans[0] if spans else None)
    fields = summary.to_dict() if summary is not None else (root.to_dict() if root is not None else {})
    start_ns = summary.start_ns if summary is not None else min((s.start_ns for s in spans), default=None)
    end_ns = summary.end_ns if summary is not None else max((s.end_ns or 0 for s in spans), default=None)
    source_type = fields.get("source_type")
    final_output = _text(root.output, FINAL_OUTPUT_MAX_CHARS) if root is not None else None
    error = root.error if root is not None and root.error else {}
    present = {span.span_id for span in spans}
    return {
        "id": str(uuid.UUID(hex=trace_id)),
        "project": fields.get("workspace_slug"),
        "session_id": fields.get("session_id"),
        "agent_name": fields.get("agent_name"),
        "status": STATUSES.get(fields.get("status", "ok"), "error") if summary is not None else "partial",
        "source_type": source_type if source_type in SOURCE_TYPES else "sdk",
        "started_at": iso_time(start_ns),
        "ended_at": iso_time(end_ns or None),
        "user_input_preview": _text(root.input, TRACE_PREVIEW_CHARS) if root is not None else None,
        "final_output_preview": final_output[:TRACE_PREVIEW_CHARS] if final_output is not None else None,
        "final_output": final_output,
        "error_code": error.get("type"),
        "error_message": error.get("message"),
        "spans": [_span(span, present) for span in spans],
        "llm_calls": [_llm_call(span) for span in spans if span.kind == "llm"],
        "session_metadata": {
            key: fields[key]
            for key in ("conversation_id", "user_id", "environment", "tags", "metadata", "cost_usd")
            if fields.get(key) not in (None, [], {})
        },
        "turn_index": fields.get("turn_index"),
    }


def _span(span: Span, present: set[str]) -> dict[str, Any]:
    """A span whose parent is not in this run trace (a partial one) is sent as a top-level span."""
    attributes: dict[str, Any] = {"kind": span.kind, "span_id": span.span_id}
    linked = not span.is_root and span.parent_span_id in present
    if not span.is_root and not linked:
        attributes["parent_span_id"] = span.parent_span_id
    for key in ("metadata", "error", "ttft_ms", "cost_usd", "turn_index"):
        value = getattr(span, key)
        if value not in (None, {}):
            attributes[key] = value
    return {
        "id": span_uuid(span.trace_id, span.span_id),
        "parent_span_id": span_uuid(span.trace_id, span.parent_span_id) if linked else None,
        "span_type": SPAN_TYPES.get(span.kind, "other"),
        "name": span.name,
        "status": STATUSES.get(span.status, "error"),
        "started_at": iso_time(span.start_ns),
        "ended_at": iso_time(span.end_ns),
        "input_preview": _text(span.input, SPAN_PREVIEW_CHARS),
        "output_preview": _text(span.output, SPAN_PREVIEW_CHARS),
        "attributes": attributes,
    }


def _llm_call(span: Span) -> dict[str, Any]:
    usage = span.usage
    settings = span.metadata
    temperature = settings.get("temperature")
    max_tokens = next(
        (settings[key] for key in MAX_TOKEN_SETTINGS if isinstance(settings.get(key), int)), None
    )
    response_format = settings.get("response_format")
    return {
        "id": str(uuid.uuid5(_CALL_NAMESPACE, f"{span.trace_id}:{span.span_id}")),
        "span_id": span_uuid(span.trace_id, span.span_id),
        "agent_name": span.agent_name,
        "provider": span.provider,
        "model_name": span.response_model or span.request_model,
        "temperature": temperature if isinstance(temperature, (int, float)) else None,
        "max_output_tokens": max_tokens,
        "rendered_input": _messages(span.input),
        "output": _output(span.output),
        "tool_calls": [_tool_call(span, index, call) for index, call in enumerate(span.tool_calls or ())],
        "finish_reason": FINISH_REASONS.get(span.finish_reason or ""),
        "input_tokens": _platform_input_tokens(span),
        "output_tokens": usage.output if usage is not None else None,
        # None (not reported) and 0 (reported: a cache miss) are different facts; both go as they are.
        "cache_read_tokens": usage.cache_read if usage is not None else None,
        "cache_creation_tokens": usage.cache_write if usage is not None else None,
        "latency_ms": round(span.duration_ms) if span.duration_ms is not None else None,
        "cost_usd": span.cost_usd,
        "streaming": bool(span.stream),
        "response_format": response_format if isinstance(response_format, dict) else None,
        "status": STATUSES.get(span.status, "error"),
        "started_at": iso_time(span.start_ns),
        "ended_at": iso_time(span.end_ns),
    }


def span_uuid(trace_id: str, span_id: str | None) -> str:
    return str(uuid.UUID(hex=f"{span_id}{trace_id[16:]}"))


def _platform_input_tokens(span: Span) -> int | None:
    """The platform reads ``input_tokens`` as the provider reports it: Anthropic's leaves the cache out."""
    usage = span.usage
    if usage is None or usage.input is None:
        return None
    if span.provider in CACHE_EXCLUDED_FROM_INPUT:
        return max(0, usage.input - (usage.cache_read or 0) - (usage.cache_write or 0))
    return usage.input


def _messages(value: Any) -> list[dict[str, Any]] | None:
    """The request as a list of messages (system first), whatever shape the integration recorded."""
    if value is None:
        return None
    if isinstance(value, dict) and "messages" in value:
        system = value.get("system")
        head = [{"role": "system", "content": system}] if system is not None else []
        return head + (_messages(value["messages"]) or [])
    if isinstance(value, list):
        return [item if isinstance(item, dict) else {"role": "user", "content": item} for item in value]
    return [value if isinstance(value, dict) else {"role": "user", "content": value}]


def _output(value: Any) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {"choices": value}
    return {"role": "assistant", "content": value}


def _tool_call(span: Span, index: int, call: dict[str, Any]) -> dict[str, Any]:
    arguments = call.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            arguments = {"raw": arguments}
    if arguments is not None and not isinstance(arguments, dict):
        arguments = {"value": arguments}
    return {
        "id": str(uuid.uuid5(_CALL_NAMESPACE, f"{span.trace_id}:{span.span_id}:{call.get('id') or index}")),
        "tool_name": call.get("name") or "unknown",
        "args": arguments or {},
    }


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text[:limit]
