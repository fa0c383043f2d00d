"""What every provider integration shares when it opens an ``llm``/``embedding`` span."""

from __future__ import annotations

from .._core.runtime import get_runtime, start_span
from .._core.span import Span


def start_llm_span(
    name: str,
    *,
    provider: str,
    operation: str,
    request_model: str | None,
    stream: bool = False,
    kind: str = "llm",
) -> Span:
    """Open the one span of one model call under the current span (not activated)."""
    span = start_span(name, kind)
    span.provider = provider
    span.operation = operation
    span.request_model = request_model
    span.stream = stream
    return span


def capture_content() -> bool:
    """Whether prompts, outputs and arguments may be captured (``capture_content`` setting)."""
    return get_runtime().config.capture_content
