"""One LLM call = one llm span: a provider call inside a framework llm span enriches it."""

from __future__ import annotations

import staso_integrations as st
from staso_integrations._core.span import Usage
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations._llm import provider_enriches, start_llm_span


def _provider_call(model: str = "gpt-4o-mini") -> None:
    span = start_llm_span("chat " + model, provider="openai", operation="chat", request_model=model)
    span.response_model = model + "-2024-07-18"
    span.usage = Usage(input=100, output=10, cache_read=40)
    span.ttft_ms = 5.0
    span.output = {"role": "assistant", "content": "hi"}
    span.end()


def test_provider_call_enriches_the_framework_span(exporter: InMemoryExporter) -> None:
    with st.span("ChatOpenAI", kind="llm", input=["framework messages"]) as framework:
        framework.usage = Usage(input=100, output=10)  # what the framework reported
        with provider_enriches(framework):
            _provider_call()
    assert [s.name for s in exporter.spans] == ["ChatOpenAI"]
    span = exporter.spans[0]
    assert span.usage == Usage(input=100, output=10, cache_read=40)  # the richer data wins
    assert (span.provider, span.response_model, span.ttft_ms) == ("openai", "gpt-4o-mini-2024-07-18", 5.0)
    assert span.input == ["framework messages"]
    assert span.output == {"role": "assistant", "content": "hi"}
    assert exporter.traces[span.trace_id].usage.input == 100  # counted once


def test_only_the_first_provider_call_is_merged(exporter: InMemoryExporter) -> None:
    with st.span("node", kind="chain"):
        with st.span("ChatOpenAI", kind="llm") as framework:
            with provider_enriches(framework):
                _provider_call()
                _provider_call("gpt-4o")  # e.g. a tool that calls OpenAI directly
    names = sorted(s.name for s in exporter.spans)
    assert names == ["ChatOpenAI", "chat gpt-4o", "node"]
    assert exporter.traces[exporter.spans[0].trace_id].usage.input == 200


def test_outside_the_block_calls_are_their_own_spans(exporter: InMemoryExporter) -> None:
    with st.span("ChatOpenAI", kind="llm") as framework:
        with provider_enriches(framework):
            pass
        _provider_call()
    assert sorted(s.name for s in exporter.spans) == ["ChatOpenAI", "chat gpt-4o-mini"]
