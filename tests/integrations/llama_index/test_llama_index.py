"""LlamaIndex end to end over cassettes: RAG query, streaming query, an agent with tools, an error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.tools import FunctionTool

import staso_integrations as st
from staso_integrations._core.span import Span, Usage
from staso_integrations.exporters import InMemoryExporter

MODEL = "gpt-4o-mini"  # as in conftest's llm fixture

QUESTION = "What is the capital of France known for?"  # as in conftest


def _children(exporter: InMemoryExporter, parent: Span) -> list[Span]:
    return [s for s in exporter.spans if s.parent_span_id == parent.span_id]


def _assert_totals_match(exporter: InMemoryExporter, root: Span, expected: Usage) -> None:
    summary = exporter.traces[root.trace_id]
    assert (summary.usage.input, summary.usage.output) == (expected.input, expected.output)
    assert summary.cost_usd is not None and summary.cost_usd > 0


@pytest.mark.vcr
def test_rag_query_is_one_trace(
    traced: InMemoryExporter, llm: object, make_index: Callable[[], Any], cassette_usage: Callable[..., Usage]
) -> None:
    with st.span("rag", kind="chain") as root:
        index = make_index()
        response = index.as_query_engine(llm=llm, similarity_top_k=2).query(QUESTION)
    assert "Eiffel Tower" in str(response)

    build = traced.by_name("OpenAIEmbedding.get_text_embedding_batch")
    query = traced.by_name("RetrieverQueryEngine.query")
    retrieve = traced.by_name("VectorIndexRetriever.retrieve")
    query_embedding = traced.by_name("OpenAIEmbedding.get_query_embedding")
    synthesize = traced.by_name("CompactAndRefine.synthesize")
    chat = traced.by_name("OpenAI.chat")
    assert [build.parent_span_id, query.parent_span_id] == [root.span_id, root.span_id]
    assert (query.kind, query.input, query.output) == ("chain", QUESTION, str(response))
    assert (retrieve.kind, retrieve.parent_span_id, retrieve.input) == ("retriever", query.span_id, QUESTION)
    assert query_embedding.kind == "embedding" and query_embedding.parent_span_id == retrieve.span_id
    assert synthesize.parent_span_id == query.span_id and chat.parent_span_id == synthesize.span_id

    nodes = retrieve.output
    assert [n["id"] for n in nodes] == [n.node.node_id for n in response.source_nodes]
    assert [n["score"] for n in nodes] == [n.score for n in response.source_nodes]
    assert nodes[0]["text"].startswith("Paris is the capital of France")

    assert len(build.input) == 3 and build.input[0].startswith("Paris is the capital")
    assert build.output == {"count": 3, "dimensions": 3}
    assert (build.provider, build.operation) == ("openai", "embeddings") and build.usage.input > 0

    # one LLM call = one llm span, filled by the OpenAI hook (exact model, usage)
    assert [s.kind for s in traced.spans].count("llm") == 1
    assert (chat.provider, chat.operation, chat.request_model) == ("openai", "chat", MODEL)
    assert chat.metadata["response_id"].startswith("chatcmpl-")  # merged in from the OpenAI span
    assert chat.response_model.startswith(MODEL + "-")
    assert chat.input[-1]["role"] == "user" and QUESTION in chat.input[-1]["content"]
    assert chat.output == {"role": "assistant", "content": str(response)}
    assert chat.finish_reason == "stop" and chat.stream is False
    assert chat.usage.input > 0 and chat.usage.output > 0 and chat.cost_usd > 0
    _assert_totals_match(traced, root, cassette_usage("test_rag_query_is_one_trace.yaml"))


@pytest.mark.vcr
@pytest.mark.default_cassette("test_rag_query_is_one_trace.yaml")  # async sends the same requests
async def test_async_rag_query(
    traced: InMemoryExporter, llm: object, make_index: Callable[[], Any], cassette_usage: Callable[..., Usage]
) -> None:
    with st.span("rag", kind="chain") as root:
        response = await make_index().as_query_engine(llm=llm, similarity_top_k=2).aquery(QUESTION)
    assert "Eiffel Tower" in str(response)
    query = traced.by_name("RetrieverQueryEngine.aquery")
    retrieve = traced.by_name("VectorIndexRetriever.aretrieve")
    chat = traced.by_name("OpenAI.achat")
    assert retrieve.parent_span_id == query.span_id and query.parent_span_id == root.span_id
    assert traced.by_name("OpenAIEmbedding.aget_query_embedding").parent_span_id == retrieve.span_id
    assert traced.by_name("CompactAndRefine.asynthesize").span_id == chat.parent_span_id
    assert [s.kind for s in traced.spans].count("llm") == 1
    assert chat.metadata["response_id"].startswith("chatcmpl-") and chat.stream is False
    _assert_totals_match(traced, root, cassette_usage("test_rag_query_is_one_trace.yaml"))


@pytest.mark.vcr
def test_streaming_query(
    traced: InMemoryExporter, llm: object, make_index: Callable[[], Any], cassette_usage: Callable[..., Usage]
) -> None:
    index = make_index()
    with st.span("streaming rag", kind="chain") as root:
        streaming = index.as_query_engine(llm=llm, streaming=True, similarity_top_k=1).query(QUESTION)
        text = "".join(streaming.response_gen)
    assert "Eiffel Tower" in text

    chat = traced.by_name("OpenAI.stream_chat")
    query = traced.by_name("RetrieverQueryEngine.query")
    assert query.output == "<streaming>"
    assert chat.stream is True and chat.ttft_ms is not None and chat.ttft_ms >= 0
    assert chat.output == {"role": "assistant", "content": text}
    assert chat.end_ns >= query.end_ns  # the llm span lasts until the stream is consumed
    assert chat.usage.input > 0 and chat.usage.output > 0 and chat.finish_reason == "stop"
    assert [s.kind for s in traced.spans].count("llm") == 1
    assert chat.metadata["response_id"].startswith("chatcmpl-")
    expected = cassette_usage("test_streaming_query.yaml")
    summary = traced.traces[root.trace_id]
    assert summary.usage.output == expected.output  # the index build (embeddings) is another trace
    assert (
        summary.usage.input
        == expected.input - traced.by_name("OpenAIEmbedding.get_text_embedding_batch").usage.input
    )


@pytest.mark.vcr
@pytest.mark.default_cassette("test_streaming_query.yaml")
def test_a_stream_closed_early_ends_its_span_without_error(
    traced: InMemoryExporter, llm: object, make_index: Callable[[], Any]
) -> None:
    streaming = make_index().as_query_engine(llm=llm, streaming=True, similarity_top_k=1).query(QUESTION)
    chunks = iter(streaming.response_gen)
    first = next(chunks)
    chunks.close()  # type: ignore[attr-defined]
    chat = traced.by_name("OpenAI.stream_chat")
    assert chat.status == "ok" and chat.metadata["stream_closed_early"] is True
    assert chat.ttft_ms is None and first == ""  # only the role chunk was read: no token, no TTFT


@pytest.mark.vcr
def test_chat_engine_and_complete(traced: InMemoryExporter, llm: Any) -> None:
    from llama_index.core.chat_engine import SimpleChatEngine
    from llama_index.core.memory import ChatMemoryBuffer

    # the default Memory keeps an aiosqlite engine that LlamaIndex never closes (a ResourceWarning)
    engine = SimpleChatEngine.from_defaults(llm=llm, memory=ChatMemoryBuffer.from_defaults())
    answer = engine.chat("Tell me about Paris.")
    completion = llm.complete("Tell me about Paris in one sentence.")
    engine, chat, complete = sorted(traced.spans, key=lambda s: s.start_ns)
    assert (engine.kind, engine.name, engine.input, engine.output) == (
        "chain",
        "SimpleChatEngine.chat",
        "Tell me about Paris.",
        str(answer),
    )
    assert (chat.kind, chat.name, chat.parent_span_id) == ("llm", "OpenAI.chat", engine.span_id)
    # complete() on a chat model sends a chat request: still one span, filled by the OpenAI hook
    assert (complete.kind, complete.name, complete.operation) == ("llm", "OpenAI.complete", "chat")
    assert complete.input == "Tell me about Paris in one sentence."
    assert complete.output == {"role": "assistant", "content": completion.text}  # as the provider saw it
    assert complete.metadata["response_id"].startswith("chatcmpl-") and complete.usage.input > 0


def add(a: int, b: int) -> int:
    """Add two integers."""
    with st.span("add.inner") as inner:  # a span of ours inside a LlamaIndex tool
        inner.output = a + b
    return a + b


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


# llama-index-workflows 2.26 runs inspect.getmembers() over the (pydantic) agent, which reads
# pydantic's deprecated attributes: third-party deprecation warnings, not ours.
@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning")
@pytest.mark.vcr
async def test_agent_with_two_tools(
    traced: InMemoryExporter, llm: object, cassette_usage: Callable[..., Usage]
) -> None:
    agent = FunctionAgent(
        name="calculator",
        tools=[FunctionTool.from_defaults(add), FunctionTool.from_defaults(multiply)],
        llm=llm,
        system_prompt="You are a calculator. Always use the tools.",
    )
    result = await agent.run("What is (2 + 3) * 4?")
    assert "20" in str(result)
    assert {s.agent_name for s in traced.spans} == {"calculator"}  # the agent's spans and what ran in it
    assert traced.traces[traced.spans[0].trace_id].agent_name == "calculator"

    run = traced.by_name("FunctionAgent.run")
    assert run.kind == "agent" and run.parent_span_id is None
    assert run.input == "What is (2 + 3) * 4?"
    assert run.output == {"role": "assistant", "content": "(2 + 3) * 4 = 20."}
    calls = sorted((s for s in traced.spans if s.kind == "llm"), key=lambda s: s.start_ns)
    assert len(calls) == 3 and {c.parent_span_id for c in calls} == {run.span_id}
    assert all(c.provider == "openai" and c.stream and c.ttft_ms is not None for c in calls)
    assert all(c.metadata["response_id"].startswith("chatcmpl-") for c in calls)
    assert [c.tool_calls[0]["name"] for c in calls[:2]] == ["add", "multiply"]

    add_span, multiply_span = traced.by_name("add"), traced.by_name("multiply")
    assert (add_span.kind, add_span.parent_span_id) == ("tool", run.span_id)
    assert (add_span.input, add_span.output) == ({"a": 2, "b": 3}, "5")
    assert (multiply_span.input, multiply_span.output) == ({"a": 5, "b": 4}, "20")
    assert traced.by_name("add.inner").parent_span_id == add_span.span_id
    _assert_totals_match(traced, run, cassette_usage("test_agent_with_two_tools.yaml"))


@pytest.mark.vcr
def test_llm_error_propagates_and_fails_the_span(traced: InMemoryExporter) -> None:
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai import OpenAI

    llm = OpenAI(model=MODEL, max_retries=0)  # the account is out of quota: 429, no retry
    with pytest.raises(openai.RateLimitError) as raised:
        llm.chat([ChatMessage(role="user", content="Hello, do I have quota?")])
    assert raised.value.status_code == 429

    (span,) = traced.spans
    assert (span.name, span.kind, span.status) == ("OpenAI.chat", "llm", "error")
    assert span.error["type"] == "openai.RateLimitError" and span.error["status_code"] == 429
    assert span.input == [{"role": "user", "content": "Hello, do I have quota?"}]
    assert span.usage is None and span.cost_usd is None


@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning")
@pytest.mark.vcr("test_agent_with_two_tools.yaml")
async def test_streamed_tool_call_arguments_are_not_doubled(traced: InMemoryExporter, llm: object) -> None:
    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(add), FunctionTool.from_defaults(multiply)],
        llm=llm,
        system_prompt="You are a calculator. Always use the tools.",
    )
    await agent.run("What is (2 + 3) * 4?")
    first = min((s for s in traced.spans if s.kind == "llm"), key=lambda s: s.start_ns)
    assert first.tool_calls[0]["arguments"] in ({"a": 2, "b": 3}, '{"a": 2, "b": 3}')
