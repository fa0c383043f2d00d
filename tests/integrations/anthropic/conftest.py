"""Anthropic clients for the tests: one ``llm`` driver hides sync vs async, assertions are shared.

Cassettes live in ``cassettes/anthropic/``; re-record live with
``ANTHROPIC_API_KEY=... pytest tests/integrations/anthropic --record-mode=once`` after deleting
the cassette (sync and async send the same body, so they share one).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

import staso_integrations as st
from staso_integrations.exporters import InMemoryExporter

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", os.environ.get("ANTHROPIC_API_KEY", "sk-ant-test-key"))
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


@pytest.fixture
def traced(exporter: InMemoryExporter) -> Iterator[InMemoryExporter]:
    """The exporter, with the Anthropic integration on."""
    assert st.instrument_all(include=["anthropic"])["anthropic"] == "instrumented"
    yield exporter
    st.uninstrument_all()


class Driver:
    """Runs one scenario on a sync or an async client; every method returns plain results."""

    def __init__(self, mode: str, **client_options: Any) -> None:
        self.mode = mode
        self.client_options = client_options

    def with_options(self, **client_options: Any) -> Driver:
        return Driver(self.mode, **{**self.client_options, **client_options})

    def _run(self, sync: Callable[[Any], Any], coro: Callable[[Any], Any]) -> Any:
        if self.mode == "sync":
            with anthropic.Anthropic(**self.client_options) as client:
                return sync(client)

        async def main() -> Any:
            async with anthropic.AsyncAnthropic(**self.client_options) as client:
                return await coro(client)

        return asyncio.run(main())

    def create(self, beta: bool = False, **kwargs: Any) -> Any:
        def sync(client: Any) -> Any:
            return (client.beta if beta else client).messages.create(**kwargs)

        async def coro(client: Any) -> Any:
            return await (client.beta if beta else client).messages.create(**kwargs)

        return self._run(sync, coro)

    def count_tokens(self, **kwargs: Any) -> Any:
        return self._run(
            lambda client: client.messages.count_tokens(**kwargs),
            lambda client: client.messages.count_tokens(**kwargs),
        )

    def create_stream(self, stop_after: int | None = None, **kwargs: Any) -> list[Any]:
        """``create(stream=True)``, iterated; with ``stop_after`` the loop breaks and closes."""

        def sync(client: Any) -> list[Any]:
            events = []
            with client.messages.create(stream=True, **kwargs) as stream:
                for event in stream:
                    events.append(event)
                    if len(events) == stop_after:
                        break
            return events

        async def coro(client: Any) -> list[Any]:
            events = []
            async with await client.messages.create(stream=True, **kwargs) as stream:
                async for event in stream:
                    events.append(event)
                    if len(events) == stop_after:
                        break
            return events

        return self._run(sync, coro)

    def manager(self, how: str, **kwargs: Any) -> tuple[Any, Any]:
        """``messages.stream()``; ``how``: text_stream, get_final_message, until_done or enter_only."""

        def sync(client: Any) -> tuple[Any, Any]:
            with client.messages.stream(**kwargs) as stream:
                if how == "enter_only":
                    return None, None
                if how == "text_stream":
                    return "".join(stream.text_stream), stream.get_final_message()
                if how == "until_done":
                    stream.until_done()
                    return None, stream.get_final_message()
                return None, stream.get_final_message()

        async def coro(client: Any) -> tuple[Any, Any]:
            async with client.messages.stream(**kwargs) as stream:
                if how == "enter_only":
                    return None, None
                if how == "text_stream":
                    return "".join(
                        [text async for text in stream.text_stream]
                    ), await stream.get_final_message()
                if how == "until_done":
                    await stream.until_done()
                    return None, await stream.get_final_message()
                return None, await stream.get_final_message()

        return self._run(sync, coro)


@pytest.fixture(params=["sync", "async"])
def llm(request: pytest.FixtureRequest) -> Driver:
    return Driver(request.param)
