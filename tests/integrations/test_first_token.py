"""Time to first token is the time of the first output token, not of the first event.

Each stream is a cassette's recorded body, served through the SDK's own HTTP client with a
pause just before the first event that carries output: the role chunk, ``response.created``,
``message_start``, ``content_block_start`` and pings all arrive at once, the first token
``PAUSE_S`` later. A TTFT taken at the first event would be a few milliseconds.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import yaml

from staso_integrations.exporters import InMemoryExporter

import staso_integrations as st

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
PAUSE_S = 0.4
MESSAGES = [{"role": "user", "content": "Say hello in five words."}]


def _events(cassette: str) -> list[bytes]:
    (interaction,) = yaml.safe_load((CASSETTES / cassette).read_text())["interactions"]
    body = interaction["response"]["body"]["string"]
    return [event.encode() + b"\n\n" for event in body.split("\n\n") if event.strip()]


def _paused(events: list[bytes], first_output: re.Pattern[bytes]) -> Iterator[bytes]:
    paused = False
    for event in events:
        if not paused and first_output.search(event):
            paused = True
            time.sleep(PAUSE_S)
        yield event


async def _apaused(events: list[bytes], first_output: re.Pattern[bytes]) -> AsyncIterator[bytes]:
    for event in _paused(events, first_output):  # the pause blocks the loop: the client waits in it
        yield event


def _http_client(sdk: Any, asynchronous: bool, events: list[bytes], first_output: re.Pattern[bytes]) -> Any:
    """The SDK's own HTTP library (httpx2 for openai 3.x / anthropic 2.x, else httpx)."""
    httpx = getattr(sdk._base_client, "httpx2", None) or sdk._base_client.httpx
    headers = {"content-type": "text/event-stream"}
    if asynchronous:
        handler = lambda request: httpx.Response(200, headers=headers, content=_apaused(events, first_output))  # noqa: E731
        return httpx.AsyncClient(transport=httpx.MockTransport(handler))
    handler = lambda request: httpx.Response(200, headers=headers, content=_paused(events, first_output))  # noqa: E731
    return httpx.Client(transport=httpx.MockTransport(handler))


def _openai(asynchronous: bool, http_client: Any) -> Any:
    cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
    return cls(api_key="test-key", max_retries=0, http_client=http_client)


def _anthropic(asynchronous: bool, http_client: Any) -> Any:
    cls = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
    return cls(api_key="test-key", max_retries=0, http_client=http_client)


STREAMS: dict[str, tuple[str, bytes, Any, Callable[[Any], Any]]] = {
    # name: (cassette, first output event, SDK, the call on a client)
    "openai chat": (
        "openai/chat_stream.yaml", rb'"content":"[^"]', openai,
        lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True),
    ),
    "openai chat tool arguments": (
        "openai/chat_stream_tools.yaml", rb'"arguments":"[^"]', openai,
        lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True),
    ),
    "openai legacy function call": (
        "openai/chat_functions_legacy_stream.yaml", rb'"arguments":"[^"]', openai,
        lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True),
    ),
    "openai responses": (
        "openai/responses_stream.yaml", rb"response\.output_text\.delta", openai,
        lambda c: c.responses.create(model="gpt-4o-mini", input="Say hello", stream=True),
    ),
    "anthropic messages": (
        "anthropic/messages_stream.yaml", rb'"text_delta","text":"[^"]', anthropic,
        lambda c: c.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=MESSAGES, stream=True),
    ),
}  # fmt: skip


def _consume(call: Callable[[Any], Any], client: Any, asynchronous: bool) -> None:
    if not asynchronous:
        for _ in call(client):
            pass
        return

    async def main() -> None:
        async for _ in await call(client):
            pass
        await client.close()

    asyncio.run(main())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("name", list(STREAMS))
def test_ttft_waits_for_the_first_output_token(name: str, mode: str, exporter: InMemoryExporter) -> None:
    cassette, first_output, sdk, call = STREAMS[name]
    events = _events(cassette)
    pattern = re.compile(first_output)
    assert not pattern.search(events[0]), "the stream must open with events that carry no token"
    st.instrument_all(include=["openai", "anthropic"])
    asynchronous = mode == "async"
    factory = _openai if sdk is openai else _anthropic
    _consume(call, factory(asynchronous, _http_client(sdk, asynchronous, events, pattern)), asynchronous)

    (span,) = exporter.spans
    assert span.stream is True and span.ttft_ms is not None
    assert PAUSE_S * 1000 <= span.ttft_ms <= span.duration_ms


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_langchain_ttft_waits_for_the_first_output_token(mode: str, exporter: InMemoryExporter) -> None:
    from langchain_openai import ChatOpenAI

    events = _events("openai/chat_stream.yaml")
    pattern = re.compile(STREAMS["openai chat"][1])
    st.instrument_all(include=["langchain"])  # LangChain's own token callbacks, no provider hook
    asynchronous = mode == "async"
    client = _http_client(openai, asynchronous, events, pattern)
    kwargs: dict[str, Any] = {"http_async_client" if asynchronous else "http_client": client}
    model = ChatOpenAI(model="gpt-4o-mini", api_key="test-key", max_retries=0, **kwargs)
    if asynchronous:

        async def main() -> None:
            async for _ in model.astream("Say hello in five words."):
                pass

        asyncio.run(main())
    else:
        for _ in model.stream("Say hello in five words."):
            pass

    (span,) = exporter.spans
    assert span.kind == "llm" and span.stream is True and span.ttft_ms is not None
    assert PAUSE_S * 1000 <= span.ttft_ms <= span.duration_ms
