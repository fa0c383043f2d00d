"""The handlers and patches themselves: install/remove, odd inputs, our bugs, parenting, tools."""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.llm import LLMChatEndEvent
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.tools import FunctionTool

import staso_integrations as st
from staso_integrations._core import runtime
from staso_integrations._core.span import Usage
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations._registry import load_instrumentor
from staso_integrations.integrations.llama_index import _extract
from staso_integrations.integrations.llama_index._handler import (
    SPANS,
    StasoEventHandler,
    StasoSpanHandler,
)


def _ours(kind: type) -> list[Any]:
    dispatcher = get_dispatcher()
    return [h for h in [*dispatcher.span_handlers, *dispatcher.event_handlers] if isinstance(h, kind)]


class Shelf(BaseRetriever):
    """A retriever with our span inside, and another LlamaIndex retriever inside that."""

    def __init__(self, inner: BaseRetriever | None = None) -> None:
        super().__init__()
        self.inner = inner

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        with st.span("shelf.lookup"):
            if self.inner is not None:
                return self.inner.retrieve(query_bundle)
        return [NodeWithScore(node=TextNode(text="x" * 5_000, id_="node-1"), score=0.5)]


def test_instrument_adds_handlers_once_and_uninstrument_removes_everything(
    exporter: InMemoryExporter,
) -> None:
    original_call = FunctionTool.__dict__["call"]
    instrumentor = load_instrumentor("llama_index")
    assert st.instrument_all(include=["llama_index"])["llama_index"] == "instrumented"
    assert instrumentor.instrument() == "instrumented"  # a second time changes nothing
    assert len(_ours(StasoSpanHandler)) == len(_ours(StasoEventHandler)) == 1
    assert FunctionTool.__dict__["call"] is not original_call
    assert SPANS.resolve_parent in runtime.parent_resolvers

    st.uninstrument_all()
    assert _ours(StasoSpanHandler) == _ours(StasoEventHandler) == []
    assert FunctionTool.__dict__["call"] is original_call
    assert runtime.parent_resolvers == [] and SPANS.entries == {}
    FunctionTool.from_defaults(lambda: "ok", name="noop").call()
    Shelf().retrieve("q")
    assert [s.name for s in exporter.spans] == ["shelf.lookup"]  # only the span the user opened


def test_handlers_take_odd_inputs_without_raising(exporter: InMemoryExporter) -> None:
    # STASO_STRICT=1 here: any exception in our code would surface
    spans, events = StasoSpanHandler(), StasoEventHandler()
    for instance in (None, object(), 42):
        spans.span_enter(id_="Weird.chat-1", bound_args=None, instance=instance, parent_id="nope", tags=None)
        spans.span_exit(id_="Weird.chat-1", bound_args=None, instance=instance, result=object())
    spans.span_exit(id_="never-entered", bound_args=None)
    spans.span_drop(id_="never-entered", bound_args=None, err=None)
    events.handle(object())
    events.handle(LLMChatEndEvent(messages=[], response=None, span_id=None))
    assert _extract.call_output("llm", object()) is None
    assert _extract.response_details(object()) == (None, None, None)
    assert exporter.spans == []


def test_a_bug_in_our_code_is_swallowed_and_the_call_is_intact(
    exporter: InMemoryExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STASO_STRICT", "0")
    st.instrument_all(include=["llama_index"])

    def broken(*args: Any) -> Any:
        raise RuntimeError("staso bug")

    monkeypatch.setattr(_extract, "classify", broken)
    monkeypatch.setattr(_extract, "tool_output", broken)
    assert [n.node.node_id for n in Shelf().retrieve("q")] == ["node-1"]
    output = FunctionTool.from_defaults(lambda a: a * 2, name="double").call(a=21)
    assert output.raw_output == 42
    assert [s.name for s in exporter.spans] == ["shelf.lookup", "double"]


def test_our_spans_nest_inside_llamaindex_steps_and_back(traced: InMemoryExporter) -> None:
    with st.span("request") as root:
        nodes = Shelf(inner=Shelf()).retrieve("where?")
    assert nodes[0].node.node_id == "node-1"
    outer, inner = sorted((s for s in traced.spans if s.kind == "retriever"), key=lambda s: s.start_ns)
    lookups = sorted((s for s in traced.spans if s.name == "shelf.lookup"), key=lambda s: s.start_ns)
    # request > Shelf.retrieve > shelf.lookup > Shelf.retrieve > shelf.lookup
    assert outer.parent_span_id == root.span_id
    assert lookups[0].parent_span_id == outer.span_id
    assert inner.parent_span_id == lookups[0].span_id
    assert lookups[1].parent_span_id == inner.span_id
    assert outer.input == "where?"
    (node,) = outer.output
    assert (node["id"], node["score"], len(node["text"])) == ("node-1", 0.5, _extract.MAX_NODE_TEXT + 1)


def test_tool_calls_are_tool_spans_and_errors_propagate(traced: InMemoryExporter) -> None:
    def lookup(city: str) -> str:
        """Find a city."""
        if city == "Atlantis":
            raise LookupError("no such city")
        return f"{city} is real"

    tool = FunctionTool.from_defaults(lookup)
    assert tool.call(city="Paris").content == "Paris is real"
    with pytest.raises(LookupError, match="no such city"):
        tool.call(city="Atlantis")
    ok, failed = traced.spans
    assert (ok.kind, ok.name, ok.input, ok.output, ok.status) == (
        "tool",
        "lookup",
        {"city": "Paris"},
        "Paris is real",
        "ok",
    )
    assert failed.status == "error" and failed.error["type"] == "LookupError"


async def test_async_tool_call_is_a_tool_span(traced: InMemoryExporter) -> None:
    async def shout(text: str) -> str:
        """Shout."""
        return text.upper()

    assert (await FunctionTool.from_defaults(shout).acall(text="hi")).content == "HI"
    (span,) = traced.spans
    assert (span.kind, span.input, span.output) == ("tool", {"text": "hi"}, "HI")


@pytest.mark.vcr
@pytest.mark.default_cassette("test_rag_query_is_one_trace.yaml")
def test_without_the_openai_hook_llamaindex_usage_is_counted_once(
    exporter: InMemoryExporter, llm: Any, make_index: Callable[[], Any], cassette_usage: Callable[..., Usage]
) -> None:
    st.instrument_all(include=["llama_index"])
    with st.span("rag") as root:
        index = make_index()
        index.as_query_engine(llm=llm, similarity_top_k=2).query("What is the capital of France known for?")
    chat = exporter.by_name("OpenAI.chat")
    expected = cassette_usage("test_rag_query_is_one_trace.yaml", "/chat/completions")
    assert (chat.usage.input, chat.usage.output) == (expected.input, expected.output)
    assert chat.provider == "openai" and chat.response_model.startswith("gpt-4o-mini-")
    assert "response_id" not in chat.metadata  # LlamaIndex's own response, no OpenAI hook
    summary = exporter.traces[root.trace_id]
    assert (summary.usage.input, summary.usage.output) == (expected.input, expected.output)


def test_sdk_patches_wait_for_their_module_to_be_imported() -> None:
    code = inspect.cleandoc(
        """
        import sys, staso_integrations as st
        import llama_index.core
        st.instrument_all(include=["llama_index"])
        assert "llama_index.llms.openai.base" not in sys.modules
        from llama_index.llms.openai import OpenAI
        print(type(OpenAI.__dict__["_chat"]).__name__)
        st.uninstrument_all()
        print(type(OpenAI.__dict__["_chat"]).__name__)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["FunctionWrapper", "function"]
