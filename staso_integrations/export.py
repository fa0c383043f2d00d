"""Datasets from the local store: LLM calls as fine-tuning records, or whole traces.

``sft``: one record per LLM call at full fidelity, the messages sent plus the assistant
message received, with the tool definitions, in the chat fine-tuning shape
(``{"messages": [...], "tools": [...]}``) and the call's provenance under ``metadata``.
``jsonl``: one record per trace, its summary and all its spans.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from ._core.sanitize import safe_value
from .store import TraceFilter, TraceStore

FORMATS = ("sft", "jsonl")
_PROVENANCE = (
    "trace_id", "span_id", "provider", "response_model", "agent_name", "conversation_id", "session_id",
    "turn_index", "environment", "source_type", "usage", "cost_usd", "finish_reason", "start_ns",
)  # fmt: skip


def _text(value: Any) -> Any:
    """Anthropic ``system`` may be a list of text blocks: join them into one string."""
    if isinstance(value, list):
        return "\n".join(block.get("text", "") for block in value if isinstance(block, dict))
    return value


def _messages_in(given: Any) -> list[Any] | None:
    if isinstance(given, list):  # OpenAI chat / responses: the messages themselves
        return list(given)
    if isinstance(given, dict) and isinstance(given.get("messages"), list):  # Anthropic: system + messages
        system = [{"role": "system", "content": _text(given["system"])}] if given.get("system") else []
        return system + given["messages"]
    if isinstance(given, str):  # legacy completions: the prompt
        return [{"role": "user", "content": given}]
    return None


def _assistant(output: Any, tool_calls: list[dict[str, Any]] | None) -> dict[str, Any]:
    message = dict(output) if isinstance(output, dict) and output.get("role") == "assistant" else None
    if message is None:
        content = output if output is None or isinstance(output, str) else json.dumps(output)
        message = {"role": "assistant", "content": content}
    if tool_calls and "tool_calls" not in message and not isinstance(message.get("content"), list):
        message["tool_calls"] = [
            {"id": call.get("id"), "type": "function",
             "function": {"name": call.get("name"), "arguments": call.get("arguments")}}  # fmt: skip
            for call in tool_calls
        ]
    return message


def sft_record(span: dict[str, Any]) -> dict[str, Any] | None:
    """The fine-tuning record of one stored llm span; ``None`` if its content was not captured."""
    messages = _messages_in(span.get("input"))
    if messages is None or span.get("output") is None and not span.get("tool_calls"):
        return None
    record: dict[str, Any] = {"messages": [*messages, _assistant(span.get("output"), span.get("tool_calls"))]}
    tools = (span.get("metadata") or {}).get("tools")
    if tools:
        record["tools"] = tools
    record["metadata"] = {key: span.get(key) for key in _PROVENANCE}
    record["metadata"]["model"] = span.get("response_model") or span.get("request_model")
    return record


def sft_records(store: TraceStore, where: TraceFilter, include_errors: bool = False) -> Iterator[dict[str, Any]]:
    for span in store.llm_spans(where):
        if span["status"] == "error" and not include_errors:
            continue
        record = sft_record(span)
        if record is not None:
            yield record


def trace_records(store: TraceStore, where: TraceFilter) -> Iterator[dict[str, Any]]:
    for trace in reversed(store.list_traces(where)):
        _, spans = store.get_trace(trace["trace_id"])
        yield {"trace": trace, "spans": spans}


def write_jsonl(records: Iterator[dict[str, Any]], out: IO[str]) -> int:
    """One strict JSON line per record (a store from an older version may hold NaN: made safe)."""
    count = 0
    for record in records:
        try:
            line = json.dumps(record, ensure_ascii=False, allow_nan=False)
        except (ValueError, TypeError):
            line = json.dumps(safe_value(record), ensure_ascii=False)
        out.write(line + "\n")
        count += 1
    return count
