"""Chat Completions: create, stream (with and without usage), parse, the stream helper, tools."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest

from staso_integrations._core.span import Usage

MODEL = "gpt-4o-mini"
HELLO = [{"role": "user", "content": "Say hello in five words."}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
STREAM_USAGE = {"stream": True, "stream_options": {"include_usage": True}}


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_create.yaml")
def test_create(api: Any, instrumented: Any) -> None:
    result = api.call("chat.completions.create", model=MODEL, messages=HELLO, temperature=0.2)

    assert result.choices[0].message.content == "Hello there, nice to meet!"
    (span,) = instrumented.spans
    assert (span.name, span.kind, span.provider, span.operation) == (
        "chat gpt-4o-mini",
        "llm",
        "openai",
        "chat",
    )
    assert (span.request_model, span.response_model) == (MODEL, "gpt-4o-mini-2024-07-18")
    assert span.usage == Usage(
        input=1240, output=9, total=1249, cache_read=1024, cache_write=None, reasoning=0
    )
    assert span.cost_usd is not None and span.cost_usd > 0
    assert span.input == HELLO
    assert span.output == {"role": "assistant", "content": "Hello there, nice to meet!"}
    assert span.finish_reason == "stop"
    assert span.tool_calls is None
    assert span.stream is False and span.ttft_ms is None
    assert span.status == "ok" and span.end_ns is not None
    assert span.metadata["params"] == {"temperature": 0.2}
    assert span.metadata["response_id"] == "chatcmpl-Cq7dWc1x2y3z4a5b6c7d8e9f0gH"


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_tools.yaml")
def test_tool_call_round_trip(api: Any, instrumented: Any) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris and in Rome?"}]
    first = api.call("chat.completions.create", model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    calls = first.choices[0].message.tool_calls
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    for call, answer in zip(calls, ("18C, sunny", "24C, clear")):
        messages.append({"role": "tool", "tool_call_id": call.id, "content": answer})
    second = api.call("chat.completions.create", model=MODEL, messages=messages, tools=[WEATHER_TOOL])

    assert second.choices[0].finish_reason == "stop"
    asked, answered = instrumented.spans
    assert asked.finish_reason == "tool_calls"
    assert asked.tool_calls == [
        {"id": "call_pAr1s9Xk2LmQ", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"id": "call_r0Me7Vb3NcTz", "name": "get_weather", "arguments": '{"city":"Rome"}'},
    ]
    assert asked.metadata["tools"] == [WEATHER_TOOL]
    assert asked.output["tool_calls"][1]["function"]["name"] == "get_weather"
    assert answered.input[-1] == {
        "role": "tool",
        "tool_call_id": "call_r0Me7Vb3NcTz",
        "content": "24C, clear",
    }
    assert answered.tool_calls is None
    assert answered.output["content"] == "Paris is 18C and sunny; Rome is 24C and clear."
    assert asked.trace_id != answered.trace_id  # two top-level calls, two traces


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_stream_usage.yaml")
def test_stream_with_usage(api: Any, instrumented: Any) -> None:
    chunks = api.stream("chat.completions.create", model=MODEL, messages=HELLO, **STREAM_USAGE)

    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there, nice to meet!"
    )
    (span,) = instrumented.spans
    assert span.stream is True
    assert span.ttft_ms is not None and span.ttft_ms >= 0
    assert span.usage == Usage(input=1240, output=9, total=1249, cache_read=1024, reasoning=0)
    assert span.cost_usd is not None
    assert span.output == {"role": "assistant", "content": "Hello there, nice to meet!"}
    assert span.finish_reason == "stop"
    assert span.response_model == "gpt-4o-mini-2024-07-18"
    assert "stream_closed_early" not in span.metadata


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_stream.yaml")
def test_stream_without_usage(api: Any, instrumented: Any) -> None:
    chunks = api.stream("chat.completions.create", model=MODEL, messages=HELLO, stream=True)

    assert len(chunks) == 8
    (span,) = instrumented.spans
    assert span.usage is None and span.cost_usd is None
    assert span.output == {"role": "assistant", "content": "Hello there, nice to meet!"}
    assert span.finish_reason == "stop"


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_stream_tools.yaml")
def test_stream_parallel_tool_calls(api: Any, instrumented: Any) -> None:
    messages = [{"role": "user", "content": "Weather in Paris and in Rome?"}]
    api.stream(
        "chat.completions.create", model=MODEL, messages=messages, tools=[WEATHER_TOOL], **STREAM_USAGE
    )

    (span,) = instrumented.spans
    assert span.finish_reason == "tool_calls"
    assert span.tool_calls == [
        {"id": "call_pAr1s9Xk2LmQ", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"id": "call_r0Me7Vb3NcTz", "name": "get_weather", "arguments": '{"city":"Rome"}'},
    ]
    assert span.usage is not None and span.usage.input == 82


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_stream_usage.yaml")
def test_stream_helper_final_completion(api: Any, instrumented: Any) -> None:
    final = api.helper(
        "chat.completions.stream", "get_final_completion", model=MODEL, messages=HELLO,
        stream_options={"include_usage": True},
    )  # fmt: skip

    assert final.choices[0].message.content == "Hello there, nice to meet!"
    assert final.usage.total_tokens == 1249
    (span,) = instrumented.spans  # the helper calls create(stream=True): still one span
    assert span.usage == Usage(input=1240, output=9, total=1249, cache_read=1024, reasoning=0)
    assert span.metadata["helper"] == "chat.completions.stream"
    assert span.output == {"role": "assistant", "content": "Hello there, nice to meet!"}


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_stream_usage.yaml")
def test_stream_helper_exited_early(api: Any, instrumented: Any) -> None:
    events = api.helper(
        "chat.completions.stream", None, take=3, model=MODEL, messages=HELLO,
        stream_options={"include_usage": True},
    )  # fmt: skip

    assert len(events) == 3
    (span,) = instrumented.spans  # ended when the manager closed the stream
    assert span.metadata["stream_closed_early"] is True
    assert span.usage is None
    assert span.output["content"] in ("Hello", "Hello there")


class Greeting(pydantic.BaseModel):
    greeting: str
    words: int


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_parse.yaml")
def test_parse_with_pydantic_model(api: Any, instrumented: Any) -> None:
    result = api.call("chat.completions.parse", model=MODEL, messages=HELLO, response_format=Greeting)

    assert result.choices[0].message.parsed == Greeting(greeting="Hello there, nice to meet!", words=5)
    (span,) = instrumented.spans
    assert span.metadata["helper"] == "chat.completions.parse"
    assert json.loads(span.output["content"]) == {"greeting": "Hello there, nice to meet!", "words": 5}
    assert span.usage is not None and span.usage.output == 17
