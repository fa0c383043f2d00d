"""The one callback handler LangChain calls for every run: runs become spans, parented by run id.

State is a dict ``run_id -> _Run``; every ``*_end``/``*_error`` pops its run, whatever else
happens, so nothing outlives its run. No context variable is left set by a callback: a root
run's parent is the current span when it starts; every other run's parent is the span of its
``parent_run_id`` (made current only for the one ``start_span`` call that opens the child).

The agent rule (structural, not a name heuristic): ``langchain.agents.create_agent`` compiles its
graph ``with_config(metadata={"ls_integration": "langchain_create_agent", ...})``. A chain run
carrying that marker is the agent entry (an ``agent`` span named after the graph, its
``lc_agent_name`` as the agent name) unless its parent is itself a marked chain run, i.e. one of
the same graph's nodes or their inner runnables (those stay ``chain``). An agent run inside a tool
of another agent therefore is an ``agent`` span again. Other LangGraph graphs are ``chain`` spans.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from ..._core.context import _current_span
from ..._core.internal_errors import contain
from ..._core.runtime import start_span
from ..._core.span import Span
from .._llm import _target, capture_content, full_content
from . import _extract as ex
from ._guard import take_decision

AGENT_MARKER = "langchain_create_agent"
_HIDDEN_TAG = "langsmith:hidden"
_GRAPH_METADATA = ("langgraph_node", "langgraph_step")
_CONTROL_FLOW = frozenset({"GraphBubbleUp", "GraphInterrupt", "ParentCommand"})  # LangGraph signals


class _Run:
    __slots__ = ("marked", "owned", "span")

    def __init__(self, span: Span, marked: bool = False, owned: bool = True) -> None:
        self.span = span
        self.marked = marked  # a chain run of a create_agent graph
        self.owned = owned  # False: a hidden run standing in for its parent's span


def swallow(where: str, error: Exception) -> None:
    """Log our bug at debug level (re-raise it under STASO_STRICT), for code that catches
    inline because it runs per callback or per step. Callbacks use no decorator: LangChain
    passes a dozen keyword arguments, and a ``*args, **kwargs`` wrapper layer cost ~5 k
    instructions per callback (two per tool call: 7% of what tracing a LangChain tool adds).
    """
    with contain(f"langchain.{where}"):
        raise error


class StasoCallbackHandler(BaseCallbackHandler):
    """Turns LangChain runs into spans. Added once per callback manager (see ``__init__``)."""

    run_inline = True  # async managers call us in the task itself, not in a thread pool
    # LangChain reads one of these before every event; plain class attributes instead of the
    # base class's properties spare a Python call each time. Retries and custom events are
    # not traced, so LangChain skips our (inherited, empty) methods for them.
    ignore_llm = ignore_chain = ignore_agent = ignore_retriever = ignore_chat_model = False
    ignore_retry = ignore_custom_event = True

    def __init__(self, *, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error  # STASO_STRICT: let LangChain re-raise our bugs in tests
        self.runs: dict[UUID, _Run] = {}
        self.timed_run: UUID | None = None  # the run whose first output ``on_llm_new_token`` timed last

    def span_of(self, run_id: UUID | None) -> Span | None:
        run = self.runs.get(run_id) if run_id is not None else None
        return run.span if run is not None else None

    # -- opening and closing -------------------------------------------------------------

    def _open(
        self, run_id: UUID, parent_run_id: UUID | None, name: str, kind: str, marked: bool = False
    ) -> Span:
        parent = self.runs.get(parent_run_id) if parent_run_id is not None else None
        if parent is None:  # a root run: under the caller's current span, if any
            span = start_span(name, kind)
        else:  # parent by run id; the variable is set and reset right here, around one call
            token = _current_span.set(parent.span)
            try:
                span = start_span(name, kind)
            finally:
                _current_span.reset(token)
        self.runs[run_id] = _Run(span, marked)
        return span

    def _close(self, run_id: UUID, output: Any, extract: Any = None) -> None:
        run = self.runs.pop(run_id, None)
        if run is None or not run.owned:
            return
        span = run.span
        try:
            if extract is not None:
                extract(span, output)
            elif output is not None and capture_content():
                span.output = ex.value(output)
        finally:
            span.end()

    def _fail(self, run_id: UUID, error: BaseException) -> None:
        run = self.runs.pop(run_id, None)
        if run is None or not run.owned:
            return
        if any(cls.__name__ in _CONTROL_FLOW for cls in type(error).__mro__):
            run.span.metadata["interrupted"] = type(error).__name__
            run.span.end()
        else:
            run.span.fail(error)

    # -- chains, LangGraph graphs and nodes, agents ---------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            parent = self.runs.get(parent_run_id) if parent_run_id is not None else None
            if tags and _HIDDEN_TAG in tags:  # LangGraph plumbing: its children go to our parent
                if parent is not None:
                    self.runs[run_id] = _Run(parent.span, parent.marked, owned=False)
                return
            marked = metadata is not None and metadata.get("ls_integration") == AGENT_MARKER
            is_agent = marked and (parent is None or not parent.marked)
            span = self._open(
                run_id,
                parent_run_id,
                ex.run_name(serialized, kwargs, "chain"),
                "agent" if is_agent else "chain",
                marked,
            )
            if metadata:
                if is_agent and metadata.get("lc_agent_name"):
                    span.agent_name = metadata["lc_agent_name"]
                for key in _GRAPH_METADATA:
                    if key in metadata:
                        span.metadata[key] = metadata[key]
            if capture_content():
                span.input = ex.value(inputs)
        except Exception as exc:
            swallow("on_chain_start", exc)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._close(run_id, outputs)
        except Exception as exc:
            swallow("on_chain_end", exc)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._fail(run_id, error)
        except Exception as exc:
            swallow("on_chain_error", exc)

    # -- chat models and LLMs ---------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: Sequence[Sequence[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            span = self._llm_start(serialized, run_id, parent_run_id, metadata, kwargs, "chat")
            if messages and capture_content():
                span.input = full_content(ex.messages, messages[0])
        except Exception as exc:
            swallow("on_chat_model_start", exc)

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            span = self._llm_start(serialized, run_id, parent_run_id, metadata, kwargs, "completion")
            if prompts and capture_content():
                span.input = full_content(ex.value, prompts[0])
        except Exception as exc:
            swallow("on_llm_start", exc)

    def _llm_start(
        self,
        serialized: dict[str, Any] | None,
        run_id: UUID,
        parent_run_id: UUID | None,
        metadata: dict[str, Any] | None,
        kwargs: dict[str, Any],
        operation: str,
    ) -> Span:
        span = self._open(run_id, parent_run_id, ex.run_name(serialized, kwargs, "llm"), "llm")
        params = kwargs.get("invocation_params") or {}
        meta = metadata or {}
        span.operation = operation
        span.provider = meta.get("ls_provider")
        span.request_model = meta.get("ls_model_name") or params.get("model") or params.get("model_name")
        if params.get("stream"):
            span.stream = True
        settings = ex.llm_settings(meta)
        if settings:
            span.metadata.update(settings)
        target = _target.get()
        if target is not None and target.span is None:  # a stream() call of this model
            target.span, target.claimed = span, False
        return span

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        # Every token of a run carries the run's same id object: once its first output is timed,
        # its later tokens are passed by one identity test (a lookup would hash the UUID in Python).
        if run_id is self.timed_run:
            return
        try:
            run = self.runs.get(run_id)
            if run is not None:
                span = run.span
                if span.ttft_ms is None:
                    span.stream = True
                    if token or ex.chunk_has_output(kwargs.get("chunk")):
                        span.ttft_ms = (time.time_ns() - span.start_ns) / 1e6
                if span.ttft_ms is not None:
                    self.timed_run = run_id
        except Exception as exc:
            swallow("on_llm_new_token", exc)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._close(run_id, response, _fill_llm)
        except Exception as exc:
            swallow("on_llm_end", exc)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._fail(run_id, error)
        except Exception as exc:
            swallow("on_llm_error", exc)

    # -- tools --------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            span = self._open(run_id, parent_run_id, ex.run_name(serialized, kwargs, "tool"), "tool")
            decision = take_decision()
            if decision is not None:
                span.metadata["guard"] = [decision.to_dict()]
            call_id = kwargs.get("tool_call_id")
            if call_id is not None:
                span.metadata["tool_call_id"] = call_id
            if capture_content():
                span.input = ex.value(inputs) if inputs is not None else input_str
        except Exception as exc:
            swallow("on_tool_start", exc)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._close(run_id, output, _fill_tool)
        except Exception as exc:
            swallow("on_tool_end", exc)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._fail(run_id, error)
        except Exception as exc:
            swallow("on_tool_error", exc)

    # -- retrievers ---------------------------------------------------------------------

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            span = self._open(
                run_id, parent_run_id, ex.run_name(serialized, kwargs, "retriever"), "retriever"
            )
            if capture_content():
                span.input = query
        except Exception as exc:
            swallow("on_retriever_start", exc)

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._close(run_id, documents, _fill_retriever)
        except Exception as exc:
            swallow("on_retriever_end", exc)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._fail(run_id, error)
        except Exception as exc:
            swallow("on_retriever_error", exc)


def _fill_llm(span: Span, response: Any) -> None:
    """Fill only what the provider layer (merged in before this) left empty: no double data."""
    if (
        span.provider is not None
        and span.usage is not None
        and span.response_model is not None
        and span.finish_reason is not None
        and (span.output is not None or not capture_content())
    ):
        return  # the provider layer read the response itself, its tool calls included
    gen = ex.generation(response)
    if gen is None:
        return
    output, usage, model, finish, calls = full_content(ex.response_fields, gen)
    if span.output is None and capture_content():
        span.output = output
    if span.usage is None:
        span.usage = usage
    if span.response_model is None:
        span.response_model = model
    if span.finish_reason is None:
        span.finish_reason = finish
    if span.tool_calls is None:
        span.tool_calls = calls


def _fill_tool(span: Span, output: Any) -> None:
    if capture_content():
        span.output = ex.tool_output(output)


def _fill_retriever(span: Span, documents: Sequence[Any]) -> None:
    span.metadata["documents"] = len(documents)
    if capture_content():
        span.output = ex.documents(documents)


HANDLER = StasoCallbackHandler()
# The handler LangChain's configure hook hands out while we are instrumented (else ``None``).
ACTIVE: StasoCallbackHandler | None = None


class HandlerSlot:
    """What ``register_configure_hook`` reads instead of a ``ContextVar``: only ``get()`` is
    called (``langchain_core/callbacks/manager.py::_configure``). A real ContextVar set at
    instrument time would not reach threads started later; this answers the same everywhere.
    """

    __slots__ = ()

    def get(self, default: Any = None) -> StasoCallbackHandler | None:
        return ACTIVE
