"""Methods the user bound before ``instrument_all()`` are traced too (through the client's request()).

Each test takes the SDK method (or builds the stream manager) first, instruments second, then
calls: the bound method holds the SDK's original function, which the resource hooks never see.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from test_anthropic_instrumentor import _otel
from test_anthropic_streams import COUNT, TEXT, _assert_complete_stream_span

import staso_integrations as st
from staso_integrations._core.span import Usage
from staso_integrations.exporters import InMemoryExporter

HAIKU = "claude-haiku-4-5"
HELLO = [{"role": "user", "content": "Say hello in French, one word."}]
MODES = ["sync", "async"]


def sync_and_async(cassette: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Replay ``cassette``, once with each client."""

    def mark(test: Callable[..., None]) -> Callable[..., None]:
        test = pytest.mark.parametrize("mode", MODES)(test)
        return pytest.mark.vcr(pytest.mark.default_cassette(cassette)(test))

    return mark


def hello(method: Any) -> Any:
    return method(model=HAIKU, max_tokens=256, system="You are terse.", messages=HELLO)


async def _settle(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def bound_call(mode: str, bind: Callable[[Any], Any], use: Callable[[Any], Any], **options: Any) -> Any:
    """``bind(client)`` before instrumenting, then ``use(bound)`` (awaited when it is a coroutine)."""
    if mode == "sync":
        with anthropic.Anthropic(**options) as client:
            bound = bind(client)
            assert st.instrument_all(include=["anthropic"])["anthropic"] == "instrumented"
            return use(bound)

    async def main() -> Any:
        async with anthropic.AsyncAnthropic(**options) as client:
            bound = bind(client)
            assert st.instrument_all(include=["anthropic"])["anthropic"] == "instrumented"
            return await _settle(use(bound))

    return asyncio.run(main())


@sync_and_async("messages_basic.yaml")
def test_bound_create(exporter: InMemoryExporter, mode: str) -> None:
    message = bound_call(
        mode,
        lambda client: client.messages.create,
        lambda create: create(model=HAIKU, max_tokens=256, system="You are terse.", messages=iter(HELLO)),
    )
    assert message.content[0].text == "Bonjour !"
    [span] = exporter.spans
    assert (span.kind, span.name, span.provider, span.status, span.stream) == (
        "llm", "messages claude-haiku-4-5", "anthropic", "ok", False,
    )  # fmt: skip
    assert span.input == {"system": "You are terse.", "messages": HELLO}  # the generator was read once
    assert span.output == {"role": "assistant", "content": [{"type": "text", "text": "Bonjour !"}]}
    assert span.usage == Usage(input=21, output=6, cache_read=0, cache_write=0)
    assert span.metadata["max_tokens"] == 256 and span.finish_reason == "end_turn"


def _iterate(stream: Any) -> Any:
    if hasattr(stream, "__aiter__"):

        async def events() -> list[Any]:
            async with stream:
                return [event async for event in stream]

        return events()
    with stream:
        return list(stream)


@sync_and_async("messages_stream.yaml")
def test_bound_create_stream(exporter: InMemoryExporter, mode: str) -> None:
    async def open_async(create: Any) -> Any:
        return await _settle(_iterate(await create(stream=True, **COUNT)))

    events = bound_call(
        mode,
        lambda client: client.messages.create,
        (lambda create: _iterate(create(stream=True, **COUNT))) if mode == "sync" else open_async,
    )
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == TEXT
    [span] = exporter.spans
    _assert_complete_stream_span(span)


def _final_message(manager: Any) -> Any:
    if hasattr(manager, "__aenter__"):

        async def run() -> Any:
            async with manager as stream:
                return "".join([text async for text in stream.text_stream]), await stream.get_final_message()

        return run()
    with manager as stream:
        return "".join(stream.text_stream), stream.get_final_message()


@sync_and_async("messages_stream.yaml")
@pytest.mark.parametrize("held", ["method", "manager"])
def test_bound_stream_helper(exporter: InMemoryExporter, mode: str, held: str) -> None:
    """``stream = client.messages.stream`` or a manager built before instrumenting."""
    if held == "method":
        text, final = bound_call(
            mode, lambda c: c.messages.stream, lambda stream: _final_message(stream(**COUNT))
        )
    else:
        text, final = bound_call(mode, lambda c: c.messages.stream(**COUNT), _final_message)
    assert text == TEXT and final.usage.output_tokens == 9
    [span] = exporter.spans
    _assert_complete_stream_span(span)


@sync_and_async("beta_messages_basic.yaml")
def test_bound_beta_create(exporter: InMemoryExporter, mode: str) -> None:
    message = bound_call(mode, lambda client: client.beta.messages.create, hello)
    assert message.content[0].text == "Bonjour !"
    [span] = exporter.spans
    assert (span.provider, span.response_model, span.usage.input) == (
        "anthropic",
        "claude-haiku-4-5-20251001",
        21,
    )


@sync_and_async("messages_count_tokens.yaml")
def test_bound_count_tokens(exporter: InMemoryExporter, mode: str) -> None:
    result = bound_call(
        mode,
        lambda client: client.messages.count_tokens,
        lambda count: count(model=HAIKU, system="You are terse.", messages=HELLO),
    )
    assert result.input_tokens == 21
    [span] = exporter.spans
    assert (span.kind, span.name, span.operation, span.metadata) == (
        "custom", "count_tokens claude-haiku-4-5", "count_tokens", {"input_tokens": 21},
    )  # fmt: skip
    assert span.usage is None


@sync_and_async("messages_basic.yaml")
def test_bound_with_raw_response(exporter: InMemoryExporter, mode: str) -> None:
    raw = bound_call(mode, lambda client: client.messages.with_raw_response.create, hello)
    assert raw.headers["request-id"] == "req_011CVT5nQ1kq9x4GJ2sEbM7a"
    [span] = exporter.spans
    assert span.ended and span.metadata["raw_response"] is True and span.request_model == HAIKU
    assert span.usage == Usage(
        input=21, output=6, cache_read=0, cache_write=0
    )  # read from the body the SDK read


@pytest.mark.vcr
@pytest.mark.default_cassette("vertex_messages.yaml")
def test_bound_vertex_beta_create(exporter: InMemoryExporter) -> None:
    with anthropic.AnthropicVertex(
        region="us-east5", project_id="my-project", access_token="test-token"
    ) as client:
        create = client.beta.messages.create
        st.instrument_all(include=["anthropic"])
        create(model="claude-haiku-4-5@20251001", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    [span] = exporter.spans
    assert (span.provider, span.request_model) == ("vertex", "claude-haiku-4-5@20251001")
    assert span.usage == Usage(input=8, output=5, cache_read=0, cache_write=0)


@sync_and_async("messages_basic.yaml")
def test_bound_call_is_reported_once(exporter: InMemoryExporter, mode: str) -> None:
    """Neither doubled with the SDK's own OTel span, nor with a resource hook's span."""
    provider, memory = _otel()
    bound_call(
        mode,
        lambda client: client.messages.create,
        hello,
        open_telemetry={"tracer_provider": provider},
    )
    assert memory.get_finished_spans() == ()
    assert len(exporter.spans) == 1
