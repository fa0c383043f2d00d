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


# Every field the provider layer knows exactly: (the provider's value, the framework's).
FIELD_VALUES = {
    "provider": ("openai", "framework"),
    "operation": ("chat", "completion"),
    "request_model": ("gpt-4o", "framework-model"),
    "response_model": ("gpt-4o-2024-08-06", "framework-model-1"),
    "usage": (Usage(input=7, output=3), Usage(input=1, output=1)),
    "ttft_ms": (12.5, 99.0),
    "finish_reason": ("tool_calls", "stop"),
    "tool_calls": ([{"id": "call_1", "name": "lookup", "arguments": "{}"}], [{"id": None, "name": "other"}]),
    "stream": (True, False),
}


def test_each_provider_field_the_provider_sets_wins_and_an_unset_one_keeps_the_framework_value(
    exporter: InMemoryExporter,
) -> None:
    for name, (value, _) in FIELD_VALUES.items():
        with st.span(f"framework {name}", kind="llm") as framework:
            for other, (_, framework_value) in FIELD_VALUES.items():
                setattr(framework, other, framework_value)
            with provider_enriches(framework):
                span = start_llm_span("chat", provider="openai", operation="chat", request_model=None)
                span.provider = span.operation = span.stream = None  # set only the field under test
                setattr(span, name, value)
                span.end()
        recorded = exporter.spans[-1]
        for other, (provider_value, framework_value) in FIELD_VALUES.items():
            assert getattr(recorded, other) == (provider_value if other == name else framework_value), (name, other)
