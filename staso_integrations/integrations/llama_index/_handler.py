"""The span and event handlers we add to LlamaIndex's root instrumentation dispatcher.

LlamaIndex sets its ``active_span_id`` contextvar around every instrumented method (in the
same frame) and tells span handlers each span's id and parent id. We keep a map from its
span ids to our spans, so parenting never needs a context attached in one callback and
reset in another:

- a LlamaIndex span's parent is the deeper of the span its parent id maps to and our
  context's current span (both are open around the current call: the later-started one is
  the inner one);
- a span of ours opened inside a LlamaIndex step (a tool, a provider call, ``@st.trace``)
  asks ``resolve_parent`` the same question with LlamaIndex's ``active_span_id``.

LlamaIndex spans we do not map to a kind (text splitters, ``_query``, prompt helpers...) are
not exported: their id maps to their parent's span, so their children nest where they should.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.exception import ExceptionEvent
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMChatInProgressEvent,
    LLMCompletionEndEvent,
    LLMCompletionInProgressEvent,
)
from llama_index.core.instrumentation.span import active_span_id
from llama_index.core.instrumentation.span_handlers import BaseSpanHandler

from ..._core.context import _current_span
from ..._core.internal_errors import contain
from ..._core.runtime import open_span
from ..._core.span import Span
from .._attrs import attr
from . import _extract

_IN_PROGRESS = (LLMChatInProgressEvent, LLMCompletionInProgressEvent)
_END = (LLMChatEndEvent, LLMCompletionEndEvent)
_STREAM_EVENTS = (*_IN_PROGRESS, *_END, ExceptionEvent)
MAX_OPEN = 10_000  # LlamaIndex spans tracked at once; the oldest entry goes first


class Entry:
    """What one LlamaIndex span id stands for: our span, or (``owned`` False) its parent's."""

    __slots__ = ("enriched", "fill_usage", "owned", "span", "streaming")

    def __init__(self, span: Span | None, owned: bool, fill_usage: bool = False) -> None:
        self.span = span
        self.owned = owned
        self.streaming = False
        self.enriched = False  # a provider call already filled this span (see _patches)
        self.fill_usage = fill_usage


class SpanMap:
    """LlamaIndex span id -> ``Entry``, shared by the handlers, the patches and the resolver."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        # LLM classes whose SDK call runs inside provider_enriches(); only their llm spans take
        # token counts from LlamaIndex's response, so no call is ever counted in two spans.
        self.enriched_types: tuple[type, ...] = ()

    def current(self) -> Entry | None:
        span_id = active_span_id.get()
        return self.entries.get(span_id) if span_id else None

    def resolve_parent(self, ours: Span | None) -> Span | None:
        """For ``runtime.start_span``: the innermost open span, LlamaIndex's or ours."""
        if not self.entries:  # no LlamaIndex step open anywhere: the usual case outside LlamaIndex
            return ours
        with contain("llama_index.resolve_parent"):
            entry = self.current()
            if entry is not None:
                return deeper(entry.span, ours)
        return ours

    def enter(self, span_id: str, bound_args: Any, instance: Any, parent_id: str | None, tags: Any) -> None:
        if len(self.entries) >= MAX_OPEN:  # streams never read to the end are never closed
            del self.entries[next(iter(self.entries))]
        parent_entry = self.entries.get(parent_id) if parent_id else None
        mapped = parent_entry.span if parent_entry is not None else None
        parent = deeper(mapped, _current_span.get())
        kind = _extract.classify(span_id, instance, tags)
        if kind == "step" and (parent is None or parent.kind == "agent"):
            kind = None  # an agent's own steps add nothing over its llm and tool spans
        elif kind in ("llm", "embedding") and parent is not None and parent is mapped and parent.kind == kind:
            kind = None  # complete() calling chat(): still one call, one span
        if kind is None:
            self.entries[span_id] = Entry(parent, owned=False)
            return
        span = open_span(_extract.label(span_id), "chain" if kind == "step" else kind, parent)
        if kind == "agent":  # the agent of everything inside it, as ``@st.agent`` would make it
            span.agent_name = _extract.agent_name_of(instance) or span.agent_name
        entry = Entry(span, owned=True)
        self.entries[span_id] = entry
        arguments = getattr(bound_args, "arguments", None) or {}
        span.input = _extract.call_input(kind, arguments, tags)
        if kind in ("llm", "embedding"):
            span.request_model = _extract.model_of(instance)
            span.provider = _extract.provider_of(instance)
            entry.fill_usage = isinstance(instance, self.enriched_types)
        if kind == "llm":
            span.operation = "chat" if "messages" in arguments else "completion"
            span.stream = "stream" in span.name
        elif kind == "embedding":
            span.operation = "embeddings"

    def exit(self, span_id: str, result: Any) -> None:
        entry = self.entries.pop(span_id, None)
        if entry is None or not entry.owned or entry.span is None:
            return
        span = entry.span
        if span.kind == "llm" and (inspect.isgenerator(result) or inspect.isasyncgen(result)):
            entry.streaming = True  # ended by LlamaIndex's end (or exception) event
            self.entries[span_id] = entry
            return
        finish(entry, result)

    def drop(self, span_id: str, err: BaseException | None) -> None:
        entry = self.entries.pop(span_id, None)
        if entry is None or not entry.owned or entry.span is None:
            return
        if err is None:
            entry.span.end()
        else:
            entry.span.fail(err)

    def event(self, event: Any) -> None:
        """One of the ``_STREAM_EVENTS``."""
        span_id = event.span_id or ""
        entry = self.entries.get(span_id)
        if entry is None or not entry.streaming or entry.span is None:
            return
        span = entry.span
        if isinstance(event, _IN_PROGRESS):
            if span.ttft_ms is None and _has_output(event.response):
                span.ttft_ms = (time.time_ns() - span.start_ns) / 1e6
        elif isinstance(event, _END):
            self.entries.pop(span_id, None)
            finish(entry, event.response)
        else:
            self.entries.pop(span_id, None)
            if isinstance(event.exception, GeneratorExit):  # the caller stopped reading: not an error
                span.metadata["stream_closed_early"] = True
                span.end()
            else:
                span.fail(event.exception)

    def clear(self) -> None:
        self.entries.clear()
        self.enriched_types = ()


