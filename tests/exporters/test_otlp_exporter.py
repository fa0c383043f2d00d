"""The ``otlp`` exporter against a real OTLP/HTTP receiver on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.exporter.otlp.proto.http", reason="extra 'otlp' not installed")

import staso_integrations as st
from staso_integrations._core import drops
from staso_integrations._core.runtime import open_span
from staso_integrations._core.span import Usage
from tests.no_otel import BLOCK_OTEL

from .conftest import Reply, Server

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def otlp_env(otlp_receiver: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme,authorization=Bearer%20t0k")
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    return otlp_receiver


def attributes(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "array_value":
            out[kv.key] = [getattr(v, v.WhichOneof("value")) for v in value.array_value.values]
        else:
            out[kv.key] = getattr(value, kind)
    return out


def received_spans(server: Server) -> tuple[dict[str, Any], dict[str, Any]]:
    """(spans by name, resource attributes) over every request the receiver got."""
    spans: dict[str, Any] = {}
    resource: dict[str, Any] = {}
    for request in server.payloads():
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource)
            for scope_spans in resource_spans.scope_spans:
                assert scope_spans.scope.name == "staso_integrations"
                spans.update((span.name, span) for span in scope_spans.spans)
    return spans, resource


def run_agent() -> None:
    conversation = st.conversation("conv-42", user_id="user-alice", session_id="sess-1")
    with conversation, st.span("support", kind="agent", input={"q": "refund?"}):
        with st.span("chat gpt-4o", kind="llm") as llm:
            llm.provider, llm.operation = "openai", "chat"
            llm.request_model, llm.response_model = "gpt-4o", "gpt-4o-2024-08-06"
            llm.usage = Usage(input=120, output=30, cache_read=100, cache_write=7, reasoning=12)
            llm.cost_usd, llm.ttft_ms, llm.finish_reason, llm.stream = 0.0012, 250.0, "tool_calls", True
            llm.tool_calls = [{"id": "call_1", "name": "lookup", "arguments": {"order": 7}}]
        with st.span("lookup", kind="tool", metadata={"tool_call_id": "call_1"}) as tool:
            tool.output = {"status": "refunded"}
        with pytest.raises(KeyError), st.span("broken", kind="retriever"):
            raise KeyError("index")


def test_spans_arrive_with_ids_parenting_and_genai_attributes(otlp_env: Server) -> None:
    config = st.init(processor="simple", agent_name="support-bot", environment="prod",
                     workspace_slug="acme", source_type="test", otlp_conventions="genai")  # fmt: skip
    assert config.exporters == ("otlp",)  # chosen by OTEL_EXPORTER_OTLP_ENDPOINT
    run_agent()

    spans, resource = received_spans(otlp_env)
    assert {item.path for item in otlp_env.received} == {"/v1/traces"}
    assert otlp_env.received[0].headers["x-tenant"] == "acme"
    assert resource["service.name"] == "support-bot" and resource["deployment.environment.name"] == "prod"
    root, llm, tool, broken = spans["support"], spans["chat gpt-4o"], spans["lookup"], spans["broken"]
    assert len({s.trace_id for s in spans.values()}) == 1 and len(root.trace_id) == 16
    assert root.parent_span_id == b""
    assert llm.parent_span_id == tool.parent_span_id == broken.parent_span_id == root.span_id
    assert llm.start_time_unix_nano < llm.end_time_unix_nano
    assert root.start_time_unix_nano <= llm.start_time_unix_nano
    assert llm.kind == 3  # SPAN_KIND_CLIENT

    llm_attrs = attributes(llm)
    assert llm_attrs == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.finish_reasons": ["tool_calls"],
        "gen_ai.response.time_to_first_chunk": 0.25,
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30,
        "gen_ai.usage.cache_read.input_tokens": 100,
        "gen_ai.usage.cache_creation.input_tokens": 7,
        "gen_ai.usage.reasoning.output_tokens": 12,
        "gen_ai.conversation.id": "conv-42",
        "gen_ai.agent.name": "support-bot",
        "user.id": "user-alice",
        "session.id": "sess-1",
        "staso.kind": "llm",
        "staso.operation": "chat",
        "staso.cost_usd": 0.0012,
        "staso.environment": "prod",
        "staso.workspace_slug": "acme",
        "staso.source_type": "test",
        "staso.session_id": "sess-1",
        "staso.turn_index": 0,
        "staso.user_id": "user-alice",
        "staso.stream": True,
        "staso.ttft_ms": 250.0,
        "staso.usage.total_tokens": 150,
        "staso.tool_calls": '[{"id": "call_1", "name": "lookup", "arguments": "{\\"order\\": 7}"}]',
    }
    tool_attrs = attributes(tool)
    assert tool_attrs["gen_ai.operation.name"] == "execute_tool"
    assert tool_attrs["gen_ai.tool.name"] == "lookup" and tool_attrs["gen_ai.tool.call.id"] == "call_1"
    assert json.loads(tool_attrs["staso.output"]) == {"status": "refunded"}
    assert json.loads(attributes(root)["staso.input"]) == {"q": "refund?"}
    assert "staso.input" not in llm_attrs  # content only when present
    assert broken.status.code == 2 and "KeyError" in broken.status.message  # STATUS_CODE_ERROR
    assert attributes(broken)["error.type"] == "KeyError"


def test_collector_failure_is_counted_not_raised(otlp_env: Server, fresh_drops: None) -> None:
    from staso_integrations.exporters.otlp import OtlpExporter

    otlp_env.default = Reply(400, b"bad")
    exporter = OtlpExporter(timeout_s=2)
    st.init(exporter=exporter, processor="simple")
    with st.span("one"):
        pass
    assert exporter.failed == 1 and exporter.exported == 0
    assert drops.drop_counts()["rejected"] == 1 and len(otlp_env.received) == 1  # 4xx: not retried


@pytest.fixture
def fresh_drops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drops, "_last_logged", {})
    monkeypatch.setattr(drops, "_counts", dict.fromkeys(drops.DROP_CAUSES, 0))


def test_collector_down_is_one_log_line_and_every_span_counted(
    otlp_receiver: Server, fresh_drops: None, caplog: pytest.LogCaptureFixture
) -> None:
    from staso_integrations.exporters.otlp import OtlpExporter

    otlp_receiver.stop()
    exporter = OtlpExporter(endpoint=otlp_receiver.url + "/v1/traces", timeout_s=2)
    st.init(exporter=exporter, processor="simple")
    with caplog.at_level(logging.DEBUG, logger="staso_integrations"):
        for _ in range(5):
            with st.span("lost"):
                pass
    lines = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(lines) == 1 and "did not answer" in lines[0].getMessage()
    assert not any(record.exc_info for record in lines)
    assert drops.drop_counts()["exporter"] == 5 and exporter.failed == 5


def test_shutdown_ends_a_request_to_a_hanging_collector_at_once(otlp_receiver: Server) -> None:
    from staso_integrations.exporters.otlp import OtlpExporter

    otlp_receiver.default = Reply(200, b"", hang_s=30)
    exporter = OtlpExporter(endpoint=otlp_receiver.url + "/v1/traces", timeout_s=30)
    st.init(exporter=exporter, processor="simple")
    span = open_span("stuck", "custom", None)
    span.end_ns = span.start_ns + 1
    worker = threading.Thread(target=exporter.export, args=([span], []))
    worker.start()
    time.sleep(0.5)  # the request is in flight: the receiver sits on it for 30 s
    started = time.monotonic()
    exporter.shutdown()
    worker.join(10)
    print(f"export returned {time.monotonic() - started:.3f} s after shutdown")
    assert not worker.is_alive() and exporter.failed == 1 and exporter.exported == 0


def test_without_the_sdk_everything_else_works_and_otlp_names_the_extra(tmp_path: Path) -> None:
    code = (
        BLOCK_OTEL
        + """
