"""Our span as OpenTelemetry attributes: ``staso.*`` fields, ``user.id``/``session.id``, and
the conventions ``otlp_conventions`` asks for: OpenTelemetry GenAI (``gen_ai.*``, content in
``_otel_genai``), OpenInference (``_otel_openinference``), or both.

Pure data, no OpenTelemetry import, so the mapping is testable without the SDK.
"""

from __future__ import annotations

import json
from typing import Any

from .._core.span import Span
from ._otel_genai import genai_content
from ._otel_openinference import openinference_attributes

GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_SYSTEM = "gen_ai.system"  # the name before gen_ai.provider.name; older backends read it
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"  # seconds
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
ERROR_TYPE = "error.type"
USER_ID = "user.id"
SESSION_ID = "session.id"

STASO_KIND = "staso.kind"
STASO_OPERATION = "staso.operation"
STASO_COST_USD = "staso.cost_usd"
STASO_ENVIRONMENT = "staso.environment"
STASO_WORKSPACE_SLUG = "staso.workspace_slug"
STASO_SOURCE_TYPE = "staso.source_type"
STASO_SESSION_ID = "staso.session_id"
STASO_TURN_INDEX = "staso.turn_index"
STASO_USER_ID = "staso.user_id"
STASO_TAGS = "staso.tags"
STASO_STREAM = "staso.stream"
STASO_USAGE_TOTAL_TOKENS = "staso.usage.total_tokens"
STASO_TTFT_MS = "staso.ttft_ms"
STASO_INPUT = "staso.input"  # JSON
STASO_OUTPUT = "staso.output"  # JSON
STASO_METADATA = "staso.metadata"  # JSON
STASO_TOOL_CALLS = "staso.tool_calls"  # JSON

# Our operation names -> gen_ai.operation.name well-known values.
_OPERATIONS = {
    "chat": "chat",
    "responses": "chat",
    "messages": "chat",
    "completion": "text_completion",
    "embeddings": "embeddings",
}
# Our provider names -> gen_ai.provider.name well-known values, where they differ.
_PROVIDERS = {
    "google": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
    "azure": "azure.ai.openai",
    "bedrock": "aws.bedrock",
}
# Spans without an LLM operation still get one from their kind.
_KIND_OPERATIONS = {"tool": "execute_tool", "agent": "invoke_agent", "retriever": "retrieval"}


def span_attributes(span: Span, conventions: str = "both") -> dict[str, Any]:
    """Flat OTel attributes for ``span``; absent values are left out (OTel has no null)."""
    attrs = span.trace_attrs
    out = _staso_attributes(span)
    out[USER_ID] = attrs.user_id
    out[SESSION_ID] = attrs.session_id or attrs.conversation_id
    if conventions != "openinference":
        out.update(_genai_attributes(span))
        out.update(genai_content(span))
    if conventions != "genai":
        out.update(openinference_attributes(span))
    return {key: value for key, value in out.items() if value is not None}


def _genai_attributes(span: Span) -> dict[str, Any]:
    operation = _OPERATIONS.get(span.operation or "", span.operation) or _KIND_OPERATIONS.get(span.kind)
    provider = _PROVIDERS.get(span.provider or "", span.provider)
    out: dict[str, Any] = {
        GEN_AI_OPERATION_NAME: operation,
        GEN_AI_PROVIDER_NAME: provider,
        GEN_AI_SYSTEM: provider,
        GEN_AI_REQUEST_MODEL: span.request_model,
        GEN_AI_RESPONSE_MODEL: span.response_model,
        GEN_AI_RESPONSE_FINISH_REASONS: [span.finish_reason] if span.finish_reason else None,
        GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: span.ttft_ms / 1000 if span.ttft_ms is not None else None,
        GEN_AI_CONVERSATION_ID: span.trace_attrs.conversation_id,
        GEN_AI_AGENT_NAME: span.agent_name,
    }
    if span.usage is not None:
        usage = span.usage.to_dict()
        out[GEN_AI_USAGE_INPUT_TOKENS] = usage["input"]
        out[GEN_AI_USAGE_OUTPUT_TOKENS] = usage["output"]
        out[GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage["cache_read"]
        out[GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = usage["cache_write"]
        out[GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage["reasoning"]
    if span.kind == "tool":
        out[GEN_AI_TOOL_NAME] = span.name
        out[GEN_AI_TOOL_CALL_ID] = span.metadata.get("tool_call_id") if span.metadata else None
    return out


def _staso_attributes(span: Span) -> dict[str, Any]:
    attrs = span.trace_attrs
    resource = span.resource
    out: dict[str, Any] = {
        STASO_KIND: span.kind,
        STASO_OPERATION: span.operation,
        STASO_COST_USD: span.cost_usd,
        STASO_ENVIRONMENT: resource.environment,
        STASO_WORKSPACE_SLUG: resource.workspace_slug,
        STASO_SOURCE_TYPE: resource.source_type,
        STASO_SESSION_ID: attrs.session_id,
        STASO_TURN_INDEX: span.turn_index,
        STASO_USER_ID: attrs.user_id,
        STASO_TAGS: list(attrs.tags) or None,
        STASO_STREAM: span.stream,
        STASO_TTFT_MS: span.ttft_ms,
        STASO_INPUT: _json(span.input),
        STASO_OUTPUT: _json(span.output),
        STASO_METADATA: _json(span.metadata or None),
        STASO_TOOL_CALLS: _json(span.tool_calls or None),
    }
    if span.usage is not None:
        out[STASO_USAGE_TOTAL_TOKENS] = span.usage.to_dict()["total"]
    if span.error is not None:
        out[ERROR_TYPE] = span.error.get("type")
    return out


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=str, ensure_ascii=False)
