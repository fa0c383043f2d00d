"""Legacy OpenAI function calling through ``ChatOpenAI.bind(functions=...)``: one llm span with
the call, a non-empty output, and TTFT when streaming."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_openai import ChatOpenAI

from staso_integrations.exporters import InMemoryExporter

import staso_integrations as st

pytestmark = pytest.mark.vcr
GET_WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
QUESTION = "What's the weather in Paris?"
FUNCTION_CALL = {"name": "get_weather", "arguments": '{"city":"Paris"}'}


@pytest.mark.default_cassette("legacy_function_call.yaml")
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("streaming", [False, True], ids=["invoke", "stream"])
def test_function_call(mode: str, streaming: bool, exporter: InMemoryExporter) -> None:
    st.instrument_all(include=["openai", "langchain"])
    model = ChatOpenAI(
        model="gpt-4o-mini", api_key="test-key", max_retries=0, streaming=streaming, stream_usage=True
    )
    runnable = model.bind(functions=[GET_WEATHER])
    message = runnable.invoke(QUESTION) if mode == "sync" else asyncio.run(runnable.ainvoke(QUESTION))

    assert message.additional_kwargs["function_call"] == FUNCTION_CALL
    (span,) = exporter.spans  # the provider hook filled LangChain's llm span: one span per call
    assert (span.kind, span.name, span.provider) == ("llm", "ChatOpenAI", "openai")
    assert span.tool_calls == [{"id": None, **FUNCTION_CALL}]
    assert span.output["function_call"] == FUNCTION_CALL
    assert span.usage is not None and (span.usage.input, span.usage.output) == (61, 16)
    assert span.stream is streaming and (span.ttft_ms is not None) is streaming
