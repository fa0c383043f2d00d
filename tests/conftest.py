from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["STASO_STRICT"] = "1"  # our own bugs fail the tests instead of being swallowed

import staso_integrations as st
from staso_integrations._core import runtime, sessions
from staso_integrations.exporters import InMemoryExporter

from .export.sft_format import assert_exportable

REPO = Path(__file__).resolve().parent.parent
SECRET_HEADERS = [
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "openai-organization",
    "openai-project",
    "cookie",
    "set-cookie",
]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("STASO_") and name != "STASO_STRICT":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # a default store lands in the test's own folder
    sessions._turns.clear()  # turn counts are per process: each test starts its sessions at 0
    yield
    st.uninstrument_all()
    runtime.shutdown(timeout=5.0)


@pytest.fixture
def exporter() -> Iterator[InMemoryExporter]:
    """Spans of this test, exported synchronously as they end; their llm spans export as valid SFT records."""
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple")
    yield memory
    assert_exportable(memory.spans)


def _scrub_response(response: dict) -> dict:
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in SECRET_HEADERS:
            del headers[name]
    return response


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    """``cassettes/<folder of the test module>``: tests/integrations/openai -> cassettes/openai."""
    return str(REPO / "cassettes" / Path(request.module.__file__).parent.name)


@pytest.fixture(scope="module")
def vcr_config() -> dict:
    return {
        "filter_headers": SECRET_HEADERS,
        "before_record_response": _scrub_response,
        "decode_compressed_response": True,
        "match_on": ["method", "scheme", "host", "port", "path", "query", "body"],
    }
