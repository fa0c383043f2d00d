"""``async for`` over an async stream proxy runs our async generator over the SDK stream's own
``__aiter__``; ``anext()`` steps the proxy's ``__anext__``. Both read the one iterator and must
give the same span; only what the SDK's step raises is the stream's error, not what asyncio
throws into a loop the consumer left.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import staso_integrations as st
from staso_integrations._core.runtime import start_span
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations._stream import AsyncStreamProxy
from tests.integrations.test_stream_read import STREAMS

CHUNKS = {api: [chunk for chunk, _ in stream] for api, (_, stream) in STREAMS.items()}


async def _sdk(chunks: list[Any]) -> AsyncIterator[Any]:
    for chunk in chunks:
        yield chunk


class _AnextOnly:
    """A stream with ``__anext__`` and no ``__aiter__``: the proxy steps it with its own."""

    def __init__(self, chunks: list[Any]) -> None:
        self.chunks = iter(chunks)

    async def __anext__(self) -> Any:
        try:
            return next(self.chunks)
        except StopIteration:
            raise StopAsyncIteration from None


async def _by_for(proxy: AsyncStreamProxy) -> list[Any]:
    return [chunk async for chunk in proxy]


async def _by_anext(proxy: AsyncStreamProxy) -> list[Any]:
    got = []
    while True:
        try:
            got.append(await anext(proxy))
        except StopAsyncIteration:
            return got


async def read_mixed(stream: Any) -> list[Any]:
    """``anext()``, an ``async for`` left after one chunk, ``anext()`` again, then ``async for``
    to the end, which must leave nothing for a last ``anext()``."""
    got = [await anext(stream)]
    async for chunk in stream:
        got.append(chunk)
        break
    got.append(await anext(stream))
    got.extend([chunk async for chunk in stream])
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    return got


def _proxy(api: str, sdk: Any, name: str) -> AsyncStreamProxy:
    """``sdk`` behind the proxy ``instrument_all()`` puts on an ``api`` stream, its span ``name``."""
    return AsyncStreamProxy(sdk, start_span(name, "llm"), STREAMS[api][0](True))


Drive = Callable[[AsyncStreamProxy], Awaitable[list[Any]]]
DRIVES = pytest.mark.parametrize("drive", [_by_for, _by_anext], ids=["async for", "anext"])


def _recorded(exporter: InMemoryExporter, name: str) -> dict[str, Any]:
    recorded = exporter.by_name(name).to_dict()
    for varying in ("span_id", "trace_id", "start_ns", "end_ns", "duration_ms", "ttft_ms", "name"):
        recorded.pop(varying)
    return recorded


@DRIVES
@pytest.mark.parametrize("api", STREAMS)
def test_async_for_and_anext_record_the_same_span(api: str, drive: Drive, exporter: InMemoryExporter) -> None:
    st.init(exporter=exporter, processor="simple")
    chunks = CHUNKS[api]
    for name, sdk in (("generator", _sdk(chunks)), ("anext only", _AnextOnly(chunks))):
        assert asyncio.run(drive(_proxy(api, sdk, name))) == chunks
    assert _recorded(exporter, "generator") == _recorded(exporter, "anext only")
    assert exporter.by_name("generator").status == "ok" and exporter.by_name("generator").output


@pytest.mark.parametrize("api", STREAMS)
def test_anext_and_async_for_read_on_from_one_position(api: str, exporter: InMemoryExporter) -> None:
    st.init(exporter=exporter, processor="simple")
    proxy = _proxy(api, _sdk(CHUNKS[api]), "mixed")
    assert asyncio.run(read_mixed(proxy)) == CHUNKS[api]
    span = exporter.by_name("mixed")
    assert span.status == "ok" and not span.metadata.get("stream_closed_early")


@pytest.mark.parametrize("api", STREAMS)
def test_a_loop_left_early_ends_the_span_as_closed_not_failed(api: str, exporter: InMemoryExporter) -> None:
    # asyncio closes the abandoned loop later, and at shutdown cancels that close: neither is
    # the stream's error
    st.init(exporter=exporter, processor="simple")

    async def leave_early() -> None:
        async for _ in _proxy(api, _sdk(CHUNKS[api]), "left"):
            break

    asyncio.run(leave_early())
    gc.collect()
    span = exporter.by_name("left")
    assert span.status == "ok" and span.metadata["stream_closed_early"] is True and span.error is None


@DRIVES
def test_a_task_cancelled_while_it_awaits_a_chunk_fails_the_span(
    drive: Drive, exporter: InMemoryExporter
) -> None:
    st.init(exporter=exporter, processor="simple")
    chunks = CHUNKS["openai chat"]

    async def stalls() -> AsyncIterator[Any]:
        yield chunks[0]
        await asyncio.Event().wait()  # the next chunk never comes
        yield chunks[1]

    async def main() -> None:
        task = asyncio.ensure_future(drive(_proxy("openai chat", stalls(), "cancelled")))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    span = exporter.by_name("cancelled")
    assert span.status == "error" and span.error["type"] == "asyncio.exceptions.CancelledError"


@DRIVES
def test_the_sdks_error_reaches_the_consumer_unchanged_and_fails_the_span(
    drive: Drive, exporter: InMemoryExporter
) -> None:
    st.init(exporter=exporter, processor="simple")
    broken = ConnectionError("stream broke")

    async def breaks() -> AsyncIterator[Any]:
        yield CHUNKS["anthropic messages"][0]
        raise broken

    with pytest.raises(ConnectionError) as raised:
        asyncio.run(drive(_proxy("anthropic messages", breaks(), "broken")))
    assert raised.value is broken
    assert exporter.by_name("broken").status == "error"
