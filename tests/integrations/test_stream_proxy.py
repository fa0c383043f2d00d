"""The stream proxy on the SDKs' real stream objects (OpenAI and Anthropic, from cassettes).

What users do with the SDK's stream must keep working on the proxy we return in its place:
``isinstance``, attributes, ``copy.copy``, ``with``/``async with``, ``close()``, and handing
the stream to another thread or task. Each case still ends the span exactly once.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import pickle
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest
import wrapt

import staso_integrations as st
from staso_integrations._core.runtime import start_span
from staso_integrations._core.span import Span
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations._stream import AsyncStreamProxy, SyncStreamProxy
from tests.conftest import REPO
from tests.integrations.test_stream_async import read_mixed


@dataclass(frozen=True)
class Provider:
    name: str
    cassette: str
    chunks: int  # items the recorded stream holds
    request: dict[str, Any]

    def client(self, asynchronous: bool) -> Any:
        sdk: Any = openai if self.name == "openai" else anthropic
        cls = (
            getattr(sdk, "AsyncOpenAI" if self.name == "openai" else "AsyncAnthropic")
            if asynchronous
            else (sdk.OpenAI if self.name == "openai" else sdk.Anthropic)
        )
        return cls(api_key="test-key", max_retries=0)

    def create(self, client: Any) -> Any:
        """The SDK's stream call (awaitable for an async client)."""
        api = client.chat.completions if self.name == "openai" else client.messages
        return api.create(stream=True, **self.request)

    def sdk_class(self, asynchronous: bool) -> type:
        sdk: Any = openai if self.name == "openai" else anthropic
        return sdk.AsyncStream if asynchronous else sdk.Stream


OPENAI = Provider(
    "openai",
    "openai/chat_stream.yaml",
    8,
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello in five words."}]},
)
ANTHROPIC = Provider(
    "anthropic",
    "anthropic/messages_stream.yaml",
    8,
    {
        "model": "claude-haiku-4-5",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Count to three."}],
    },
)


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(REPO / "cassettes")


@pytest.fixture(params=[OPENAI, ANTHROPIC], ids=lambda p: p.name)
def provider(request: pytest.FixtureRequest) -> Provider:
    return request.param


@pytest.fixture
def default_cassette_name(provider: Provider) -> str:
    return provider.cassette


@pytest.fixture
def traced(exporter: InMemoryExporter) -> Iterator[InMemoryExporter]:
    report = st.instrument_all(include=["openai", "anthropic"])
    assert report["openai"] == report["anthropic"] == "instrumented"
    yield exporter
    st.uninstrument_all()


def _one_span(exporter: InMemoryExporter, *, early: bool) -> Span:
    (span,) = exporter.spans
    assert span.kind == "llm" and span.status == "ok" and span.stream is True
    assert bool(span.metadata.get("stream_closed_early")) is early
    return span


@pytest.mark.vcr
def test_sync_stream_passes_for_the_sdk_stream(provider: Provider, traced: InMemoryExporter) -> None:
    stream = provider.create(provider.client(False))
    sdk_class = provider.sdk_class(False)
    assert isinstance(stream, sdk_class) and stream.__class__ is sdk_class
    assert type(stream) is SyncStreamProxy  # what the README says type() returns
    assert stream.response.status_code == 200 and stream.response is stream.__wrapped__.response

    twin = copy.copy(stream)
    assert isinstance(twin, sdk_class) and twin is not stream and twin.response is stream.response
    del twin
    gc.collect()
    assert traced.spans == []  # a collected copy does not end the stream's span

    twin = copy.copy(stream)
    first = next(stream)
    rest = list(twin)  # a copy is the same stream, as the SDK's copy is: it reads on
    assert first is not None and len(rest) == provider.chunks - 1
    assert list(stream) == []
    _one_span(traced, early=False)


@pytest.mark.vcr
def test_next_and_for_read_on_from_one_position(provider: Provider, traced: InMemoryExporter) -> None:
    # A for loop over the proxy runs the SDK stream's __iter__, next() continues the same
    # iterator: however the user mixes them, each chunk comes once, in order.
    stream = provider.create(provider.client(False))
    got = [next(stream)]
    for chunk in stream:
        got.append(chunk)
        break
    got.append(next(stream))
    got.extend(stream)
    with pytest.raises(StopIteration):
        next(stream)
    assert len(got) == len({id(chunk) for chunk in got}) == provider.chunks
    assert got[0].__class__.__name__ in ("ChatCompletionChunk", "RawMessageStartEvent")
    span = _one_span(traced, early=False)
    assert span.output  # the text of every chunk, read once


