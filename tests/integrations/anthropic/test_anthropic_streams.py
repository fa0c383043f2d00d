"""Streams through both paths: ``create(stream=True)`` and the ``messages.stream()`` manager."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anthropic
import pytest

from staso_integrations._core.span import Span, Usage
from staso_integrations.pricing import cost_for
from staso_integrations.exporters import InMemoryExporter

if TYPE_CHECKING:
    from conftest import Driver

COUNT = {
    "model": "claude-haiku-4-5",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "Count to three."}],
}
TEXT = "One, two, three."


def _assert_complete_stream_span(span: Span) -> None:
    assert (span.kind, span.status, span.stream) == ("llm", "ok", True)
    assert span.response_model == "claude-haiku-4-5-20251001"
    assert span.finish_reason == "end_turn"
    # output_tokens from the last message_delta (9), not message_start (1)
    assert span.usage == Usage(input=13, output=9, cache_read=0, cache_write=0)
    assert span.output == {"role": "assistant", "content": [{"type": "text", "text": TEXT}]}
    assert span.ttft_ms is not None and 0 <= span.ttft_ms <= span.duration_ms
    assert span.cost_usd is not None
    assert "stream_closed_early" not in span.metadata


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_stream.yaml")
def test_create_stream(llm: Driver, traced: InMemoryExporter) -> None:
    events = llm.create_stream(**COUNT)
    assert [e.type for e in events][:2] == ["message_start", "content_block_start"]
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == TEXT
    [span] = traced.spans
    _assert_complete_stream_span(span)


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_stream.yaml")
@pytest.mark.parametrize("how", ["text_stream", "get_final_message", "until_done"])
def test_stream_manager(llm: Driver, traced: InMemoryExporter, how: str) -> None:
    text, final = llm.manager(how, **COUNT)
    if how == "text_stream":
        assert text == TEXT
    assert isinstance(final, anthropic.types.Message) and final.content[0].text == TEXT
    assert final.usage.output_tokens == 9
    [span] = traced.spans
    _assert_complete_stream_span(span)


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_stream.yaml")
def test_stream_manager_exited_without_reading(llm: Driver, traced: InMemoryExporter) -> None:
    llm.manager("enter_only", **COUNT)
    [span] = traced.spans
    assert span.ended and span.status == "ok"
    assert span.metadata["stream_closed_early"] is True


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_stream.yaml")
def test_stream_broken_early_keeps_partial_output(llm: Driver, traced: InMemoryExporter) -> None:
    events = llm.create_stream(stop_after=4, **COUNT)  # start, block start, "One", ", two"
    assert len(events) == 4
    [span] = traced.spans  # ended once, by close()
    assert span.ended and span.status == "ok"
    assert span.metadata["stream_closed_early"] is True
    assert span.output == {"role": "assistant", "content": [{"type": "text", "text": "One, two"}]}
    assert span.usage == Usage(input=13, output=1, cache_read=0, cache_write=0)  # from message_start
    assert span.finish_reason is None


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_stream_error.yaml")
@pytest.mark.parametrize("path", ["create", "manager"])
def test_stream_error_event_fails_the_span(llm: Driver, traced: InMemoryExporter, path: str) -> None:
    kwargs = {**COUNT, "messages": [{"role": "user", "content": "Write a long story."}]}
    with pytest.raises(anthropic.APIStatusError) as raised:
        if path == "create":
            llm.create_stream(**kwargs)
        else:
            llm.manager("get_final_message", **kwargs)
    assert "overloaded_error" in str(raised.value)
    [span] = traced.spans
    assert span.status == "error" and span.error["type"].startswith("anthropic.")
    assert span.output == {"role": "assistant", "content": [{"type": "text", "text": "One"}]}  # partial
    assert span.response_model == "claude-haiku-4-5-20251001"


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_stream_529.yaml")
@pytest.mark.parametrize("path", ["create", "manager"])
def test_stream_request_refused_529(llm: Driver, traced: InMemoryExporter, path: str) -> None:
    kwargs = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    driver = llm.with_options(max_retries=0)
    with pytest.raises(anthropic.OverloadedError):
        if path == "create":
            driver.create_stream(**kwargs)
        else:
            driver.manager("get_final_message", **kwargs)
    [span] = traced.spans
    assert span.status == "error" and span.stream is True
    assert (span.error["type"], span.error["status_code"]) == ("anthropic.OverloadedError", 529)


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_stream.yaml")
def test_abandoned_stream_ends_its_span_when_collected(traced: InMemoryExporter) -> None:
    import gc

    with anthropic.Anthropic() as client:
        stream = client.messages.create(stream=True, **COUNT)
        next(iter(stream))
        del stream
        gc.collect()
    [span] = traced.spans
    assert span.ended and span.metadata["stream_closed_early"] is True
    assert span.response_model == "claude-haiku-4-5-20251001"


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_stream_server_tool.yaml")
@pytest.mark.parametrize("path", ["create", "manager"])
def test_server_tool_stream_takes_usage_from_the_last_message_delta(
    llm: Driver, traced: InMemoryExporter, path: str
) -> None:
    kwargs = {
        "model": "claude-haiku-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "What did the ECB decide today?"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
    }
    if path == "create":
        llm.create_stream(**kwargs)
    else:
        _, final = llm.manager("get_final_message", **kwargs)
        assert final.stop_reason == "pause_turn"
    [span] = traced.spans
    assert span.finish_reason == "pause_turn"
    # message_start said 2679 input / 3 output; the last message_delta is the truth
    assert span.usage == Usage(input=10682 + 2048, output=64, cache_read=2048, cache_write=0)
    assert span.metadata["web_searches"] == 1  # billed per search: $10 per 1,000 in the price data
    tokens_only = cost_for("anthropic", span.response_model, span.usage)
    assert tokens_only is not None and span.cost_usd == pytest.approx(tokens_only + 0.01)
    assert span.tool_calls is None  # a server tool is not a call for the application to make
    assert span.output["content"][1] == {
        "type": "server_tool_use",
        "id": "srvtoolu_01Xy4Zb7Nc2Md5Pe8Qf1Rg3S",
        "name": "web_search",
        "input": {"query": "ECB decision today"},
    }
