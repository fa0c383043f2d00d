"""Content rules applied at one point, in the pipeline, for every integration alike."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from .span import Span

logger = logging.getLogger("staso_integrations")

# What a redact hook may change; ids, timing and tokens stay ours.
REDACTABLE = ("name", "input", "output", "metadata", "tool_calls", "error")


def normalize_tool_calls(span: Span) -> None:
    """Tool call ``arguments`` always leave as a JSON string, the wire form OpenAI uses;
    Anthropic and LangChain hand them over parsed."""
    for call in span.tool_calls or ():
        arguments = call.get("arguments")
        if arguments is not None and not isinstance(arguments, str):
            call["arguments"] = json.dumps(arguments, ensure_ascii=False, default=str)


def strip_content(span: Span) -> None:
    """Drop prompts, outputs, arguments and results; keep models, tokens, cost, timing, errors."""
    span.input = None
    span.output = None
    if span.tool_calls:
        span.tool_calls = [{"id": call.get("id"), "name": call.get("name")} for call in span.tool_calls]


def apply_redact(span: Span, redact: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Run the user's hook on the span's dict and take back the content fields it returns.

    A hook that raises or returns something else drops the span's content: a broken
    redaction must never let through what it was meant to hide.
    """
    try:
        data = redact(span.to_dict())
        if not isinstance(data, dict):
            raise TypeError(f"redact returned {type(data).__name__}, not the span dict")
    except Exception:
        logger.warning("staso: redact hook failed; content of span %r dropped", span.name, exc_info=True)
        strip_content(span)
        span.metadata = {}
        return
    for name in REDACTABLE:
        if name in data:
            setattr(span, name, data[name] if name != "metadata" else (data[name] or {}))
