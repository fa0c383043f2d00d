"""LCEL chains with a retriever: the tree, one llm span per model call, streaming, async."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import pytest
from lc_app import QUESTION, anthropic_model, chain_with_direct_call, rag_chain
from lc_trees import parent_of, tree

import staso_integrations as st
from staso_integrations._core.span import Usage
from staso_integrations.exporters import InMemoryExporter

pytestmark = pytest.mark.vcr
ANSWER = "The office is in Lyon, next to the Part-Dieu station."
RAG_TREE = [
    ("chain", "RunnableSequence", [
        ("chain", "RunnableParallel<context,question>", [
            ("chain", "RunnableSequence", [("retriever", "KeywordRetriever", []), ("chain", "format_docs", [])]),
            ("chain", "RunnablePassthrough", []),
        ]),
        ("chain", "ChatPromptTemplate", []),
        ("llm", "ChatOpenAI", []),
        ("chain", "StrOutputParser", []),
    ]),
]  # fmt: skip
RAG_USAGE = Usage(input=1432, output=14, total=1446, cache_read=1280, reasoning=0)


@pytest.fixture(params=["sync", "async"])
def invoke(request: pytest.FixtureRequest) -> Callable[[Any, Any], Any]:
    """``runnable.invoke`` or ``ainvoke`` (driven by ``asyncio.run``): the same assertions."""
    if request.param == "sync":
        return lambda runnable, value: runnable.invoke(value)
    return lambda runnable, value: asyncio.run(runnable.ainvoke(value))


@pytest.fixture(params=["sync", "async"])
def stream(request: pytest.FixtureRequest) -> Callable[[Any, Any], list[Any]]:
    if request.param == "sync":
        return lambda runnable, value: list(runnable.stream(value))

    async def collect(runnable: Any, value: Any) -> list[Any]:
        return [chunk async for chunk in runnable.astream(value)]

    return lambda runnable, value: asyncio.run(collect(runnable, value))


@pytest.mark.default_cassette("rag_chain.yaml")
def test_rag_chain_is_one_tree_with_one_llm_span(
    traced: InMemoryExporter, invoke: Callable[..., Any]
) -> None:
    assert invoke(rag_chain(), QUESTION) == ANSWER

    assert tree(traced.spans) == RAG_TREE
    llm = traced.by_name("ChatOpenAI")  # the provider hook enriched it: no second llm span
    assert (llm.provider, llm.operation, llm.request_model) == ("openai", "chat", "gpt-4o-mini")
    assert llm.response_model == "gpt-4o-mini-2024-07-18"
    assert llm.usage == RAG_USAGE  # cache reads from the provider layer
    assert llm.finish_reason == "stop" and llm.status == "ok" and llm.stream is False
    assert llm.input[1] == {"role": "user", "content": QUESTION}
    assert llm.input[0]["role"] == "system" and "Lyon" in llm.input[0]["content"]
    assert llm.output == {"role": "assistant", "content": ANSWER}
    assert llm.cost_usd is not None and llm.cost_usd > 0

    summary = traced.traces[llm.trace_id]  # counted once
    assert (summary.usage.input, summary.usage.output, summary.usage.cache_read) == (1432, 14, 1280)
    assert summary.cost_usd == pytest.approx(llm.cost_usd)

    retriever = traced.by_name("KeywordRetriever")
    assert retriever.input == QUESTION
    assert [(d["id"], d["score"], d["metadata"]["source"]) for d in retriever.output] == [
        ("doc-1", 4, "handbook.md"),
        ("doc-2", 2, "about.md"),
    ]
    assert retriever.output[0]["content"].startswith("The Acme office is in Lyon")


@pytest.mark.default_cassette("rag_chain.yaml")
def test_the_provider_does_not_convert_messages_the_framework_span_holds(
    traced: InMemoryExporter, monkeypatch: pytest.MonkeyPatch, invoke: Callable[..., Any]
) -> None:
    from staso_integrations.integrations.openai import _request

    converted: list[str] = []
    monkeypatch.setattr(_request, "_input", lambda operation, body: converted.append(operation))
    assert invoke(rag_chain(), QUESTION) == ANSWER

    assert converted == []  # the llm span's input is LangChain's, which wins over the provider's
    llm = traced.by_name("ChatOpenAI")
    assert llm.input[1] == {"role": "user", "content": QUESTION} and llm.request_model == "gpt-4o-mini"


def _count_response_reads(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    from staso_integrations.integrations.langchain import _extract

    read: list[Any] = []
    fields = _extract.response_fields
    monkeypatch.setattr(_extract, "response_fields", lambda gen: read.append(gen) or fields(gen))
    return read


@pytest.mark.default_cassette("rag_chain.yaml")
def test_the_provider_layer_reads_the_response_and_langchain_does_not_again(
    traced: InMemoryExporter, monkeypatch: pytest.MonkeyPatch, invoke: Callable[..., Any]
) -> None:
    read = _count_response_reads(monkeypatch)
    assert invoke(rag_chain(), QUESTION) == ANSWER

    assert read == []  # output, usage, model and finish reason came from the SDK's response
    assert traced.by_name("ChatOpenAI").output == {"role": "assistant", "content": ANSWER}


@pytest.mark.default_cassette("rag_chain.yaml")
def test_langchain_alone_reads_the_response_in_its_callback(
    langchain_only: InMemoryExporter, monkeypatch: pytest.MonkeyPatch, invoke: Callable[..., Any]
) -> None:
    read = _count_response_reads(monkeypatch)
    assert invoke(rag_chain(), QUESTION) == ANSWER

    assert len(read) == 1
    assert langchain_only.by_name("ChatOpenAI").output == {"role": "assistant", "content": ANSWER}


@pytest.mark.default_cassette("rag_chain.yaml")
def test_langchain_alone_fills_the_llm_span_from_callbacks(langchain_only: InMemoryExporter) -> None:
    assert rag_chain().invoke(QUESTION) == ANSWER

    llm = langchain_only.by_name("ChatOpenAI")
    assert (llm.provider, llm.operation, llm.request_model) == ("openai", "chat", "gpt-4o-mini")
    assert llm.response_model == "gpt-4o-mini-2024-07-18"
    assert llm.usage == RAG_USAGE  # usage_metadata, with its input/output token details
    assert llm.finish_reason == "stop" and llm.metadata["temperature"] == 0.0
    assert llm.cost_usd is not None and llm.cost_usd > 0
    assert [s.kind for s in langchain_only.spans].count("llm") == 1


@pytest.mark.default_cassette("rag_chain_stream.yaml")
def test_streamed_chain_records_ttft_and_usage_once(
    traced: InMemoryExporter, stream: Callable[..., Any]
) -> None:
    assert "".join(stream(rag_chain(), QUESTION)) == ANSWER

    assert tree(traced.spans) == RAG_TREE
    llm = traced.by_name("ChatOpenAI")
    assert llm.stream is True
    assert llm.ttft_ms is not None and 0 < llm.ttft_ms <= llm.duration_ms
    assert llm.usage == RAG_USAGE
    assert llm.output == {"role": "assistant", "content": ANSWER}
    assert traced.traces[llm.trace_id].usage.input == 1432


@pytest.mark.default_cassette("rag_chain_stream.yaml")
def test_streamed_chain_without_the_provider_layer(langchain_only: InMemoryExporter) -> None:
    assert "".join(rag_chain().stream(QUESTION)) == ANSWER

    llm = langchain_only.by_name("ChatOpenAI")
    assert llm.stream is True and llm.ttft_ms is not None and llm.ttft_ms > 0  # from on_llm_new_token
    assert llm.usage == RAG_USAGE


@pytest.mark.default_cassette("rag_chain.yaml")
def test_our_spans_around_a_chain_are_its_parents(
    traced: InMemoryExporter, invoke: Callable[..., Any]
) -> None:
    @st.trace(name="handle_request")
    def handle(question: str) -> Any:
        return invoke(rag_chain(), question)

    with st.conversation("conv-1", user_id="user-1"), st.span("http", kind="custom"):
        assert handle(QUESTION) == ANSWER

    assert tree(traced.spans) == [("custom", "http", [("chain", "handle_request", RAG_TREE)])]
    assert {s.trace_attrs.conversation_id for s in traced.spans} == {"conv-1"}


@pytest.mark.default_cassette("direct_call_in_step.yaml")
def test_a_provider_call_inside_a_step_is_its_own_span_under_that_step(traced: InMemoryExporter) -> None:
    assert chain_with_direct_call().invoke(QUESTION) == "Office in Lyon."

    llms = [s for s in traced.spans if s.kind == "llm"]
    assert sorted(s.name for s in llms) == ["ChatOpenAI", "chat gpt-4o-mini"]
    direct = next(s for s in llms if s.name != "ChatOpenAI")
    assert parent_of(traced.spans, direct).name == "summarize_directly"
    assert direct.usage == Usage(input=27, output=5, total=32, cache_read=0, reasoning=0)
    assert traced.by_name("ChatOpenAI").usage.input == 14
    assert traced.traces[direct.trace_id].usage.input == 14 + 27


@pytest.mark.vcr(allow_playback_repeats=True)
@pytest.mark.default_cassette("rag_chain.yaml")
async def test_100_concurrent_ainvokes_make_100_separate_trees(traced: InMemoryExporter) -> None:
    chain = rag_chain()

    async def one(index: int) -> str:
        with st.span(f"request-{index}", kind="custom"):
            await asyncio.sleep(0)
            return await chain.ainvoke(QUESTION)

    assert await asyncio.gather(*(one(i) for i in range(100))) == [ANSWER] * 100

    roots = [s for s in traced.spans if s.parent_span_id is None]
    assert sorted(s.name for s in roots) == sorted(f"request-{i}" for i in range(100))
    for root in roots:
        assert tree(traced.spans, root.trace_id) == [("custom", root.name, RAG_TREE)]
        assert traced.traces[root.trace_id].usage.input == 1432


@pytest.mark.default_cassette("rag_chain_anthropic.yaml")
def test_chat_anthropic_is_one_llm_span_with_cache_reads_in_input(
    exporter: InMemoryExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", os.environ.get("ANTHROPIC_API_KEY", "sk-ant-test-not-a-key"))
    report = st.instrument_all(include=["langchain", "anthropic"])
    assert report["anthropic"].startswith(("instrumented", "deferred")), (
        report
    )  # imported by langchain_anthropic

    assert rag_chain(anthropic_model()).invoke(QUESTION) == ANSWER

    assert [s.kind for s in exporter.spans].count("llm") == 1
    llm = exporter.by_name("ChatAnthropic")
    assert (llm.provider, llm.response_model) == ("anthropic", "claude-haiku-4-5-20251001")
    # the SDK's usage, read by the provider hook from the raw response LangChain parses
    assert llm.usage == Usage(input=25 + 1400, output=14, cache_read=1400, cache_write=0)
    assert llm.finish_reason == "end_turn"
    assert llm.cost_usd is not None and llm.cost_usd > 0
    assert exporter.traces[llm.trace_id].usage.input == 1425


@pytest.mark.default_cassette("chat_anthropic_stream.yaml")
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_chat_anthropic_stream_takes_usage_from_the_sdk_events(
    exporter: InMemoryExporter, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    from langchain_anthropic import ChatAnthropic

    monkeypatch.setenv("ANTHROPIC_API_KEY", os.environ.get("ANTHROPIC_API_KEY", "sk-ant-test-not-a-key"))
    st.instrument_all(include=["langchain", "anthropic"])
    model = ChatAnthropic(model="claude-haiku-4-5", max_tokens=256, max_retries=0)

    async def collect() -> list[Any]:
        return [chunk async for chunk in model.astream("Count to three.")]

    chunks = list(model.stream("Count to three.")) if mode == "sync" else asyncio.run(collect())
    assert "".join(c.content if isinstance(c.content, str) else "" for c in chunks) == "One, two, three."

    (llm,) = exporter.spans  # LangChain's llm span, filled by the provider hook: one span per call
    assert (llm.name, llm.provider, llm.stream) == ("ChatAnthropic", "anthropic", True)
    # the last message_delta's output_tokens (9) and message_start's input (13), as the SDK sent them
    assert llm.usage == Usage(input=13, output=9, cache_read=0, cache_write=0)
    assert llm.response_model == "claude-haiku-4-5-20251001" and llm.finish_reason == "end_turn"
    assert llm.ttft_ms is not None and llm.cost_usd is not None
