"""OpenInference attributes (what Arize Phoenix, and MLflow's OTLP intake, read): span kind,
input/output values, flattened LLM messages, token counts, tools, retrieved documents.

Like the GenAI module, content comes only from what capture-off and the redact hook left.
"""

from __future__ import annotations

from typing import Any

from .._core.span import Span
from ._otel_messages import (
    Message,
    as_text,
    documents,
    input_messages,
    output_messages,
    text_of,
    tool_definitions,
)

SPAN_KIND = "openinference.span.kind"
_KINDS = {"llm": "LLM", "tool": "TOOL", "agent": "AGENT", "retriever": "RETRIEVER", "embedding": "EMBEDDING"}
_JSON, _TEXT = "application/json", "text/plain"
# Our provider names -> OpenInference's ``llm.provider`` values where they differ.
_PROVIDERS = {"mistral_ai": "mistralai", "x_ai": "xai", "vertex": "google", "bedrock": "aws"}


def openinference_attributes(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {SPAN_KIND: _KINDS.get(span.kind, "CHAIN"), "agent.name": span.agent_name}
    _value(out, "input", span.input)
    _value(out, "output", span.output)
    attrs = span.trace_attrs
    if attrs.tags:
        out["tag.tags"] = list(attrs.tags)
    if attrs.metadata:
        out["metadata"] = as_text(attrs.metadata)
    if span.kind == "llm":
        _llm(out, span)
    elif span.kind == "embedding":
        out["embedding.model_name"] = span.response_model or span.request_model
        texts = (
            span.input
            if isinstance(span.input, list)
            else [span.input]
            if isinstance(span.input, str)
            else []
        )
        for index, text in enumerate(texts):
            out[f"embedding.embeddings.{index}.embedding.text"] = as_text(text)
    elif span.kind == "retriever":
        for index, doc in enumerate(documents(span)):
            prefix = f"retrieval.documents.{index}.document."
            for key in ("id", "content", "score"):
                if key in doc:
                    out[prefix + key] = doc[key] if key == "score" else as_text(doc[key])
            if "metadata" in doc:
                out[prefix + "metadata"] = as_text(doc["metadata"])
    elif span.kind == "tool":
        out["tool.name"] = span.name
    return out


def _value(out: dict[str, Any], side: str, value: Any) -> None:
    if value is not None:
        out[f"{side}.value"] = as_text(value)
        out[f"{side}.mime_type"] = _TEXT if isinstance(value, str) else _JSON


def _llm(out: dict[str, Any], span: Span) -> None:
    out["llm.model_name"] = span.response_model or span.request_model
    out["llm.provider"] = _PROVIDERS.get(span.provider or "", span.provider)
    out["llm.system"] = span.provider if span.provider != "azure" else "openai"
    params = span.metadata.get("params")
    if isinstance(params, dict):
        out["llm.invocation_parameters"] = as_text(params)
    if span.usage is not None:
        usage = span.usage.to_dict()
        for key, name in (
            ("input", "prompt"), ("output", "completion"), ("total", "total"),
            ("cache_read", "prompt_details.cache_read"), ("cache_write", "prompt_details.cache_write"),
            ("reasoning", "completion_details.reasoning"),
        ):  # fmt: skip
            out[f"llm.token_count.{name}"] = usage[key]
    messages, system = input_messages(span)
    if system:
        messages = [{"role": "system", "parts": system}, *messages]
    _messages(out, "llm.input_messages", messages)
    _messages(out, "llm.output_messages", output_messages(span))
    for index, tool in enumerate(tool_definitions(span)):
        out[f"llm.tools.{index}.tool.json_schema"] = as_text(tool)


def _messages(out: dict[str, Any], prefix: str, messages: list[Message]) -> None:
    for index, message in enumerate(messages):
        at = f"{prefix}.{index}.message."
        out[at + "role"] = message["role"]
        out[at + "content"] = text_of(message)
        calls = [part for part in message["parts"] if part["type"] == "tool_call"]
        for number, call in enumerate(calls):
            call_at = f"{at}tool_calls.{number}.tool_call."
            out[call_at + "id"] = call.get("id")
            out[call_at + "function.name"] = call.get("name")
            out[call_at + "function.arguments"] = call.get("arguments")
        results = [part for part in message["parts"] if part["type"] == "tool_call_response"]
        if results:
            out[at + "tool_call_id"] = results[0].get("id")
