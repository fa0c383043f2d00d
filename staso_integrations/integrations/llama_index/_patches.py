"""wrapt wrappers: tool calls, and the SDK call inside a LlamaIndex LLM or embedding call.

``FunctionTool.call/acall`` become ``tool`` spans (LlamaIndex 0.14 sends no tool event).

One LLM call = one llm span: the LLM classes' private methods that call the SDK
(``OpenAI._chat``, ``OpenAIEmbedding._get_text_embeddings``...) run inside
``provider_enriches(span)`` for the llm/embedding span the handler opened, set and reset in
this wrapper's own frame. They run inside LlamaIndex's span for the public method, so
``active_span_id`` names that span. A stream's SDK request is sent at its first ``next()``:
that step runs inside ``provider_enriches`` too.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..._core.context import use_span
from ..._core.internal_errors import contain
from ..._core.parts import PARTS
from ..._core.runtime import start_span
from ..._core.serialize import to_jsonable
from ..._core.span import Span
from .._llm import provider_enriches
from . import _extract
from ._handler import SPANS

if TYPE_CHECKING:
    from ...guard._model import Decision

_LLM_SDK_CALLS = ("_chat", "_achat", "_stream_chat", "_astream_chat", "_complete", "_acomplete",
                  "_stream_complete", "_astream_complete")  # fmt: skip
_EMBEDDING_SDK_CALLS = ("_get_query_embedding", "_aget_query_embedding", "_get_text_embedding",
                        "_aget_text_embedding", "_get_text_embeddings", "_aget_text_embeddings")  # fmt: skip
# (module, class, methods): subclasses (AzureOpenAI, OpenAILike...) inherit the wrappers.
SDK_CALLS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("llama_index.llms.openai.base", "OpenAI", _LLM_SDK_CALLS),
    ("llama_index.embeddings.openai.base", "OpenAIEmbedding", _EMBEDDING_SDK_CALLS),
)


def claim_llm_span() -> Span | None:
    """The llm/embedding span of the LlamaIndex call we are in, if no provider call filled it yet."""
    entry = SPANS.current()
    if entry is None or not entry.owned or entry.enriched or entry.span is None:
        return None
    if entry.span.kind not in ("llm", "embedding"):
        return None
    entry.enriched = True
    return entry.span


def wrap_sdk_call(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        span = claim_llm_span()
    except Exception:
        with contain("llama_index.sdk_call"):
            raise
        span = None
    if span is None:
        return wrapped(*args, **kwargs)
    with provider_enriches(span):
        result = wrapped(*args, **kwargs)
    if inspect.iscoroutine(result):  # the retry decorator hides `async def` behind a plain def
        return _enriched_coroutine(result, span)
    if inspect.isgenerator(result):
        return _enriched_generator(result, span)
    return result


async def _enriched_coroutine(coroutine: Awaitable[Any], span: Span) -> Any:
    with provider_enriches(span):
        result = await coroutine
    if inspect.isasyncgen(result):
        return _enriched_async_generator(result, span)
    return result


def _enriched_generator(gen: Iterator[Any], span: Span) -> Iterator[Any]:
    with provider_enriches(span):
        try:
            first = next(gen)
        except StopIteration:
            return
    yield first
    yield from gen


async def _enriched_async_generator(gen: AsyncIterator[Any], span: Span) -> AsyncIterator[Any]:
    with provider_enriches(span):
        try:
            first = await gen.__anext__()
        except StopAsyncIteration:
            return
    yield first
    async for item in gen:
        yield item


@contain("llama_index.tool.start")
def _start_tool(tool: Any, args: Any, kwargs: Any) -> Span:
    metadata = getattr(tool, "metadata", None)
    name = getattr(metadata, "name", None) or type(tool).__name__
    span = start_span(name, "tool")
    span.input = to_jsonable(kwargs if not args else {"args": args, **kwargs})
    return span


def _finish_tool(span: Span, result: Any) -> None:
    with contain("llama_index.tool.finish"):
        output, error = _extract.tool_output(result)
        span.output = to_jsonable(output)
        if error is not None:
            span.status, span.error = "error", {"type": "ToolError", "message": error}
    span.end()


def _refusal(span: Span, decision: Decision, kwargs: Any) -> Any:
    """A blocked call: the agent gets the refusal as an error ``ToolOutput`` (or ``ToolBlocked``)."""
    from ...guard._engine import current_policy
    from ...guard._model import ToolBlocked

    blocked = ToolBlocked(decision)
    span.fail(blocked)
    if current_policy().on_block == "raise":
        raise blocked
    from llama_index.core.tools.types import ToolOutput

    return ToolOutput(
        tool_name=span.name, content=decision.refusal, raw_input={"kwargs": kwargs},
        raw_output=decision.refusal, is_error=True,
    )  # fmt: skip


def wrap_tool_call(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    span = _start_tool(instance, args, kwargs)
    if span is None:
        return wrapped(*args, **kwargs)
    if PARTS.tool_guard.has_rules():  # the guard is imported: it has rules
        from ...guard._engine import judge, tool_call

        decision = None
        with contain("llama_index.guard"):
            decision = judge(tool_call(span.name, dict(kwargs), "llama_index", span), span)
        if decision is not None and decision.blocked:
            return _refusal(span, decision, kwargs)
    try:
        with use_span(span):
            result = wrapped(*args, **kwargs)
    except BaseException as exc:
        span.fail(exc)
        raise
    _finish_tool(span, result)
    return result


async def async_wrap_tool_call(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    span = _start_tool(instance, args, kwargs)
    if span is None:
        return await wrapped(*args, **kwargs)
    if PARTS.tool_guard.has_rules():
        from ...guard._engine import ajudge, tool_call

        decision = None
        with contain("llama_index.guard"):
            decision = await ajudge(tool_call(span.name, dict(kwargs), "llama_index", span), span)
        if decision is not None and decision.blocked:
            return _refusal(span, decision, kwargs)
    try:
        with use_span(span):
            result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        span.fail(exc)
        raise
    _finish_tool(span, result)
    return result
