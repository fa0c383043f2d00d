"""Read a ``Message`` (or the usage of a stream) into the span: model, usage, output, tools."""

from __future__ import annotations

import json
from typing import Any

from ..._core.serialize import each, to_jsonable
from ..._core.span import Span, Usage
from ...pricing import WEB_SEARCHES
from .._llm import full_content


def read_usage(usage: Any) -> Usage | None:
    """An Anthropic usage block -> ``Usage``: ``input`` adds back cache reads and writes it reports apart."""
    if usage is None:
        return None
    return make_usage(
        getattr(usage, "input_tokens", None),
        getattr(usage, "output_tokens", None),
        getattr(usage, "cache_read_input_tokens", None),
        getattr(usage, "cache_creation_input_tokens", None),
        _thinking_tokens(usage),
    )


def make_usage(
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read: int | None,
    cache_write: int | None,
    reasoning: int | None,
) -> Usage:
    total_input = None
    if input_tokens is not None or cache_read or cache_write:
        total_input = (input_tokens or 0) + (cache_read or 0) + (cache_write or 0)
    # Positional (input, output, total, cache_read, cache_write, reasoning): no kwargs dict.
    return Usage(total_input, output_tokens, None, cache_read, cache_write, reasoning)


def record_web_searches(span: Span, usage: Any) -> None:
    """Server-side web searches are billed per search: the pipeline prices them from here."""
    searches = getattr(getattr(usage, "server_tool_use", None), "web_search_requests", None)
    if searches:
        span.metadata[WEB_SEARCHES] = searches


def _thinking_tokens(usage: Any) -> int | None:
    details = getattr(usage, "output_tokens_details", None)
    return getattr(details, "thinking_tokens", None) if details is not None else None


def record_message(span: Span, message: Any, capture: bool) -> None:
    """Everything a complete ``Message`` tells: model, stop reason, usage, tool calls, output."""
    span.response_model = getattr(message, "model", None)
    span.finish_reason = getattr(message, "stop_reason", None)
    usage = getattr(message, "usage", None)
    span.usage = read_usage(usage)
    record_web_searches(span, usage)
    message_id = getattr(message, "id", None)
    if message_id is not None:
        span.metadata["response_id"] = message_id
    content = getattr(message, "content", None) or ()
    tool_calls = [
        {
            "id": block.id,
            "name": block.name,
            "arguments": to_jsonable(block.input) if capture else None,
        }
        for block in content
        if block.type == "tool_use"
    ]
    if tool_calls:
        span.tool_calls = tool_calls
    if capture:
        span.output = {"role": "assistant", "content": full_content(each, block_dict, content)}


def block_dict(block: Any) -> Any:
    """A content block as plain data (hand-built for the common types: cheaper than model_dump)."""
    kind = block.type
    if kind == "text":
        return {"type": "text", "text": to_jsonable(block.text)}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": to_jsonable(block.input)}
    if kind == "thinking":
        return {"type": "thinking", "thinking": to_jsonable(block.thinking)}
    if kind == "redacted_thinking":  # encrypted, opaque: its size is all that is useful
        return {"type": "redacted_thinking", "data": f"<{len(block.data or '')} chars>"}
    return to_jsonable(block)


def parse_arguments(text: str) -> Any:
    """Streamed tool input arrives as JSON fragments; unparsable (cut short) text stays text."""
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text
