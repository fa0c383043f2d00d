"""Embeddings, legacy completions, Azure, raw/streaming responses, API errors."""

from __future__ import annotations

import inspect
from typing import Any

import openai
import pytest

from staso_integrations._core.span import Usage
from staso_integrations.integrations import _raw_body

HELLO = [{"role": "user", "content": "Say hello in five words."}]


@pytest.mark.vcr
@pytest.mark.default_cassette("embeddings.yaml")
def test_embeddings(api: Any, instrumented: Any) -> None:
    result = api.call(
        "embeddings.create", model="text-embedding-3-small", input=["red", "blue"], dimensions=4
    )

    assert len(result.data) == 2 and len(result.data[1].embedding) == 4
    (span,) = instrumented.spans
    assert (span.kind, span.operation, span.name) == (
        "embedding",
        "embeddings",
        "embeddings text-embedding-3-small",
    )
    assert span.usage == Usage(input=2, output=0, total=2)
    assert span.cost_usd is not None
    assert span.input == ["red", "blue"]
    assert span.output == {"count": 2, "dimensions": 4}  # never the vectors


@pytest.mark.vcr
@pytest.mark.default_cassette("completions.yaml")
def test_legacy_completion(api: Any, instrumented: Any) -> None:
    result = api.call("completions.create", model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=5)

    assert result.choices[0].text == " Hi there!"
    (span,) = instrumented.spans
    assert (span.operation, span.output, span.finish_reason) == ("completion", " Hi there!", "stop")
    assert span.usage == Usage(input=2, output=3, total=5)
    assert span.input == "Say hi"


@pytest.mark.vcr
@pytest.mark.default_cassette("completions_stream.yaml")
def test_legacy_completion_stream(api: Any, instrumented: Any) -> None:
    chunks = api.stream(
        "completions.create", model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=5,
        stream=True, stream_options={"include_usage": True},
    )  # fmt: skip

    assert "".join(c.choices[0].text for c in chunks if c.choices) == " Hi there!"
    (span,) = instrumented.spans
    assert span.output == " Hi there!" and span.finish_reason == "stop"
    assert span.usage == Usage(input=2, output=3, total=5)


@pytest.mark.vcr
@pytest.mark.default_cassette("azure_chat.yaml")
def test_azure(azure: Any, instrumented: Any) -> None:
    result = azure.call("chat.completions.create", model="gpt-4o-mini", messages=HELLO)

    assert result.choices[0].message.content == "Hello there, nice to meet!"
    (span,) = instrumented.spans
    assert span.provider == "azure"
    assert span.request_model == "gpt-4o-mini" and span.response_model == "gpt-4o-mini-2024-07-18"
    assert span.usage == Usage(input=15, output=7, total=22, cache_read=0, reasoning=0)
    assert span.cost_usd is not None


@pytest.mark.vcr
@pytest.mark.default_cassette("azure_content_filter.yaml")
def test_azure_content_filter_choice_without_message(azure: Any, instrumented: Any) -> None:
    messages = [{"role": "user", "content": "Something the filter blocks."}]
    result = azure.call("chat.completions.create", model="gpt-4o-mini", messages=messages)

    assert result.choices[0].finish_reason == "content_filter" and result.choices[0].message is None
    (span,) = instrumented.spans
    assert span.status == "ok"
    assert span.finish_reason == "content_filter"
    assert span.output is None and span.tool_calls is None
    assert span.usage == Usage(input=0, output=0, total=0)


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_create.yaml")
def test_with_raw_response_returns_the_sdk_object(api: Any, instrumented: Any) -> None:
    raw = api.call(
        "chat.completions.with_raw_response.create", model="gpt-4o-mini", messages=HELLO, temperature=0.2
    )

    assert type(raw) is openai._legacy_response.LegacyAPIResponse
    assert raw.headers["x-request-id"] == "req_7f3c2a9d1e8b4c6f0a5d2e1b9c8a7f6e"
    assert raw.parse().choices[0].message.content == "Hello there, nice to meet!"
    (span,) = instrumented.spans
    assert span.metadata["raw_response"] == "true"
    assert span.usage is not None and span.usage.input == 1240
    assert span.output == {"role": "assistant", "content": "Hello there, nice to meet!"}


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_create.yaml")
def test_with_raw_response_body_is_built_once(
    api: Any, instrumented: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The span is filled from the object the SDK's ``parse()`` keeps and gives the user (as
    LangChain's OpenAI model reads every call), not from a second build of the same body."""
    built: list[type] = []
    construct = openai._models.construct_type

    def counting(*, value: Any, type_: Any, **kwargs: Any) -> Any:
        if isinstance(value, dict) and "choices" in value:  # the completion itself, not its parts
            built.append(type_)
        return construct(value=value, type_=type_, **kwargs)

    monkeypatch.setattr(openai._models, "construct_type", counting)
    monkeypatch.setattr(openai._base_client, "construct_type", counting, raising=False)
    raw = api.call(
        "chat.completions.with_raw_response.create", model="gpt-4o-mini", messages=HELLO, temperature=0.2
    )
    completion = raw.parse()

    assert raw.parse() is completion and completion.choices[0].message.content == "Hello there, nice to meet!"
    assert len(built) == 1
    (span,) = instrumented.spans
    assert span.usage is not None and span.usage.total == 1249 and span.finish_reason == "stop"
    assert span.metadata["response_id"] == completion.id


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_errors.yaml")
@pytest.mark.parametrize(
    ("status", "error"),
    [(400, openai.BadRequestError), (429, openai.RateLimitError), (500, openai.InternalServerError)],
)
def test_api_errors_reach_the_user_unchanged(api: Any, instrumented: Any, status: int, error: type) -> None:
    messages = [{"role": "user", "content": f"error {status}"}]
    with pytest.raises(error) as raised:
        api.call("chat.completions.create", model="gpt-4o-mini", messages=messages)

    assert raised.value.status_code == status
    (span,) = instrumented.spans
    assert span.status == "error"
    assert span.error["type"] == f"openai.{error.__name__}"
    assert span.error["status_code"] == status
    assert raised.value.message in span.error["message"]
    assert span.end_ns is not None


@pytest.mark.vcr(allow_playback_repeats=True)
@pytest.mark.default_cassette("chat_create.yaml")
def test_with_raw_response_asks_once_per_class_whether_parse_is_a_coroutine(
    api: Any, instrumented: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LangChain's OpenAI model makes every call ``with_raw_response``: the question, five Python
    calls deep in ``inspect``, is asked of the response class once, not per call."""
    asked: list[Any] = []
    real = inspect.iscoroutinefunction
    monkeypatch.setattr(_raw_body, "_plain_parse", {})
    monkeypatch.setattr(
        inspect, "iscoroutinefunction", lambda function: asked.append(function) or real(function)
    )
    for _ in range(3):
        raw = api.call(
            "chat.completions.with_raw_response.create", model="gpt-4o-mini", messages=HELLO, temperature=0.2
        )
        assert raw.parse().choices[0].message.content == "Hello there, nice to meet!"

    assert len(asked) == 1
    assert [span.usage.total for span in instrumented.spans] == [1249] * 3


def test_a_raw_response_whose_parse_is_a_coroutine_is_left_to_the_user() -> None:
    class LegacyAPIResponse:  # the name our reader recognises, with an awaitable parse()
        async def parse(self) -> None:
            raise AssertionError("never called by us")

    for _ in range(2):  # the class's answer is remembered, and is the same
        assert _raw_body._parsed(LegacyAPIResponse()) is None
