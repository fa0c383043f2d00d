"""Gemini clients for the tests: one ``gemini`` driver hides sync vs async, assertions are shared.

Cassettes live in ``cassettes/google_genai/``; re-record live with
``GOOGLE_API_KEY=... pytest tests/integrations/google_genai --record-mode=once`` after deleting
the cassette (sync and async send the same body, so they share one). The SDK sends the key in
``x-goog-api-key``, one of the headers ``tests/conftest.py`` filters out of every recording.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google import genai

import staso_integrations as st
from staso_integrations.exporters import InMemoryExporter


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", os.environ.get("GOOGLE_API_KEY", "test-google-key"))
    for name in (
        "GEMINI_API_KEY",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_GENAI_HTTP_CLIENT",
        "GOOGLE_CLOUD_PROJECT",
    ):
        monkeypatch.delenv(name, raising=False)


def _upper_method(request: Any) -> Any:
    # With aiohttp installed the SDK's async client uses it, with the method as the SDK spells
    # it ('post'); vcrpy's aiohttp stub records and matches it as given.
    request.method = request.method.upper()
    return request


@pytest.fixture(scope="module")
def vcr_config(vcr_config: dict[str, Any]) -> dict[str, Any]:
    return {**vcr_config, "before_record_request": _upper_method}


@pytest.fixture
def traced(exporter: InMemoryExporter) -> Iterator[InMemoryExporter]:
    """The exporter, with the Gemini integration on."""
    assert st.instrument_all(include=["google_genai"])["google_genai"] == "instrumented"
    yield exporter
    st.uninstrument_all()


class Driver:
    """Runs one scenario on ``client.models`` or ``client.aio.models``; returns plain results."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def _run(self, sync: Callable[[Any], Any], coro: Callable[[Any], Any]) -> Any:
        if self.mode == "sync":
            with genai.Client() as client:
                return sync(client.models)

        async def main() -> Any:
            async with genai.Client().aio as client:
                return await coro(client.models)

        return asyncio.run(main())

    def generate(self, **kwargs: Any) -> Any:
        return self._run(
            lambda models: models.generate_content(**kwargs),
            lambda models: models.generate_content(**kwargs),
        )

    def stream(self, stop_after: int | None = None, **kwargs: Any) -> list[Any]:
        """``generate_content_stream``, iterated; with ``stop_after`` the loop breaks early."""

        def sync(models: Any) -> list[Any]:
            chunks = []
            for chunk in models.generate_content_stream(**kwargs):
                chunks.append(chunk)
                if len(chunks) == stop_after:
                    break
            return chunks

        async def coro(models: Any) -> list[Any]:
            chunks = []
            async for chunk in await models.generate_content_stream(**kwargs):
                chunks.append(chunk)
                if len(chunks) == stop_after:
                    break
            return chunks

        return self._run(sync, coro)

    def embed(self, **kwargs: Any) -> Any:
        return self._run(
            lambda models: models.embed_content(**kwargs),
            lambda models: models.embed_content(**kwargs),
        )


@pytest.fixture(params=["sync", "async"])
def gemini(request: pytest.FixtureRequest) -> Driver:
    return Driver(request.param)
