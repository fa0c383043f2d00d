"""The instrumentor: exact uninstrument, idempotence, our bugs swallowed, no double reporting."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anthropic
import pytest
from anthropic.lib.bedrock import _beta_messages as bedrock_beta
from anthropic.lib.vertex import _beta_messages as vertex_beta
from anthropic.resources.beta.messages import messages as beta_messages
from anthropic.resources.messages import messages as first_party
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import staso_integrations as st
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations import _registry
from staso_integrations.integrations.anthropic import AnthropicInstrumentor, _stream, _wrappers

if TYPE_CHECKING:
    from conftest import Driver

HELLO = {
    "model": "claude-haiku-4-5",
    "max_tokens": 256,
    "system": "You are terse.",
    "messages": [{"role": "user", "content": "Say hello in French, one word."}],
}
COUNT = {
    "model": "claude-haiku-4-5",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "Count to three."}],
}
_METHODS = ("create", "parse", "stream")
_TARGETS = (
    [
        (module.__name__, cls, method)
        for module in (first_party, beta_messages, bedrock_beta, vertex_beta)
        for cls in ("Messages", "AsyncMessages")
        for method in _METHODS
    ]
    + [
        (m.__name__, cls, "count_tokens")
        for m in (first_party, beta_messages)
        for cls in ("Messages", "AsyncMessages")
    ]
    + [("anthropic._base_client", cls, "request") for cls in ("SyncAPIClient", "AsyncAPIClient")]
)


def _attrs() -> dict[tuple[str, str, str], Any]:
    import sys

    found = {key: vars(getattr(sys.modules[key[0]], key[1]))[key[2]] for key in _TARGETS}
    found[("anthropic._base_client", "", "start_api_call_span")] = anthropic._base_client.start_api_call_span
    return found


def test_uninstrument_restores_every_original_and_double_instrument_is_a_noop() -> None:
    before = _attrs()
    assert st.instrument_all(include=["anthropic"])["anthropic"] == "instrumented"
    patched = _attrs()
    assert all(patched[key] is not before[key] for key in before)  # Bedrock/Vertex beta copies too
    assert all(patched[key].__wrapped__ is before[key] for key in before)
    assert st.instrument_all(include=["anthropic"])["anthropic"] == "instrumented"
    assert _attrs() == patched  # not wrapped twice
    st.uninstrument_all()
    assert all(after is before[key] for key, after in _attrs().items())


def test_registry_and_requirement() -> None:
    instrumentor = _registry.load_instrumentor("anthropic")
    assert isinstance(instrumentor, AnthropicInstrumentor)
    assert instrumentor.unsupported_reason() is None
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text())
    assert list(AnthropicInstrumentor.requires) == pyproject["project"]["optional-dependencies"]["anthropic"]


def _broken(*args: Any) -> None:
    raise RuntimeError("bug in our code")


@pytest.mark.vcr
@pytest.mark.parametrize(
    "path",
    [
        pytest.param("message", marks=pytest.mark.default_cassette("messages_basic.yaml")),
        pytest.param("stream", marks=pytest.mark.default_cassette("messages_stream.yaml")),
    ],
)
def test_extraction_error_is_swallowed(
    llm: Driver, traced: InMemoryExporter, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.delenv("STASO_STRICT")
    monkeypatch.setattr(_wrappers, "record_message", _broken)
    monkeypatch.setattr(_stream.MessageAccumulator, "on_chunk", _broken)
    if path == "message":
        assert llm.create(**HELLO).content[0].text == "Bonjour !"  # the user's result, intact
    else:
        text, final = llm.manager("text_stream", **COUNT)
        assert text == "One, two, three." and final.usage.output_tokens == 9
    [span] = traced.spans
    assert span.ended and span.status == "ok"


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_basic.yaml")
def test_start_error_passes_the_call_through(
    llm: Driver, traced: InMemoryExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STASO_STRICT")
    monkeypatch.setattr(_wrappers, "record_request", lambda *a: 1 / 0)
    assert llm.create(**HELLO).content[0].text == "Bonjour !"


def test_users_exception_propagates_unchanged(llm: Driver, traced: InMemoryExporter) -> None:
    with pytest.raises(TypeError) as raised:
        llm.create(model="claude-haiku-4-5", messages=[], max_tokens=5, not_a_parameter=1)
    assert "not_a_parameter" in str(raised.value)
    [span] = traced.spans
    assert span.status == "error" and span.error["type"] == "TypeError"


def _otel() -> tuple[TracerProvider, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_basic.yaml")
def test_sdk_otel_span_would_report_the_call(llm: Driver, exporter: InMemoryExporter) -> None:
    provider, memory = _otel()
    llm.with_options(open_telemetry={"tracer_provider": provider}).create(**HELLO)
    assert [s.name for s in memory.get_finished_spans()] == ["anthropic.messages.create"]  # what we prevent


def _otel_scenario(name: str, cassette: str) -> Any:
    return pytest.param(name, marks=pytest.mark.default_cassette(cassette))


@pytest.mark.vcr
@pytest.mark.parametrize(
    "scenario",
    [
        _otel_scenario("create", "messages_basic.yaml"),
        _otel_scenario("create_stream", "messages_stream.yaml"),
        _otel_scenario("manager", "messages_stream.yaml"),
        _otel_scenario("count_tokens", "messages_count_tokens.yaml"),
    ],
)
def test_sdk_otel_span_is_not_doubled(llm: Driver, traced: InMemoryExporter, scenario: str) -> None:
    provider, memory = _otel()
    driver = llm.with_options(open_telemetry={"tracer_provider": provider})
    if scenario == "create":
        driver.create(**HELLO)
    elif scenario == "create_stream":
        driver.create_stream(**COUNT)
    elif scenario == "manager":
        driver.manager("get_final_message", **COUNT)
    else:
        driver.count_tokens(model="claude-haiku-4-5", system="You are terse.", messages=HELLO["messages"])
    assert memory.get_finished_spans() == ()
    assert len(traced.spans) == 1
