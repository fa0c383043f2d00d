"""What every provider integration shares when it opens an ``llm``/``embedding`` span.

One LLM call = one llm span. A framework (LangChain, LlamaIndex) that already opened an llm
span for a model call wraps the call in ``provider_enriches(span)``; the provider hook inside
then records into a private span whose fields are merged into the framework's span when it
ends, instead of exporting a second span. The first provider call claims the target; any
other call in the block (say, a tool calling OpenAI directly) is traced as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from .._core import runtime as _runtime
from .._core import serialize
from .._core.runtime import get_runtime, start_span
from .._core.serialize import with_string_cap
from .._core.span import Span


class Target:
    """The framework span the first provider call in a ``provider_enriches`` block fills. Its
    ``span`` is ``None`` while the framework has not opened it yet (LangChain's ``stream()``
    opens its run inside the generator): such a target stays claimed until the span is known.
    """

    __slots__ = ("claimed", "span")

    def __init__(self, span: Span | None) -> None:
        self.span = span
        self.claimed = span is None


T = TypeVar("T")
_target: ContextVar[Target | None] = ContextVar("staso_llm_target", default=None)


class _MergeInto:
    """Stands in for the processor of a provider span that enriches a framework span."""

    __slots__ = ("target",)

    def __init__(self, target: Span) -> None:
        self.target = target

    def on_end(self, span: Span) -> None:
        target = self.target
        # The fields the provider layer knows exactly win over what the framework reports.
        # One line each, not a getattr/setattr loop: this runs for every framework model call.
        if (provider := span.provider) is not None:
            target.provider = provider
        if (operation := span.operation) is not None:
            target.operation = operation
        if (request_model := span.request_model) is not None:
            target.request_model = request_model
        if (response_model := span.response_model) is not None:
            target.response_model = response_model
        if (usage := span.usage) is not None:
            target.usage = usage
        if (ttft_ms := span.ttft_ms) is not None:
            target.ttft_ms = ttft_ms
        if (finish_reason := span.finish_reason) is not None:
            target.finish_reason = finish_reason
        if (tool_calls := span.tool_calls) is not None:
            target.tool_calls = tool_calls
        if (stream := span.stream) is not None:
            target.stream = stream
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


class provider_enriches:  # noqa: N801 - used like a function: ``with provider_enriches(span):``
    """Inside the block, the first provider call fills ``span`` instead of opening its own.

    A class, not a ``@contextmanager`` generator: it runs around every framework model call,
    and the generator's machinery cost four times as much.
    """

    __slots__ = ("span", "token")

    def __init__(self, span: Span) -> None:
        self.span = span

    def __enter__(self) -> None:
        self.token = _target.set(Target(self.span))

    def __exit__(self, *exc_info: object) -> None:
        _target.reset(self.token)


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
    if (
        target is not None
        and not target.claimed
        and (framework := target.span) is not None
        and framework.end_ns is None
    ):
        target.claimed = True
        span = _enriching_span(name, kind, framework)
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
