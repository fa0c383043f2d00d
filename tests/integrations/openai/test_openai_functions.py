"""Legacy function calling (``functions=`` / ``function_call``): one tool call, a non-empty output."""

from __future__ import annotations

import json
from typing import Any

import pytest

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "What's the weather in Paris?"}]
GET_WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CALL = {"id": None, "name": "get_weather", "arguments": '{"city":"Paris"}'}
OUTPUT = {
    "role": "assistant",
    "content": None,
    "function_call": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
}


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_functions_legacy.yaml")
def test_function_call(api: Any, instrumented: Any) -> None:
    result = api.call("chat.completions.create", model=MODEL, messages=MESSAGES, functions=[GET_WEATHER])

    assert result.choices[0].message.function_call.name == "get_weather"
    (span,) = instrumented.spans
    assert span.tool_calls == [CALL] and json.loads(span.tool_calls[0]["arguments"]) == {"city": "Paris"}
    assert span.output == OUTPUT and span.finish_reason == "function_call"
    assert span.metadata["tools"] == [GET_WEATHER]
    assert span.usage is not None and (span.usage.input, span.usage.output) == (61, 16)


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_functions_legacy_stream.yaml")
def test_function_call_stream(api: Any, instrumented: Any) -> None:
    chunks = api.stream(
        "chat.completions.create",
        model=MODEL,
        messages=MESSAGES,
        functions=[GET_WEATHER],
        stream=True,
        stream_options={"include_usage": True},
    )

    pieces = [
        c.choices[0].delta.function_call.arguments
        for c in chunks
        if c.choices and c.choices[0].delta.function_call
    ]
    assert "".join(pieces) == '{"city":"Paris"}'
    (span,) = instrumented.spans
    assert span.tool_calls == [CALL]
    assert span.output == OUTPUT and span.finish_reason == "function_call"
    assert span.stream is True and span.ttft_ms is not None
    assert span.usage is not None and (span.usage.input, span.usage.output) == (61, 16)