@pytest.mark.vcr
def test_anext_and_async_for_read_on_from_one_position(provider: Provider, traced: InMemoryExporter) -> None:
    # async for runs the SDK stream's __aiter__ through our generator, anext() steps the same one
    async def main() -> list[Any]:
        async with provider.client(True) as client:
            return await read_mixed(await provider.create(client))

    got = asyncio.run(main())
    assert len(got) == len({id(chunk) for chunk in got}) == provider.chunks
    assert _one_span(traced, early=False).output


def _sdk_step(provider: Provider, asynchronous: bool) -> Any:
    """The code a loop over the proxy must run per chunk besides the SDK's ``__stream__``:
    none for OpenAI's streams, whose ``__iter__``/``__aiter__`` only re-yield ``_iterator``;
    Anthropic's own, which also hands each item to its stream observer.
    """
    if provider.name == "openai":
        return None
    sdk_class = provider.sdk_class(asynchronous)
    return (sdk_class.__aiter__ if asynchronous else sdk_class.__iter__).__code__


@pytest.mark.vcr
def test_a_loop_skips_the_sdks_step_only_where_it_just_reyields(
    provider: Provider, traced: InMemoryExporter
) -> None:
    stream = provider.create(provider.client(False))
    loop = iter(stream)
    got = [next(loop)]
    stepped = stream._self_state.iterator
    if _sdk_step(provider, False) is None:
        assert stepped is stream.__wrapped__._iterator
    else:
        assert stepped.gi_code is _sdk_step(provider, False)
    got.extend(loop)
    assert len(got) == len({id(chunk) for chunk in got}) == provider.chunks
    assert _one_span(traced, early=False).output


@pytest.mark.vcr
def test_an_async_loop_skips_the_sdks_step_only_where_it_just_reyields(
    provider: Provider, traced: InMemoryExporter
) -> None:
    async def main() -> tuple[Any, Any, list[Any]]:
        async with provider.client(True) as client:
            stream = await provider.create(client)
            got = [chunk async for chunk in stream]
            return stream.__wrapped__._iterator, stream._self_state.iterator, got

    sdk_iterator, stepped, got = asyncio.run(main())
    if _sdk_step(provider, True) is None:
        assert stepped is sdk_iterator
    else:
        assert stepped.ag_code is _sdk_step(provider, True)
    assert len(got) == len({id(chunk) for chunk in got}) == provider.chunks
    assert _one_span(traced, early=False).output


class _Counting:
    """A stream whose ``__iter__`` re-yields ``_iterator`` but also counts: it must run."""

    def __init__(self, items: list[int]) -> None:
        self._iterator = iter(items)
        self.seen = 0

    def __iter__(self) -> Iterator[int]:
        for item in self._iterator:
            self.seen += 1
            yield item


class _Elsewhere:
    """A stream whose ``__iter__`` re-yields from another attribute: it must run too."""

    def __init__(self, items: list[int]) -> None:
        self._iterator = iter(())
        self._items = iter(items)

    def __iter__(self) -> Iterator[int]:
        for item in self._items:  # noqa: UP028 (a re-yield, of another attribute)
            yield item


class _Reyielding:
    """A stream whose ``__iter__`` only re-yields ``_iterator``, as OpenAI's does."""

    def __init__(self, items: list[int]) -> None:
        self._iterator = iter(items)

    def __iter__(self) -> Iterator[int]:
        for item in self._iterator:  # noqa: UP028 (the shape under test)
            yield item


def _read(sdk: Any, name: str) -> tuple[list[Any], Any]:
    proxy = SyncStreamProxy(sdk, start_span(name, "llm"), _NoReader())
    return list(proxy), proxy._self_state.iterator


def test_any_other_step_of_the_stream_is_run(exporter: InMemoryExporter) -> None:
    for kind in (_Counting, _Elsewhere):
        sdk = kind([1, 2, 3])
        assert _read(sdk, kind.__name__)[0] == [1, 2, 3]
        assert getattr(sdk, "seen", 3) == 3
        assert exporter.by_name(kind.__name__).status == "ok"


