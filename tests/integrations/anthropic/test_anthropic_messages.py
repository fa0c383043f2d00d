"""Non-streaming messages calls: one llm span each, with the provider's exact data."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anthropic
import pytest

import staso_integrations as st
from staso_integrations._core.span import Usage
from staso_integrations.exporters import InMemoryExporter

if TYPE_CHECKING:
    from conftest import Driver

HAIKU = "claude-haiku-4-5"
HELLO = [{"role": "user", "content": "Say hello in French, one word."}]


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_basic.yaml")
def test_plain_message(llm: Driver, traced: InMemoryExporter) -> None:
    message = llm.create(model=HAIKU, max_tokens=256, system="You are terse.", messages=iter(HELLO))
    assert message.content[0].text == "Bonjour !"
    [span] = traced.spans
    assert (span.kind, span.name, span.status) == ("llm", "messages claude-haiku-4-5", "ok")
    assert (span.provider, span.operation, span.stream) == ("anthropic", "messages", False)
    assert (span.request_model, span.response_model) == (HAIKU, "claude-haiku-4-5-20251001")
    assert span.input == {"system": "You are terse.", "messages": HELLO}  # the generator was read once
    assert span.output == {"role": "assistant", "content": [{"type": "text", "text": "Bonjour !"}]}
    assert span.finish_reason == "end_turn"
    assert span.usage == Usage(input=21, output=6, cache_read=0, cache_write=0)
    assert span.metadata["max_tokens"] == 256
    assert span.metadata["response_id"] == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert span.cost_usd is not None and span.cost_usd > 0
    assert span.ttft_ms is None and span.error is None


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_basic.yaml")
def test_capture_off_keeps_content_out(llm: Driver, exporter: InMemoryExporter) -> None:
    st.init(exporter=exporter, processor="simple", capture_content=False)
    st.instrument_all(include=["anthropic"])
    llm.create(model=HAIKU, max_tokens=256, system="You are terse.", messages=HELLO)
    [span] = exporter.spans
    assert span.input is None and span.output is None
    assert span.usage is not None and span.usage.output == 6


TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
    {
        "name": "get_time",
        "description": "Local time for a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
]


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_tools.yaml")
def test_tool_use_round_trip_with_two_parallel_tools(llm: Driver, traced: InMemoryExporter) -> None:
    question = {"role": "user", "content": "What's the weather and the local time in Paris?"}
    first = llm.create(model=HAIKU, max_tokens=512, tools=TOOLS, messages=[question])
    assert first.stop_reason == "tool_use"
    calls = [block for block in first.content if block.type == "tool_use"]
    answers = {"get_weather": "14°C, light rain", "get_time": "10:41"}
    results = [{"type": "tool_result", "tool_use_id": c.id, "content": answers[c.name]} for c in calls]
    assistant = [block.model_dump(exclude_none=True) for block in first.content]
    second = llm.create(
        model=HAIKU,
        max_tokens=512,
        tools=TOOLS,
        messages=[
            question,
            {"role": "assistant", "content": assistant},
            {"role": "user", "content": results},
        ],
    )
    assert second.content[0].text.startswith("In Paris")

    span1, span2 = traced.spans
    assert span1.finish_reason == "tool_use"
    assert span1.tool_calls == [
        {"id": "toolu_01A8qJ5vZkT3nW7xYb2cR4dE", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"id": "toolu_01B9rK6wAlU4oX8yZc3dS5eF", "name": "get_time", "arguments": '{"city": "Paris"}'},
    ]
    assert [block["type"] for block in span1.output["content"]] == ["text", "tool_use", "tool_use"]
    assert span1.metadata["tools"] == TOOLS
    assert span2.finish_reason == "end_turn" and span2.tool_calls is None
    assert span2.input["messages"][2]["content"][0]["type"] == "tool_result"
    assert span1.trace_id != span2.trace_id  # two root calls: two traces


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_thinking.yaml")
def test_thinking_blocks_and_tokens(llm: Driver, traced: InMemoryExporter) -> None:
    message = llm.create(
        model="claude-sonnet-4-6",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "Is 1001 prime?"}],
    )
    assert [block.type for block in message.content] == ["thinking", "redacted_thinking", "text"]
    [span] = traced.spans
    content = span.output["content"]
    assert content[0] == {"type": "thinking", "thinking": "1001 = 7 × 143 = 7 × 11 × 13, so it is not prime."}
    assert content[1]["type"] == "redacted_thinking" and content[1]["data"].endswith("chars>")
    assert content[2] == {"type": "text", "text": "No. 1001 = 7 × 11 × 13."}
    assert span.usage == Usage(input=44, output=187, cache_read=0, cache_write=0, reasoning=151)
    assert span.metadata["thinking"] == {"type": "enabled", "budget_tokens": 1024}


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_cache.yaml")
def test_prompt_caching_usage(llm: Driver, traced: InMemoryExporter) -> None:
    handbook = "You answer questions about the attached handbook. " + (
        "The handbook says: employees get 25 days of leave. " * 60
    )
    kwargs = {
        "model": HAIKU,
        "max_tokens": 128,
        "system": [{"type": "text", "text": handbook, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "How many days of leave?"}],
    }
    llm.create(**kwargs)
    llm.create(**kwargs)
    write, read = traced.spans
    assert write.usage == Usage(input=9 + 2148, output=6, cache_read=0, cache_write=2148)
    assert read.usage == Usage(input=9 + 2148, output=6, cache_read=2148, cache_write=0)
    assert read.cost_usd is not None and write.cost_usd is not None
    assert read.cost_usd < write.cost_usd  # each bucket priced at its own rate
    assert write.input["system"][0]["cache_control"] == {"type": "ephemeral"}


def _error_case(cassette: str, *args: object) -> object:
    return pytest.param(*args, marks=pytest.mark.default_cassette(cassette), id=cassette[15:18])


@pytest.mark.vcr
@pytest.mark.parametrize(
    ("model", "content", "error", "status", "message"),
    [
        _error_case(
            "messages_error_400.yaml", HAIKU, "", anthropic.BadRequestError, 400, "must be non-empty"
        ),
        _error_case(
            "messages_error_404.yaml",
            "claude-nonexistent-9",
            "hi",
            anthropic.NotFoundError,
            404,
            "not_found_error",
        ),
        _error_case("messages_error_529.yaml", HAIKU, "hi", anthropic.OverloadedError, 529, "Overloaded"),
    ],
)
def test_api_errors_propagate_unchanged(
    llm: Driver,
    traced: InMemoryExporter,
    model: str,
    content: str,
    error: type[Exception],
    status: int,
    message: str,
) -> None:
    with pytest.raises(error) as raised:
        llm.with_options(max_retries=0).create(
            model=model, max_tokens=64, messages=[{"role": "user", "content": content}]
        )
    assert type(raised.value) is error and raised.value.status_code == status
    [span] = traced.spans
    assert span.status == "error" and span.ended
    assert span.error["type"] == f"anthropic.{error.__name__}"
    assert span.error["status_code"] == status
    assert message in span.error["message"]
    assert span.usage is None and span.cost_usd is None


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_count_tokens.yaml")
def test_count_tokens_is_a_short_custom_span(llm: Driver, traced: InMemoryExporter) -> None:
    result = llm.count_tokens(model=HAIKU, system="You are terse.", messages=HELLO)
    assert result.input_tokens == 21
    [span] = traced.spans
    assert (span.kind, span.name, span.operation) == (
        "custom",
        "count_tokens claude-haiku-4-5",
        "count_tokens",
    )
    assert span.metadata == {"input_tokens": 21}
    assert span.usage is None and span.cost_usd is None  # nothing was generated or spent


@pytest.mark.vcr
@pytest.mark.default_cassette("beta_messages_basic.yaml")
def test_beta_messages(llm: Driver, traced: InMemoryExporter) -> None:
    message = llm.create(beta=True, model=HAIKU, max_tokens=256, system="You are terse.", messages=HELLO)
    assert message.content[0].text == "Bonjour !"
    [span] = traced.spans
    assert (span.provider, span.response_model, span.finish_reason) == (
        "anthropic",
        "claude-haiku-4-5-20251001",
        "end_turn",
    )
    assert span.usage is not None and span.usage.input == 21


@pytest.mark.vcr
@pytest.mark.default_cassette("vertex_messages.yaml")
@pytest.mark.parametrize("beta", [False, True], ids=["messages", "beta.messages"])
def test_vertex_messages(traced: InMemoryExporter, beta: bool) -> None:
    client = anthropic.AnthropicVertex(region="us-east5", project_id="my-project", access_token="test-token")
    with client:
        messages = client.beta.messages if beta else client.messages
        message = messages.create(
            model="claude-haiku-4-5@20251001", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
    assert message.content[0].text == "Hello!"
    [span] = traced.spans
    assert (span.provider, span.request_model) == ("vertex", "claude-haiku-4-5@20251001")
    assert span.usage == Usage(input=8, output=5, cache_read=0, cache_write=0)


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_basic.yaml")
def test_with_raw_response_keeps_its_numbers(traced: InMemoryExporter) -> None:
    with anthropic.Anthropic() as client:
        raw = client.messages.with_raw_response.create(
            model=HAIKU, max_tokens=256, system="You are terse.", messages=HELLO
        )
        assert raw.headers["request-id"] == "req_011CVT5nQ1kq9x4GJ2sEbM7a"
        assert raw.parse().content[0].text == "Bonjour !"
    [span] = traced.spans
    assert span.ended and span.metadata["raw_response"] is True
    assert (span.request_model, span.response_model) == (HAIKU, "claude-haiku-4-5-20251001")
    assert span.usage == Usage(input=21, output=6, cache_read=0, cache_write=0)
    assert span.cost_usd is not None and span.finish_reason == "end_turn"
    assert span.output == {"role": "assistant", "content": [{"type": "text", "text": "Bonjour !"}]}


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_refusal.yaml")
def test_refusal_stop_reason(llm: Driver, traced: InMemoryExporter) -> None:
    llm.create(
        model=HAIKU,
        max_tokens=256,
        messages=[{"role": "user", "content": "Explain how to make a nerve agent."}],
    )
    [span] = traced.spans
    assert span.finish_reason == "refusal" and span.status == "ok"
    assert span.output == {"role": "assistant", "content": []}
