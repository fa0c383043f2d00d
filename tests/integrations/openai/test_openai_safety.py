"""Never break the user: errors pass unchanged, our bugs are swallowed, streams end once."""

from __future__ import annotations

import gc
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
import wrapt
from openai._base_client import AsyncAPIClient, SyncAPIClient

import staso_integrations as st
from staso_integrations.integrations import _registry
from staso_integrations.integrations._base import split_requirement
from staso_integrations.integrations._llm import provider_enriches
from staso_integrations.integrations.openai import OpenAIInstrumentor, _response, _stream

MODEL = "gpt-4o-mini"
HELLO = [{"role": "user", "content": "Say hello in five words."}]
STREAM_USAGE = {"stream": True, "stream_options": {"include_usage": True}}
ORIGINALS = (SyncAPIClient.__dict__["request"], AsyncAPIClient.__dict__["request"])


class Boom(Exception):
    pass


def test_user_exception_propagates_as_the_same_object(instrumented: Any) -> None:
    """What reaches the user is what the untraced SDK raises: ``Boom`` itself on openai 3.x,
    an ``APIConnectionError`` caused by it on 2.x."""
    boom = Boom("from the user's event hook")

    def hook(request: Any) -> None:
        raise boom

    client = openai.OpenAI(
        api_key="test-key", max_retries=0, http_client=httpx2.Client(event_hooks={"request": [hook]})
    )

    def raised_by_call() -> BaseException:
        with pytest.raises(Exception) as raised:
            client.chat.completions.create(model=MODEL, messages=HELLO)
        return raised.value

    traced = raised_by_call()
    st.uninstrument_all()
    untraced = raised_by_call()
    assert type(traced) is type(untraced)
    assert traced is boom or traced.__cause__ is boom
    (span,) = instrumented.spans
    assert (
        span.status == "error"
        and span.error["type"] == f"{type(traced).__module__}.{type(traced).__qualname__}"
    )


