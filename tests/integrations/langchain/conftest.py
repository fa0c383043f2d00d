"""Fixtures for the LangChain tests: real LangChain / LangGraph / langchain-openai objects,
the real ``openai`` SDK underneath, HTTP replayed from ``cassettes/langchain/``.

To re-record live: delete a cassette, set ``OPENAI_API_KEY`` and run
``pytest tests/integrations/langchain --record-mode=once``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import staso_integrations as st
from staso_integrations.exporters import InMemoryExporter

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", os.environ.get("OPENAI_API_KEY", "sk-test-not-a-key"))


@pytest.fixture
def traced(exporter: InMemoryExporter) -> Iterator[InMemoryExporter]:
    """What a user gets from ``instrument_all()``: LangChain and the OpenAI SDK both patched."""
    report = st.instrument_all(include=["langchain", "openai"])
    assert report["langchain"] == "instrumented", report
    assert report["openai"] == "instrumented", report
    yield exporter
    st.uninstrument_all()


@pytest.fixture
def langchain_only(exporter: InMemoryExporter) -> Iterator[InMemoryExporter]:
    """Only the LangChain integration: every llm field comes from LangChain's callbacks."""
    assert st.instrument_all(include=["langchain"])["langchain"] == "instrumented"
    yield exporter
    st.uninstrument_all()
