"""Raw streams and streamed raw responses keep their numbers, read from what the user reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from test_anthropic_streams import COUNT, TEXT, _assert_complete_stream_span

from staso_integrations.exporters import InMemoryExporter

if TYPE_CHECKING:
    from conftest import Driver

pytestmark = [pytest.mark.vcr, pytest.mark.default_cassette("messages_stream.yaml")]


def test_raw_stream_parsed_and_iterated(llm: Driver, traced: InMemoryExporter) -> None:
    def sync(client: Any) -> list[Any]:
        return list(client.messages.with_raw_response.create(stream=True, **COUNT).parse())

    async def coro(client: Any) -> list[Any]:
        raw = await client.messages.with_raw_response.create(stream=True, **COUNT)
        return [event async for event in await raw.parse()]

    events = llm._run(sync, coro)
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == TEXT
    [span] = traced.spans
    _assert_complete_stream_span(span)
    assert span.metadata["raw_response"] is True


def test_streaming_response_lines_the_user_reads(llm: Driver, traced: InMemoryExporter) -> None:
    def sync(client: Any) -> list[str]:
        with client.messages.with_streaming_response.create(stream=True, **COUNT) as response:
            return list(response.iter_lines())

    async def coro(client: Any) -> list[str]:
        async with client.messages.with_streaming_response.create(stream=True, **COUNT) as response:
            return [line async for line in response.iter_lines()]

    lines = llm._run(sync, coro)
    assert any(line.startswith("event: message_stop") for line in lines)
    [span] = traced.spans
    _assert_complete_stream_span(span)


def test_streaming_response_never_read(llm: Driver, traced: InMemoryExporter) -> None:
    def sync(client: Any) -> None:
        with client.messages.with_streaming_response.create(stream=True, **COUNT):
            pass

    async def coro(client: Any) -> None:
        async with client.messages.with_streaming_response.create(stream=True, **COUNT):
            pass

    llm._run(sync, coro)
    [span] = traced.spans
    assert span.ended and span.status == "ok"
    assert span.usage is None and span.output is None and span.ttft_ms is None