@pytest.fixture
def our_bug(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, Any]], None]:
    """Lenient mode (as users run) and a way to make one of our extractors raise."""
    monkeypatch.delenv("STASO_STRICT")

    def install(table: dict[str, Any]) -> None:
        def broken(*args: Any) -> None:
            raise RuntimeError("bug in our extraction code")

        monkeypatch.setitem(table, "chat", broken)

    return install


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_create.yaml")
def test_extraction_bug_is_swallowed_and_result_intact(api: Any, instrumented: Any, our_bug: Any) -> None:
    our_bug(_response.RECORDERS)
    result = api.call("chat.completions.create", model=MODEL, messages=HELLO, temperature=0.2)

    assert result.choices[0].message.content == "Hello there, nice to meet!"
    (span,) = instrumented.spans
    assert span.status == "ok" and span.end_ns is not None and span.usage is None


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_stream_usage.yaml")
def test_stream_assembly_bug_is_swallowed(
    api: Any, instrumented: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STASO_STRICT")

    def broken(*args: Any) -> None:
        raise RuntimeError("bug in our stream reading")

    monkeypatch.setattr(_stream.ChatStream, "on_chunk", broken)
    monkeypatch.setattr(_stream.ChatStream, "on_end", broken)
    chunks = api.stream("chat.completions.create", model=MODEL, messages=HELLO, **STREAM_USAGE)

    assert len(chunks) == 9  # the user still gets every chunk
    (span,) = instrumented.spans
    assert span.end_ns is not None


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_stream_usage.yaml")
def test_stream_broken_after_two_chunks_ends_once_at_gc(api: Any, instrumented: Any) -> None:
    chunks = api.stream("chat.completions.create", model=MODEL, messages=HELLO, take=2, **STREAM_USAGE)
    gc.collect()  # the user dropped the stream; its proxy ends the span

    assert len(chunks) == 2
    (span,) = instrumented.spans
    assert span.metadata["stream_closed_early"] is True
    assert span.output == {"role": "assistant", "content": "Hello"}
    assert span.usage is None and span.ttft_ms is not None


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_stream_usage.yaml")
def test_stream_closed_early_ends_once(api: Any, instrumented: Any) -> None:
    api.stream("chat.completions.create", model=MODEL, messages=HELLO, take=3, close=True, **STREAM_USAGE)
    gc.collect()

    (span,) = instrumented.spans
    assert span.metadata["stream_closed_early"] is True
    assert span.output == {"role": "assistant", "content": "Hello there"}


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_stream_usage.yaml")
def test_stream_with_block_returns_the_proxy(instrumented: Any) -> None:
    client = openai.OpenAI(api_key="test-key", base_url="https://api.openai.com/v1", max_retries=0)
    with client.chat.completions.create(model=MODEL, messages=HELLO, **STREAM_USAGE) as stream:
        assert isinstance(stream, openai.Stream)
        assert stream.response.status_code == 200
        first = next(stream)
    assert first.choices[0].delta.role == "assistant"
    (span,) = instrumented.spans
    assert span.metadata["stream_closed_early"] is True


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_create.yaml")
def test_capture_content_off(monkeypatch: pytest.MonkeyPatch) -> None:
    memory = st.exporters.InMemoryExporter()
    st.init(exporter=memory, processor="simple", capture_content=False)
    st.instrument_all(include=["openai"])
    client = openai.OpenAI(api_key="test-key", base_url="https://api.openai.com/v1", max_retries=0)
    client.chat.completions.create(model=MODEL, messages=HELLO, temperature=0.2)

    (span,) = memory.spans
    assert span.input is None and span.output is None
    assert span.usage is not None and span.usage.input == 1240


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_create.yaml")
def test_enriches_an_open_framework_span(instrumented: Any) -> None:
    client = openai.OpenAI(api_key="test-key", base_url="https://api.openai.com/v1", max_retries=0)
    with st.span("ChatOpenAI", kind="llm") as framework, provider_enriches(framework):
        client.chat.completions.create(model=MODEL, messages=HELLO, temperature=0.2)

    (span,) = instrumented.spans  # one LLM call = one llm span
    assert span.name == "ChatOpenAI" and span.provider == "openai" and span.usage.cache_read == 1024


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_create.yaml")
def test_uninstrument_restores_the_originals(instrumented: Any) -> None:
    assert isinstance(SyncAPIClient.__dict__["request"], wrapt.FunctionWrapper)
    st.uninstrument_all()

    assert (SyncAPIClient.__dict__["request"], AsyncAPIClient.__dict__["request"]) == ORIGINALS
    client = openai.OpenAI(api_key="test-key", base_url="https://api.openai.com/v1", max_retries=0)
    client.chat.completions.create(model=MODEL, messages=HELLO, temperature=0.2)
    assert instrumented.spans == []


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_create.yaml")
def test_double_instrument_is_a_no_op(instrumented: Any) -> None:
    wrapper = SyncAPIClient.__dict__["request"]
    assert st.instrument_all(include=["openai"])["openai"] == "instrumented"
    assert _registry.load_instrumentor("openai").instrument() == "instrumented"

    assert SyncAPIClient.__dict__["request"] is wrapper and wrapper.__wrapped__ is ORIGINALS[0]
    client = openai.OpenAI(api_key="test-key", base_url="https://api.openai.com/v1", max_retries=0)
    client.chat.completions.create(model=MODEL, messages=HELLO, temperature=0.2)
    assert len(instrumented.spans) == 1


def test_other_requests_pass_through(instrumented: Any) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"object": "list", "data": []})

    client = openai.OpenAI(
        api_key="test-key", http_client=httpx2.Client(transport=httpx2.MockTransport(handler))
    )
    assert list(client.models.list()) == []
    assert instrumented.spans == []


def test_registry_and_extra_agree() -> None:
    pyproject = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text())
    assert list(OpenAIInstrumentor.requires) == pyproject["project"]["optional-dependencies"]["openai"]
    assert split_requirement(OpenAIInstrumentor.requires[0])[0] == "openai"
    assert isinstance(_registry.load_instrumentor("openai"), OpenAIInstrumentor)


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_stream_usage.yaml")
def test_stream_helper_exit_ends_the_span_while_the_stream_lives(instrumented: Any) -> None:
    client = openai.OpenAI(api_key="test-key", base_url="https://api.openai.com/v1", max_retries=0)
    options = {"include_usage": True}
    with client.chat.completions.stream(model=MODEL, messages=HELLO, stream_options=options) as stream:
        next(iter(stream))

    assert stream is not None  # still referenced: the span ended at exit, not at garbage collection
    (span,) = instrumented.spans
    assert span.metadata["stream_closed_early"] is True