def test_a_reyielding_step_another_library_wrapped_is_run(exporter: InMemoryExporter) -> None:
    sdk = _Reyielding([1, 2])
    inner = sdk._iterator
    assert _read(sdk, "plain") == ([1, 2], inner)  # iterated directly
    calls: list[Any] = []

    def observe(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        calls.append(instance)
        return wrapped(*args, **kwargs)

    class Wrapped(_Reyielding):
        pass

    wrapt.wrap_function_wrapper(Wrapped, "__iter__", observe)
    sdk = Wrapped([1, 2])
    items, stepped = _read(sdk, "wrapped")
    assert items == [1, 2] and calls == [sdk] and stepped is not sdk._iterator


class _NoReader:
    def on_chunk(self, chunk: Any) -> None:
        pass

    def on_end(self, span: Span) -> None:
        pass


@pytest.mark.vcr
# The SDK's half-made deep copy of its HTTP client fails in its own __del__ (with or without us).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_deepcopy_and_pickle_fail_as_the_sdks_do(provider: Provider, traced: InMemoryExporter) -> None:
    stream = provider.create(provider.client(False))
    for operation in (copy.deepcopy, pickle.dumps):
        with pytest.raises(Exception) as ours:
            operation(stream)
        with pytest.raises(type(ours.value)):
            operation(stream.__wrapped__)
        assert not isinstance(ours.value, NotImplementedError)  # the proxy's own refusal before
    assert len(list(stream)) == provider.chunks  # and the stream still works
    _one_span(traced, early=False)


@pytest.mark.vcr
@pytest.mark.parametrize("how", ["with", "close"])
def test_sync_with_and_close_end_the_span(provider: Provider, traced: InMemoryExporter, how: str) -> None:
    stream = provider.create(provider.client(False))
    if how == "with":
        with stream as entered:
            assert entered is stream
            next(entered)
    else:
        next(stream)
        stream.close()
    assert stream.response.is_closed
    _one_span(traced, early=True)


@pytest.mark.vcr
@pytest.mark.parametrize("how", ["async with", "close"])
def test_async_stream_passes_for_the_sdk_stream(
    provider: Provider, traced: InMemoryExporter, how: str
) -> None:
    sdk_class = provider.sdk_class(True)

    async def main() -> None:
        async with provider.client(True) as client:
            stream = await provider.create(client)
            assert isinstance(stream, sdk_class) and type(stream) is AsyncStreamProxy
            twin = copy.copy(stream)
            assert isinstance(twin, sdk_class) and twin.response is stream.response
            if how == "async with":
                async with stream as entered:
                    assert entered is stream
                    await entered.__anext__()
                    await twin.__anext__()  # the copy reads on the same stream
            else:
                await stream.__anext__()
                await stream.close()
            assert stream.response.is_closed

    asyncio.run(main())
    _one_span(traced, early=True)


@pytest.mark.vcr
def test_sync_stream_read_in_another_thread(provider: Provider, traced: InMemoryExporter) -> None:
    with st.span("request") as request:
        stream = provider.create(provider.client(False))
    chunks: list[Any] = []
    worker = threading.Thread(target=lambda: chunks.extend(stream))
    worker.start()
    worker.join(timeout=30)
    assert len(chunks) == provider.chunks
    llm = next(s for s in traced.spans if s.kind == "llm")
    assert llm.parent_span_id == request.span_id and not llm.metadata.get("stream_closed_early")


@pytest.mark.vcr
def test_async_stream_opened_read_and_closed_by_different_tasks(
    provider: Provider, traced: InMemoryExporter
) -> None:
    async def main() -> str:
        async with provider.client(True) as client:
            with st.span("request") as request:
                stream = await asyncio.create_task(provider.create(client))
            await asyncio.create_task(stream.__anext__())
            await asyncio.create_task(stream.close())
            return request.span_id

    request_id = asyncio.run(main())
    llm = next(s for s in traced.spans if s.kind == "llm")
    assert llm.parent_span_id == request_id and llm.metadata["stream_closed_early"] is True
    assert st.current_span() is None
