"""The ``decimalai`` exporter against a 127.0.0.1 server that validates the SDK's run-trace schema."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import staso_integrations as st
from staso_integrations._core import drops
from staso_integrations._core.config import load_config
from staso_integrations._core.rollup import TraceAggregator
from staso_integrations._core.span import Resource, Span, TraceAttributes, Usage
from staso_integrations.exporters import DecimalAIExporter, StasoExporter, build_exporters
from staso_integrations.exporters._decimalai_payload import build_run_traces

from .conftest import Reply, Server
from .decimalai_schema import validate_batch
from .test_staso_exporter import FAST, KEY, make_exporter

_made: list[DecimalAIExporter] = []


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(drops, "_last_logged", {})
    monkeypatch.setattr(drops, "_counts", dict.fromkeys(drops.DROP_CAUSES, 0))
    yield
    while _made:
        _made.pop().shutdown()


@pytest.fixture
def platform() -> Iterator[Server]:
    server = Server(validate_batch, Reply(200))
    yield server
    server.stop()


def make(url: str, spool: Path, **overrides: Any) -> DecimalAIExporter:
    exporter = DecimalAIExporter(KEY, url, spool_dir=str(spool), **{**FAST, **overrides})
    _made.append(exporter)
    return exporter


def run_agent(exporter: DecimalAIExporter, provider: str = "openai", usage: Usage | None = None) -> None:
    """An agent root with an llm call (streamed, one tool call) and the tool it called."""
    st.init(exporter=exporter, processor="simple", agent_name="support-bot", source_type="test",
            workspace_slug="acme")  # fmt: skip
    with (
        st.conversation("conv-42", user_id="user-alice", session_id="sess-1"),
        st.span("run", kind="agent") as root,
    ):
        root.input, root.output = {"question": "weather in Oslo?"}, "It is sunny in Oslo."
        with st.span("chat", kind="llm") as llm:
            llm.provider, llm.request_model, llm.response_model = provider, "gpt-4o", "gpt-4o-2024-08-06"
            llm.input = {
                "system": "be brief",
                "messages": [{"role": "user", "content": "weather in Oslo?"}],
            }
            llm.output = {"role": "assistant", "content": None}
            llm.metadata.update(temperature=0.2, max_tokens=256)
            llm.usage = usage or Usage(input=120, output=8, cache_read=0)
            llm.stream, llm.finish_reason = True, "tool_calls"
            llm.tool_calls = [{"id": "call_1", "name": "get_weather", "arguments": '{"city": "Oslo"}'}]
        with st.span("get_weather", kind="tool") as tool:
            tool.input, tool.output = {"city": "Oslo"}, "sunny"
    assert exporter.flush(5.0)


def test_one_run_trace_per_trace_with_spans_and_full_llm_call(platform: Server, tmp_path: Path) -> None:
    exporter = make(platform.url, tmp_path / "spool")
    run_agent(exporter)

    (request,) = platform.received  # children are held until the root ends: one trace, one request
    assert request.path == "/api/v1/traces/batch"
    assert request.headers["authorization"] == f"Bearer {KEY}" and "x-api-key" not in request.headers
    assert request.headers["content-type"] == "application/json" and "content-encoding" not in request.headers
    (trace,) = request.payload
    assert trace["status"] == "success" and trace["source_type"] == "test" and trace["project"] == "acme"
    assert (trace["agent_name"], trace["session_id"], trace["turn_index"]) == ("support-bot", "sess-1", 0)
    assert trace["session_metadata"]["user_id"] == "user-alice"
    assert trace["session_metadata"]["conversation_id"] == "conv-42"
    assert trace["final_output"] == "It is sunny in Oslo." and "Oslo" in trace["user_input_preview"]
    spans = {span["name"]: span for span in trace["spans"]}
    assert set(spans) == {"run", "chat", "get_weather"}
    assert spans["run"]["span_type"] == "agent" and spans["run"]["parent_span_id"] is None
    assert spans["chat"]["parent_span_id"] == spans["run"]["id"] == spans["get_weather"]["parent_span_id"]
    assert spans["get_weather"]["span_type"] == "tool" and spans["get_weather"]["output_preview"] == "sunny"
    (call,) = trace["llm_calls"]
    assert call["span_id"] == spans["chat"]["id"]
    assert call["rendered_input"] == [{"role": "system", "content": "be brief"},
                                      {"role": "user", "content": "weather in Oslo?"}]  # fmt: skip
    assert call["output"] == {"role": "assistant", "content": None}
    assert call["tool_calls"][0]["tool_name"] == "get_weather" and call["tool_calls"][0]["args"] == {
        "city": "Oslo"
    }
    assert (call["provider"], call["model_name"]) == ("openai", "gpt-4o-2024-08-06")
    assert (call["temperature"], call["max_output_tokens"], call["finish_reason"]) == (0.2, 256, "tool_calls")
    assert (call["input_tokens"], call["output_tokens"]) == (120, 8)
    # a cache miss the provider reported (0) stays 0; what it did not report stays null
    assert call["cache_read_tokens"] == 0 and call["cache_creation_tokens"] is None
    assert call["streaming"] is True and isinstance(call["latency_ms"], int)
    assert exporter.stats["batches_sent"] == 1 and exporter.stats["spans_sent"] == 3


def test_anthropic_input_tokens_leave_the_cache_out_as_the_platform_reads_them(
    platform: Server, tmp_path: Path
) -> None:
    exporter = make(platform.url, tmp_path / "spool")
    run_agent(exporter, "anthropic", Usage(input=1_110, output=20, cache_read=1_000, cache_write=0))
    (call,) = platform.payloads()[0][0]["llm_calls"]
    assert (call["input_tokens"], call["cache_read_tokens"], call["cache_creation_tokens"]) == (110, 1_000, 0)


def test_source_type_outside_the_allowlist_is_never_sent() -> None:
    span = Span("job", "chain", trace_id="ab" * 16, parent_span_id=None, agent_name=None,
                trace_attrs=TraceAttributes(), turn_index=None, resource=Resource(source_type="replayed"),
                processor=None)  # fmt: skip
    span.end_ns = span.start_ns + 1
    (trace,) = build_run_traces([span], [])
    assert trace["source_type"] == "sdk" and trace["status"] == "partial"
    validate_batch(json.dumps([trace]).encode())


def test_an_unfinished_trace_goes_out_partial_at_shutdown_and_past_the_hold_cap(
    platform: Server, tmp_path: Path
) -> None:
    exporter = make(platform.url, tmp_path / "spool", max_held_spans=2)
    st.init(exporter=exporter, processor="simple")
    with st.span("outer", kind="agent"):
        for name in ("a", "b", "c"):
            with st.span(name, kind="tool"):
                pass
        assert exporter.flush(5.0)
        (early,) = platform.payloads()  # three held spans > the cap of two: sent as a partial trace
        assert early[0]["status"] == "partial" and [s["name"] for s in early[0]["spans"]] == ["a", "b", "c"]
        assert all(s["parent_span_id"] is None for s in early[0]["spans"])  # their parent is not in it
        with st.span("d", kind="tool"):
            pass
        exporter.shutdown()  # the root is still open: what is held goes out as it is
        assert [s["name"] for s in platform.payloads()[1][0]["spans"]] == ["d"]
    assert exporter.stats["partial_traces"] == 2


def test_delivery_is_the_staso_exporters_retries_spool_and_restart(platform: Server, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    platform.script = [Reply(503), Reply(200)]
    run_agent(make(platform.url, spool))
    first, second = platform.received
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]

    platform.stop()  # down: the next trace waits in the spool, in a directory of its own
    exporter = make(platform.url, spool, retry_budget_s=0.2, max_attempts=2)
    run_agent(exporter)
    exporter.shutdown()
    assert list((spool / "decimalai").iterdir()) and not [p for p in spool.iterdir() if p.is_file()]
    platform.start()  # same port
    staso = make_exporter(platform.url, spool)  # shares the spool directory: must not take the file
    assert staso.flush(2.0)
    staso.shutdown()
    later = make(platform.url, spool)
    for _ in range(200):
        if len(platform.received) == 3:
            break
        later.flush(0.05)
    assert len(platform.received) == 3 and platform.received[2].path == "/api/v1/traces/batch"
    assert isinstance(staso, StasoExporter) and not list((spool / "decimalai").iterdir())


def test_refusals_and_per_trace_errors_are_counted_and_named(
    platform: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    platform.script = [Reply(401, {"detail": f"bad key {KEY}"}),
                       Reply(200, {"count": 0, "trace_ids": [], "errors": [{"error": "trace_id_conflict"}]})]  # fmt: skip
    caplog.set_level(logging.INFO, "staso_integrations")
    exporter = make(platform.url, tmp_path / "spool")
    run_agent(exporter)
    run_agent(exporter)
    assert drops.drop_counts()["rejected"] == 3 and exporter.stats["rejected_traces"] == 1
    text = caplog.text
    assert "decimalai ingest: the API key was refused (HTTP 401); check DECIMAL_API_KEY" in text
    assert "trace_id_conflict" in text and KEY not in text


def test_configured_by_name_with_the_sdks_key_variable(platform: Server, tmp_path: Path) -> None:
    env = {"DECIMAL_API_KEY": KEY, "STASO_EXPORTER": "decimalai,sqlite", "STASO_SPOOL_DIR": str(tmp_path),
           "STASO_DECIMALAI_BASE_URL": platform.url}  # fmt: skip
    config = load_config(env=env)
    exporters = build_exporters(config)
    decimal = exporters[0]
    _made.append(decimal)
    assert isinstance(decimal, DecimalAIExporter) and decimal.url == platform.url + "/api/v1/traces/batch"
    assert KEY not in repr(config) and KEY not in str(config.public_dict())
    exporters[1].shutdown()
    with pytest.raises(ValueError, match="exporter 'decimalai' needs an API key: set DECIMAL_API_KEY"):
        load_config(env={"STASO_EXPORTER": "decimalai"})
    with pytest.raises(ValueError, match="decimalai_base_url='http://10.0.0.5' is plain http://"):
        load_config(env={**env, "STASO_DECIMALAI_BASE_URL": "http://10.0.0.5"})


def test_a_span_ending_after_its_trace_was_sent_is_counted_not_sent_twice(
    platform: Server, tmp_path: Path
) -> None:
    exporter = make(platform.url, tmp_path / "spool")
    aggregator = TraceAggregator()
    attrs = TraceAttributes()
    root = Span("run", "agent", trace_id="cd" * 16, parent_span_id=None, agent_name=None, trace_attrs=attrs,
                turn_index=None, resource=Resource(), processor=None)  # fmt: skip
    late = Span("background", "tool", trace_id=root.trace_id, parent_span_id=root.span_id, agent_name=None,
                trace_attrs=attrs, turn_index=None, resource=Resource(), processor=None)  # fmt: skip
    for span in (root, late):
        span.end_ns = span.start_ns + 1_000
        summary = aggregator.add(span)  # the late span gets the trace's summary again
        assert summary is not None
        exporter.export([span], [summary])
    assert exporter.flush(5.0)
    (request,) = platform.received
    assert [s["name"] for s in request.payload[0]["spans"]] == ["run"]
    assert exporter.stats["late_spans"] == 1 and drops.drop_counts()["exporter"] == 1


@pytest.fixture
def vcr_cassette_dir() -> str:
    return str(Path(__file__).resolve().parents[2] / "cassettes" / "anthropic")


@pytest.mark.vcr
@pytest.mark.default_cassette("messages_cache.yaml")
def test_real_anthropic_calls_keep_cache_write_and_read_apart(
    platform: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anthropic

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    exporter = make(platform.url, tmp_path / "spool")
    st.init(exporter=exporter, processor="simple", source_type="demo")
    assert st.instrument_all(include=["anthropic"])["anthropic"] == "instrumented"
    handbook = "You answer questions about the attached handbook. " + (
        "The handbook says: employees get 25 days of leave. " * 60
    )
    try:
        with anthropic.Anthropic() as client:
            for _ in range(2):  # the first call writes the cache, the second reads it
                client.messages.create(
                    model="claude-haiku-4-5",
                    max_tokens=128,
                    system=[{"type": "text", "text": handbook, "cache_control": {"type": "ephemeral"}}],
                    messages=[{"role": "user", "content": "How many days of leave?"}],
                )
    finally:
        st.uninstrument_all()
    assert exporter.flush(5.0)
    write, read = (payload[0]["llm_calls"][0] for payload in platform.payloads())
    assert (write["input_tokens"], write["cache_creation_tokens"], write["cache_read_tokens"]) == (9, 2148, 0)
    assert (read["input_tokens"], read["cache_creation_tokens"], read["cache_read_tokens"]) == (9, 0, 2148)
    assert write["rendered_input"][0]["role"] == "system" and write["rendered_input"][1]["role"] == "user"
    assert write["output"]["content"][0]["type"] == "text" and write["finish_reason"] == "stop"
    assert read["cost_usd"] < write["cost_usd"] and write["streaming"] is False
    assert platform.payloads()[0][0]["source_type"] == "demo"
