"""What every provider integration shares when it opens an ``llm``/``embedding`` span.

One LLM call = one llm span. A framework (LangChain, LlamaIndex) that already opened an llm
span for a model call wraps the call in ``provider_enriches(span)``; the provider hook inside
then records into a private span whose fields are merged into the framework's span when it
ends, instead of exporting a second span. The first provider call claims the target; any
other call in the block (say, a tool calling OpenAI directly) is traced as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from .._core import runtime as _runtime
from .._core import serialize
from .._core.runtime import get_runtime, start_span
from .._core.serialize import with_string_cap
from .._core.span import Span

# Fields the provider layer knows exactly; they win over what the framework reports.
_PROVIDER_FIELDS = (
    "provider",
    "operation",
    "request_model",
    "response_model",
    "usage",
    "ttft_ms",
    "finish_reason",
    "tool_calls",
    "stream",
)


class _Target:
    __slots__ = ("claimed", "span")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.claimed = False


T = TypeVar("T")
_target: ContextVar[_Target | None] = ContextVar("staso_llm_target", default=None)


class _MergeInto:
    """Stands in for the processor of a provider span that enriches a framework span."""

    __slots__ = ("target",)

    def __init__(self, target: Span) -> None:
        self.target = target

    def on_end(self, span: Span) -> None:
        target = self.target
        for name in _PROVIDER_FIELDS:
            value = getattr(span, name)
            if value is not None:
                setattr(target, name, value)
        if target.input is None:
            target.input = span.input
        if target.output is None:
            target.output = span.output
        if span.error is not None and target.error is None:
            target.status, target.error = span.status, span.error
        target.metadata.update(span.metadata)


def input_known(span: Span) -> bool:
    """Whether ``span`` enriches a framework span that already holds the call's input (which
    wins: see ``_MergeInto``), so converting the request's messages again would be wasted.
    """
    merge = span._processor
    return isinstance(merge, _MergeInto) and merge.target.input is not None


# Frameworks whose own step tells which llm span a provider call belongs to (LlamaIndex's
# active span id, for LLM classes that call the SDK inside their public, instrumented method)
# add a function here: it claims and returns that span, or ``None``. Empty unless one is
# instrumented, so the provider hooks pay one list check.
implicit_targets: list[Callable[[], Span | None]] = []


def _implicit_target() -> Span | None:
    for claim in implicit_targets:
        span = claim()
        if span is not None and span.end_ns is None:
            return span
    return None


@contextmanager
def provider_enriches(span: Span) -> Iterator[None]:
    """Inside the block, the first provider call fills ``span`` instead of opening its own."""
    token = _target.set(_Target(span))
    try:
        yield
    finally:
        _target.reset(token)


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
    target = _target.get()
    if target is not None and not target.claimed and target.span.end_ns is None:
        target.claimed = True
        span = _enriching_span(name, kind, target.span)
    elif implicit_targets and (framework_span := _implicit_target()) is not None:
        span = _enriching_span(name, kind, framework_span)
    else:
        span = start_span(name, kind)
    span.provider = provider
    span.operation = operation
    span.request_model = request_model
    span.stream = stream
    return span


def _enriching_span(name: str, kind: str, target: Span) -> Span:
    return Span(
        name,
        kind,
        target.trace_id,
        target.span_id,
        target.agent_name,
        target.trace_attrs,
        target.turn_index,
        target.resource,
        _MergeInto(target),  # type: ignore[arg-type]
    )


def full_content(convert: Callable[..., T], *args: Any) -> T:
    """``convert(*args)`` for an llm span's messages: strings cut at ``llm_content_max_chars``.

    ``convert`` must give the same result each time it runs over ``args`` (no one-shot iterator:
    see ``serialize.each``). It runs under the default cap first, and again under the larger
    one only if it met a string the default cut: setting the cap costs more than most conversions.
    """
    before = serialize.strings_cut
    converted = convert(*args)
    if serialize.strings_cut == before:
        return converted
    return with_string_cap((_runtime._runtime or get_runtime()).config.llm_content_max_chars, convert, *args)


def capture_content() -> bool:
    """Whether prompts, outputs and arguments may be captured (``capture_content`` setting)."""
    return (_runtime._runtime or get_runtime()).config.capture_content  # per callback: one call, not two
