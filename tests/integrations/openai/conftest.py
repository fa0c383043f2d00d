"""Fixtures for the OpenAI tests: instrumented clients, sync and async behind one interface.

Cassettes live in ``cassettes/openai/``. To re-record live: delete one, set ``OPENAI_API_KEY``
(and ``AZURE_OPENAI_API_KEY``/``AZURE_OPENAI_ENDPOINT`` for the Azure ones) and run
``pytest tests/integrations/openai --record-mode=once``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import staso_integrations as st

REPO = Path(__file__).resolve().parents[3]

AZURE_ENDPOINT = os.environ.get("AZURE_OPENAI_ENDPOINT", "https://staso-test.openai.azure.com")
AZURE_API_VERSION = "2024-10-21"


@pytest.fixture
def instrumented(exporter: Any) -> Iterator[Any]:
    """The in-memory exporter, with the OpenAI integration on for the test."""
    assert st.instrument_all(include=["openai"])["openai"] == "instrumented"
    yield exporter
    st.uninstrument_all()


def _openai(asynchronous: bool) -> Any:
    cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
    return cls(
        api_key=os.environ.get("OPENAI_API_KEY", "test-key"),
        base_url="https://api.openai.com/v1",
        max_retries=0,
    )


def _azure(asynchronous: bool) -> Any:
    cls = openai.AsyncAzureOpenAI if asynchronous else openai.AzureOpenAI
    return cls(
        api_key=os.environ.get("AZURE_OPENAI_API_KEY", "test-key"),
        azure_endpoint=AZURE_ENDPOINT,
        api_version=AZURE_API_VERSION,
        max_retries=0,
    )


class Api:
    """Runs one call on a fresh sync or async client, so a test body is written once.

    ``path`` names the SDK method from the client, e.g. ``"chat.completions.create"``.
    """

    def __init__(self, mode: str, factory: Callable[[bool], Any]) -> None:
        self.mode = mode
        self.asynchronous = mode == "async"
        self.factory = factory

    def _method(self, client: Any, path: str) -> Any:
        target = client
        for name in path.split("."):
            target = getattr(target, name)
        return target

    def _run(self, sync: Callable[[Any], Any], asynchronous: Callable[[Any], Any]) -> Any:
        if not self.asynchronous:
            return sync(self.factory(False))

        async def main() -> Any:
            client = self.factory(True)
            try:
                return await asynchronous(client)
            finally:
                await client.close()

        return asyncio.run(main())

    def call(self, path: str, **kwargs: Any) -> Any:
        """The method's result (awaited for async clients)."""

        async def run_async(client: Any) -> Any:
            return await self._method(client, path)(**kwargs)

        return self._run(lambda client: self._method(client, path)(**kwargs), run_async)

    def stream(self, path: str, *, take: int | None = None, close: bool = False, **kwargs: Any) -> list[Any]:
        """Iterate the returned stream (``take`` items, then ``close()`` if asked); the items."""

        def run_sync(client: Any) -> list[Any]:
            stream, items = self._method(client, path)(**kwargs), []
            for item in stream:
                items.append(item)
                if len(items) == take:
                    break
            if close:
                stream.close()
            return items

        async def run_async(client: Any) -> list[Any]:
            stream, items = await self._method(client, path)(**kwargs), []
            async for item in stream:
                items.append(item)
                if len(items) == take:
                    break
            if close:
                await stream.close()
            return items

        return self._run(run_sync, run_async)

    def helper(self, path: str, final: str | None, *, take: int | None = None, **kwargs: Any) -> Any:
        """``with path(**kwargs) as stream``: ``stream.<final>()``, or read ``take`` events and exit."""

        def run_sync(client: Any) -> Any:
            with self._method(client, path)(**kwargs) as stream:
                if final is not None:
                    return getattr(stream, final)()
                return [event for _, event in zip(range(take or 0), stream)]

        async def run_async(client: Any) -> Any:
            async with self._method(client, path)(**kwargs) as stream:
                if final is not None:
                    return await getattr(stream, final)()
                events = []
                async for event in stream:
                    events.append(event)
                    if len(events) == take:
                        break
                return events

        return self._run(run_sync, run_async)


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, instrumented: Any) -> Api:
    """OpenAI client calls, sync or async."""
    return Api(request.param, _openai)


@pytest.fixture(params=["sync", "async"])
def azure(request: pytest.FixtureRequest, instrumented: Any) -> Api:
    """AzureOpenAI client calls, sync or async."""
    return Api(request.param, _azure)
