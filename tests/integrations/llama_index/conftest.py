"""LlamaIndex fixtures: an OpenAI LLM and embedding model replayed from ``cassettes/llama_index/``.

These tests need ``pip install -e '.[llama-index-test]'`` (openai 2.x: ``llama-index-llms-openai``
pins ``openai<3``); elsewhere they skip. To re-record live: delete a cassette, set
``OPENAI_API_KEY`` and run ``pytest tests/integrations/llama_index --record-mode=once``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("llama_index.core")
pytest.importorskip("llama_index.llms.openai")
pytest.importorskip("llama_index.embeddings.openai")

import yaml
from llama_index.core import Document, VectorStoreIndex
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.llms.openai import OpenAI

import staso_integrations as st
from staso_integrations._core.span import Usage
from staso_integrations.exporters import InMemoryExporter

CASSETTES = Path(__file__).resolve().parents[3] / "cassettes" / "llama_index"
MODEL = "gpt-4o-mini"  # the llm fixture's model
DOCUMENTS = [
    Document(text="Paris is the capital of France. It is known for the Eiffel Tower.", id_="doc-paris"),
    Document(text="Rome is the capital of Italy. It is known for the Colosseum.", id_="doc-rome"),
    Document(
        text="Berlin is the capital of Germany. It is known for the Brandenburg Gate.", id_="doc-berlin"
    ),
]
QUESTION = "What is the capital of France known for?"


@pytest.fixture(autouse=True)
def _openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", os.environ.get("OPENAI_API_KEY", "sk-test-not-a-key"))


@pytest.fixture(autouse=True)
def _close_llama_index_event_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """llama_index.core.async_utils.asyncio_run() (behind ChatMessage.estimate_tokens) gets the
    thread's loop with asyncio.get_event_loop() and never closes it; close it after a sync test
    so its ResourceWarning does not land in a later test."""
    yield
    if inspect.iscoroutinefunction(request.function):
        return  # pytest-asyncio owns that loop
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:
            return
    if not loop.is_running() and not loop.is_closed():
        loop.close()
        asyncio.set_event_loop(None)


@pytest.fixture
def traced(exporter: InMemoryExporter) -> Iterator[InMemoryExporter]:
    """Every integration on (LlamaIndex and OpenAI), as ``instrument_all()`` does for a user."""
    report = st.instrument_all()
    assert report["llama_index"] == "instrumented", report
    yield exporter
    st.uninstrument_all()


@pytest.fixture
def llm() -> OpenAI:
    # include_usage: OpenAI sends the token counts of a stream in a last chunk
    return OpenAI(
        model=MODEL,
        temperature=0,
        max_retries=0,
        additional_kwargs={"stream_options": {"include_usage": True}},
    )


@pytest.fixture
def embed_model() -> OpenAIEmbedding:
    return OpenAIEmbedding(model="text-embedding-3-small", dimensions=3, max_retries=0)


@pytest.fixture
def make_index(embed_model: OpenAIEmbedding) -> Callable[[], VectorStoreIndex]:
    """Builds the in-memory index of ``DOCUMENTS`` (one embeddings request)."""
    return lambda: VectorStoreIndex.from_documents(DOCUMENTS, embed_model=embed_model)


@pytest.fixture
def cassette_usage() -> Callable[..., Usage]:
    return _cassette_usage


def _cassette_usage(name: str, path: str = "") -> Usage:
    """The token counts OpenAI reported in a cassette's responses (JSON bodies and SSE streams),
    of the requests whose URL ends with ``path``."""
    total = Usage(input=0, output=0)
    interactions = yaml.safe_load((CASSETTES / name).read_text())["interactions"]
    for interaction in interactions:
        if not interaction["request"]["uri"].endswith(path):
            continue
        body = interaction["response"]["body"]["string"]
        if body.startswith("data:"):
            payloads = [line[5:].strip() for line in body.splitlines() if line.startswith("data:")]
            chunks = [json.loads(p) for p in payloads if p != "[DONE]"]
        else:
            chunks = [json.loads(body)]
        for chunk in chunks:
            usage = chunk.get("usage")
            if usage:
                total.input += usage["prompt_tokens"]
                total.output += usage.get("completion_tokens", 0)
    return total