import staso_integrations as st
st.init(exporter="jsonl", processor="simple")
with st.span("fine"):
    pass
try:
    st.init(exporter="otlp")
except ValueError as exc:  # refused by init(), before any import
    print("ERROR", exc)
assert not any(name.startswith("opentelemetry") for name in sys.modules)
"""
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=30, check=True)  # fmt: skip
    assert (
        "ERROR exporter 'otlp' needs" in out.stdout and "pip install 'staso-integrations[otlp]'" in out.stdout
    )
    assert '"name": "fine"' in (tmp_path / ".staso" / "traces.jsonl").read_text()


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(REPO / "cassettes" / "openai")


@pytest.fixture(scope="module")
def vcr_config(vcr_config: dict[str, Any]) -> dict[str, Any]:
    return {**vcr_config, "ignore_localhost": True}  # the OTLP receiver is real, OpenAI is the cassette


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_create.yaml")
def test_llm_span_of_a_real_openai_call(otlp_env: Server) -> None:
    openai = pytest.importorskip("openai")
    st.init(processor="simple", agent_name="support-bot")
    assert st.instrument_all(include=["openai"])["openai"] == "instrumented"
    client = openai.OpenAI(api_key="test-key", base_url="https://api.openai.com/v1", max_retries=0)
    messages = [{"role": "user", "content": "Say hello in five words."}]
    client.chat.completions.create(model="gpt-4o-mini", messages=messages, temperature=0.2)

    (llm,) = received_spans(otlp_env)[0].values()
    attrs = attributes(llm)
    assert llm.kind == 3 and llm.parent_span_id == b""
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert attrs["gen_ai.usage.input_tokens"] == 1240 and attrs["gen_ai.usage.output_tokens"] == 9
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 1024
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert attrs["staso.cost_usd"] > 0 and attrs["gen_ai.agent.name"] == "support-bot"
    assert json.loads(attrs["staso.input"]) == messages


def test_a_204_without_content_length_is_taken_at_once() -> None:
    from staso_integrations.exporters.otlp import OtlpExporter

    class NoContent(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so only the status says there is no body

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response_only(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), NoContent)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        exporter = OtlpExporter(
            endpoint=f"http://127.0.0.1:{server.server_address[1]}/v1/traces", timeout_s=30
        )
        st.init(exporter=exporter, processor="simple")
        started = time.monotonic()
        for _ in range(2):  # the second request reuses the kept-alive connection
            with st.span("one"):
                pass
        seconds = time.monotonic() - started
        st.shutdown()
    finally:
        server.shutdown()
        server.server_close()
    assert exporter.exported == 2 and exporter.failed == 0
    assert seconds < 15  # not the 30 s timeout of waiting for a body that never comes
