"""The DecimalAI run-trace schema, as the public ``decimalai`` SDK's models define it.

Written from reading ``decimalai`` 0.26.0 (``schema/trace.py``, ``schema/common.py``): the same
field names, types and enum values. Stricter than the SDK where a test wants to catch our
mistakes: unknown fields are refused (a misspelled name would otherwise vanish) and
``source_type`` is the platform's allowlist (the SDK's own enum is a narrower, older list).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, TypeAdapter

Status = Literal["success", "error", "partial", "running"]
SpanType = Literal["agent", "llm", "tool", "retrieval", "router", "judge", "handoff", "guardrail", "memory",
                   "planning", "other"]  # fmt: skip
CallRole = Literal["planner", "responder", "subagent", "judge", "router", "other"]
FinishReason = Literal["stop", "tool_calls", "length", "error"]
SourceType = Literal["production", "sandbox", "test", "eval_replay", "evaluation", "sdk", "manual", "synthetic",
                     "development", "sample", "demo"]  # fmt: skip


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class ToolCallRecord(_Model):
    id: UUID
    tool_name: str
    tool_version: str | None = None
    status: Status = "success"
    args: dict[str, Any] = {}
    result: Any | None = None
    latency_ms: int | None = None


class LlmCallRecord(_Model):
    id: UUID
    span_id: UUID | None = None
    agent_name: str | None = None
    call_role: CallRole = "other"
    provider: str | None = None
    model_name: str | None = None
    temperature: float | None = None
    max_output_tokens: int | None = None
    rendered_input: list[dict[str, Any]] | None = None
    output: dict[str, Any] | None = None
    tool_calls: list[ToolCallRecord] = []
    finish_reason: FinishReason | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    latency_ms: int | None = None
    cost_usd: float | None = None
    streaming: bool = False
    streaming_token_count: int | None = None
    content_type: str = "text"
    response_format: dict[str, Any] | None = None
    status: Status = "success"
    started_at: datetime | None = None
    ended_at: datetime | None = None


class TraceSpan(_Model):
    id: UUID
    parent_span_id: UUID | None = None
    span_type: SpanType = "other"
    name: str = ""
    status: Status = "success"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    input_preview: str | None = None
    output_preview: str | None = None
    attributes: dict[str, Any] = {}


class RunTrace(_Model):
    id: UUID
    project: str | None = None
    manifest_id: str | None = None
    session_id: str | None = None
    agent_name: str | None = None
    status: Status = "success"
    source_type: SourceType = "production"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    user_input_preview: str | None = None
    final_output_preview: str | None = None
    final_output: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    parent_trace_id: str | None = None
    routing_id: str | None = None
    spans: list[TraceSpan] = []
    llm_calls: list[LlmCallRecord] = []
    eval_scores: list[dict[str, Any]] = []
    active_skills: list[dict[str, Any]] = []
    session_metadata: dict[str, Any] = {}
    turn_index: int | None = None


_BATCH = TypeAdapter(list[RunTrace])


def validate_batch(body: bytes) -> list[dict[str, Any]]:
    """``POST /api/v1/traces/batch`` takes a JSON list of run traces; raise on any schema error."""
    traces = _BATCH.validate_json(body)
    assert traces, "an empty batch"
    for trace in traces:
        ids = {span.id for span in trace.spans}
        assert all(span.parent_span_id is None or span.parent_span_id in ids for span in trace.spans), (
            "a span's parent is not in its run trace"
        )
        assert all(call.span_id in ids for call in trace.llm_calls), "an LLM call's span is not in its trace"
        if trace.final_output_preview is not None:
            assert (trace.final_output or "").startswith(trace.final_output_preview)
    return json.loads(body)
