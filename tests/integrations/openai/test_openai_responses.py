"""Responses API: create, stream (raw and helper), parse, function calls."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from staso_integrations._core.span import Usage
from staso_integrations.pricing import cost_for

MODEL = "o4-mini"
ASK = {"model": MODEL, "instructions": "Answer in one sentence.", "input": "Why is the sky blue?"}
ANSWER = "Sunlight scatters off air molecules, and blue light scatters the most."


@pytest.mark.vcr
@pytest.mark.default_cassette("responses_create.yaml")
def test_create(api: Any, instrumented: Any) -> None:
    result = api.call("responses.create", **ASK)

    assert result.output_text == ANSWER
    (span,) = instrumented.spans
    assert (span.name, span.operation, span.provider) == ("responses o4-mini", "responses", "openai")
    assert span.response_model == "o4-mini-2025-04-16"
    assert span.usage == Usage(
        input=2100, output=212, total=2312, cache_read=2048, cache_write=0, reasoning=192
    )
    assert span.cost_usd is not None
    assert span.input == [
        {"role": "system", "content": "Answer in one sentence."},
        {"role": "user", "content": "Why is the sky blue?"},
    ]
    assert span.output == {"role": "assistant", "content": ANSWER}
    assert span.finish_reason == "completed"


@pytest.mark.vcr
@pytest.mark.default_cassette("responses_tools.yaml")
def test_function_call(api: Any, instrumented: Any) -> None:
    tool = {
        "type": "function", "name": "get_weather", "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                       "additionalProperties": False},
        "strict": True,
    }  # fmt: skip
    api.call(
        "responses.create",
        model=MODEL,
        input=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[tool],
    )

    (span,) = instrumented.spans
    assert span.tool_calls == [
        {"id": "call_wTh3rP4r1s", "name": "get_weather", "arguments": '{"city":"Paris"}'}
    ]
    assert span.metadata["tools"] == [tool]
    assert span.output is None  # no text, only the call


@pytest.mark.vcr
@pytest.mark.default_cassette("responses_stream.yaml")
def test_stream(api: Any, instrumented: Any) -> None:
    events = api.stream("responses.create", stream=True, **ASK)

    assert [e.type for e in events][-1] == "response.completed"
    (span,) = instrumented.spans
    assert span.stream is True and span.ttft_ms is not None
    assert span.usage == Usage(
        input=2100, output=212, total=2312, cache_read=2048, cache_write=0, reasoning=192
    )
    assert span.output == {"role": "assistant", "content": ANSWER}
    assert span.finish_reason == "completed"


@pytest.mark.vcr
@pytest.mark.default_cassette("responses_stream.yaml")
def test_stream_closed_early_keeps_partial_text(api: Any, instrumented: Any) -> None:
    api.stream("responses.create", stream=True, take=7, close=True, **ASK)

    (span,) = instrumented.spans
    assert span.metadata["stream_closed_early"] is True
    assert span.output == {"role": "assistant", "content": "Sunlight scatters"}
    assert span.usage is None and span.finish_reason is None
    assert span.response_model == "o4-mini-2025-04-16"


@pytest.mark.vcr
@pytest.mark.default_cassette("responses_stream.yaml")
def test_stream_helper(api: Any, instrumented: Any) -> None:
    final = api.helper("responses.stream", "get_final_response", **ASK)

    assert final.output_text == ANSWER
    (span,) = instrumented.spans
    assert span.usage is not None and span.usage.reasoning == 192
    assert span.output == {"role": "assistant", "content": ANSWER}


class Answer(pydantic.BaseModel):
    answer: str


@pytest.mark.vcr
@pytest.mark.default_cassette("responses_parse.yaml")
def test_parse(api: Any, instrumented: Any) -> None:
    result = api.call("responses.parse", text_format=Answer, **ASK)

    assert result.output_parsed == Answer(answer=ANSWER)
    (span,) = instrumented.spans
    assert span.usage is not None and span.usage.output == 240
    assert span.output["content"] == '{"answer":"' + ANSWER + '"}'


@pytest.mark.vcr
@pytest.mark.default_cassette("responses_web_search.yaml")
def test_web_searches_are_priced_per_search(api: Any, instrumented: Any) -> None:
    response = api.call(
        "responses.create",
        model="gpt-4.1-mini",
        input="What did the ECB decide today?",
        tools=[{"type": "web_search"}],
    )

    assert response.output_text == "The ECB kept its three key interest rates unchanged today."
    (span,) = instrumented.spans
    assert span.metadata["web_searches"] == 2 and span.tool_calls is None
    tokens_only = cost_for("openai", "gpt-4.1-mini-2025-04-14", span.usage)
    assert tokens_only is not None and span.cost_usd == pytest.approx(tokens_only + 2 * 0.01)