def deeper(mapped: Span | None, ours: Span | None) -> Span | None:
    """Of two spans open around the current call, the inner one (it started last)."""
    if mapped is None or mapped is ours:
        return ours
    if ours is None:
        return mapped
    if ours.parent_span_id == mapped.span_id or ours.start_ns >= mapped.start_ns:
        return ours
    return mapped


def finish(entry: Entry, result: Any) -> None:
    """Fill the fields the provider hook left empty (provider data wins), then end the span."""
    span = entry.span
    assert span is not None
    try:
        if span.output is None:
            span.output = _extract.call_output(span.kind, result)
        if span.kind == "llm":
            model, usage, finish_reason = _extract.response_details(result)
            span.response_model = span.response_model or model
            span.finish_reason = span.finish_reason or finish_reason
            if span.tool_calls is None:
                span.tool_calls = _extract.tool_calls_of(attr(result, "message"))
            if span.usage is None and entry.fill_usage:
                span.usage = usage
    except Exception:
        with contain("llama_index.finish"):
            raise
    span.end()


class StasoSpanHandler(BaseSpanHandler):  # not [Any]: that builds one more pydantic model at import
    """Opens and closes our spans as LlamaIndex enters and leaves its spans."""

    def span_enter(
        self,
        id_: str,
        bound_args: Any,
        instance: Any | None = None,
        parent_id: str | None = None,
        tags: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:  # not ``with contain(...)``: these run for every LlamaIndex step, and ``try`` is free
            SPANS.enter(id_, bound_args, instance, parent_id, tags)
        except Exception:
            with contain("llama_index.span_enter"):
                raise

    def span_exit(
        self, id_: str, bound_args: Any, instance: Any | None = None, result: Any | None = None, **kwargs: Any
    ) -> None:
        try:
            SPANS.exit(id_, result)
        except Exception:
            with contain("llama_index.span_exit"):
                raise

    def span_drop(
        self,
        id_: str,
        bound_args: Any,
        instance: Any | None = None,
        err: BaseException | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            SPANS.drop(id_, err)
        except Exception:
            with contain("llama_index.span_drop"):
                raise

    # BaseSpanHandler's bookkeeping (open_spans) is not used: span_enter/exit are overridden.
    def new_span(self, *args: Any, **kwargs: Any) -> None:
        return None

    def prepare_to_exit_span(self, *args: Any, **kwargs: Any) -> None:
        return None

    def prepare_to_drop_span(self, *args: Any, **kwargs: Any) -> None:
        return None


class StasoEventHandler(BaseEventHandler):
    """Streaming LLM calls: first-token time, and the end (or error) after the last chunk."""

    @classmethod
    def class_name(cls) -> str:
        return "StasoEventHandler"

    def handle(self, event: Any, **kwargs: Any) -> None:
        if not isinstance(event, _STREAM_EVENTS):  # most events: nothing to do
            return
        try:
            SPANS.event(event)
        except Exception:
            with contain("llama_index.event"):
                raise


SPANS = SpanMap()


def _has_output(response: Any) -> bool:
    """Whether a streamed response so far holds generated output: text in its delta, or tool
    calls (LlamaIndex accumulates them on the message; the role chunk carries neither).
    """
    if getattr(response, "delta", None):
        return True
    message = attr(response, "message")
    extra = getattr(message, "additional_kwargs", None) or {}
    return bool(extra.get("tool_calls"))
