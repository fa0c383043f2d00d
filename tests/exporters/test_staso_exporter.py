"""The ``staso`` exporter against a real ingest server on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import staso_integrations as st
from staso_integrations._core import drops
from staso_integrations._core.config import load_config
from staso_integrations._core.span import Usage
from staso_integrations.exporters import StasoExporter, build_exporters
from staso_integrations.exporters._spool import Spool

from .conftest import Reply, Server

KEY = "sk-staso-test-0123456789abcdef"
REPO = Path(__file__).resolve().parents[2]
FAST = {
    "timeout_s": 1.0,
    "max_attempts": 4,
    "backoff_s": 0.01,
    "backoff_max_s": 0.05,
    "retry_budget_s": 2.0,
    "probe_interval_s": 0.05,
    "shutdown_wait_s": 0.2,
}


_made: list[StasoExporter] = []


@pytest.fixture(autouse=True)
def _fresh_exporters(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(drops, "_last_logged", {})  # each test sees the first drop line of a cause
    monkeypatch.setattr(drops, "_counts", dict.fromkeys(drops.DROP_CAUSES, 0))
    yield
    while _made:
        _made.pop().shutdown()


def make_exporter(url: str, spool: Path, **overrides: object) -> StasoExporter:
    settings = {**FAST, **overrides}
    exporter = StasoExporter(KEY, url, spool_dir=str(spool), **settings)  # type: ignore[arg-type]
    _made.append(exporter)
    return exporter


def run_conversation(exporter: StasoExporter, traces: int = 1) -> None:
    """``traces`` traces of an agent root with an llm child, exported synchronously."""
    st.init(exporter=exporter, processor="simple", agent_name="support-bot", workspace_slug="acme",
            environment="prod", source_type="test")  # fmt: skip
    with st.conversation("conv-42", user_id="user-alice", session_id="sess-1"):
        for _ in range(traces):
            with st.span("run", kind="agent"), st.span("chat", kind="llm") as llm:
                llm.provider, llm.operation, llm.request_model = "openai", "chat", "gpt-4o"
                llm.usage = Usage(input=10, output=5, cache_read=4, reasoning=2)
                llm.ttft_ms = 120.0
    assert exporter.flush(5.0)


def sent_spans(server: Server) -> int:
    return sum(len(trace["spans"]) for payload in server.payloads() for trace in payload["traces"])


def test_batch_carries_headers_trace_fields_and_spans(ingest_server: Server, tmp_path: Path) -> None:
    exporter = make_exporter(ingest_server.url, tmp_path / "spool")
    run_conversation(exporter)

    (llm_request, root_request) = ingest_server.received  # spans end child first, one batch each
    headers = root_request.headers
    assert root_request.path == "/v1/traces/ingest"
    assert headers["x-api-key"] == KEY
    assert headers["content-type"] == "application/json"
    assert headers["content-encoding"] == "gzip"
    assert len(headers["idempotency-key"]) == 32
    assert headers["idempotency-key"] != llm_request.headers["idempotency-key"]
    (trace,) = root_request.payload["traces"]
    assert trace["environment"] == "prod" and trace["workspace_slug"] == "acme"
    assert trace["conversation_id"] == "conv-42" and trace["user_id"] == "user-alice"
    assert trace["session_id"] == "sess-1" and trace["turn_index"] == 0
    assert trace["source_type"] == "test" and trace["agent_name"] == "support-bot"
    assert trace["complete"] is True and trace["span_count"] == 2
    assert trace["usage"]["cache_read"] == 4 and trace["usage"]["reasoning"] == 2
    (root,) = trace["spans"]
    (llm_trace,) = llm_request.payload["traces"]
    (llm,) = llm_trace["spans"]
    assert llm_trace["trace_id"] == trace["trace_id"] and llm_trace["complete"] is False
    assert llm["parent_span_id"] == root["span_id"] and root["parent_span_id"] is None
    assert llm["ttft_ms"] == 120.0 and llm["usage"]["input"] == 10 and llm["start_time"].endswith("Z")
    assert exporter.stats["batches_sent"] == 2 and exporter.stats["spans_sent"] == 2


def test_init_by_name_with_compression_off(
    ingest_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STASO_API_KEY", KEY)
    monkeypatch.setenv("STASO_BASE_URL", ingest_server.url)
    monkeypatch.setenv("STASO_COMPRESSION", "off")
    config = st.init(processor="simple")  # the API key alone picks the staso exporter
    assert config.exporters == ("staso",) and config.compress is False
    with st.span("plain"):
        pass
    st.shutdown()  # the exporter delivers what it was handed before it stops
    (request,) = ingest_server.received
    assert "content-encoding" not in request.headers
    assert json.loads(request.body)["traces"][0]["spans"][0]["name"] == "plain"


def test_5xx_is_retried_with_the_same_idempotency_key(ingest_server: Server, tmp_path: Path) -> None:
    ingest_server.script = [Reply(500), Reply(503, {"detail": "busy"})]
    exporter = make_exporter(ingest_server.url, tmp_path / "spool")
    exporter.export([_ended_span()], [])
    assert exporter.flush(5.0)

    keys = {item.headers["idempotency-key"] for item in ingest_server.received}
    assert len(ingest_server.received) == 3 and len(keys) == 1
    assert exporter.stats["retries"] == 2 and exporter.stats["batches_sent"] == 1
    assert exporter.stats["spooled_batches"] == 0


def test_429_waits_for_retry_after(ingest_server: Server, tmp_path: Path) -> None:
    ingest_server.script = [Reply(429, {"detail": "slow down"}, {"Retry-After": "1"})]
    exporter = make_exporter(ingest_server.url, tmp_path / "spool")
    started = time.monotonic()
    exporter.export([_ended_span()], [])
    assert exporter.flush(5.0)

    assert len(ingest_server.received) == 2 and exporter.stats["batches_sent"] == 1
    assert time.monotonic() - started >= 0.95  # our backoff alone would have been 10-50 ms


@pytest.mark.parametrize(
    ("status", "message", "cause"),
    [
        (
            422,
            "source_type 'nightly' is not allowed",
            "rejected as invalid (HTTP 422): source_type 'nightly'",
        ),
        (401, f"invalid API key {KEY}", "API key was refused (HTTP 401); check STASO_API_KEY"),
        (403, "workspace 'acme' is not yours", "API key was refused (HTTP 403)"),
    ],
)
def test_terminal_answers_drop_the_batch_with_one_log_line(
    ingest_server: Server,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    status: int,
    message: str,
    cause: str,
) -> None:
    ingest_server.default = Reply(status, {"detail": message})
    exporter = make_exporter(ingest_server.url, tmp_path / "spool")
    with caplog.at_level(logging.DEBUG, logger="staso_integrations"):
        exporter.export([_ended_span()], [])
        assert exporter.flush(5.0)
        exporter.export([_ended_span()], [])
        assert exporter.flush(5.0)

    assert len(ingest_server.received) == 2  # no retries
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(errors) == 1 and cause in errors[0] and "1 spans dropped" in errors[0]
    assert "Traceback" not in caplog.text and KEY not in caplog.text
    assert drops.drop_counts()["rejected"] == 2
    assert exporter.stats["dropped_spans"] == 2 and not list((tmp_path / "spool").glob("*"))


def test_receipt_with_rejections_is_logged(
    ingest_server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receipt = {"accepted": 0, "rejected": 1, "spans_dropped": 1, "receipt_id": "rcpt-9",
               "errors": [{"trace_id": "x", "reason": "span too large"}]}  # fmt: skip
    ingest_server.script = [Reply(200, receipt)]
    exporter = make_exporter(ingest_server.url, tmp_path / "spool")
    exporter.export([_ended_span()], [])
    assert exporter.flush(5.0)

    assert "receipt rcpt-9: accepted 0, rejected 1 traces, dropped 1 spans" in caplog.text
    assert "span too large" in caplog.text
    assert exporter.stats["rejected_traces"] == 1 and exporter.stats["receipt_spans_dropped"] == 1


def test_down_server_spools_and_the_same_exporter_resends_when_back(
    ingest_server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = tmp_path / "spool"
    exporter = make_exporter(ingest_server.url, spool)
    ingest_server.stop()
    caplog.set_level(logging.DEBUG, logger="staso_integrations")
    for _ in range(3):
        exporter.export([_ended_span(), _ended_span()], [])
    exporter.flush(5.0)
    time.sleep(0.2)  # several failed probes of the down server
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "not taking batches" in warnings[0].getMessage()  # one per incident
    assert warnings[0].exc_info is None
    files = sorted(spool.glob("*.json.gz"))
    assert len(files) == 3 and exporter.stats["spooled_spans"] == 6
    assert all(KEY.encode() not in path.read_bytes() for path in files)

    ingest_server.start()  # same port
    time.sleep(0.06)  # past probe_interval_s
    exporter.export([_ended_span()], [])
    assert exporter.flush(5.0)

    assert sent_spans(ingest_server) == 7 and not list(spool.glob("*"))
    assert exporter.stats["resent_batches"] == 3
    assert "reachable again" in caplog.text
    spooled_keys = {path.name.split("-")[1] for path in files}
    assert spooled_keys <= {item.headers["idempotency-key"] for item in ingest_server.received}


def test_a_later_process_sends_what_an_earlier_one_spooled(ingest_server: Server, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    ingest_server.stop()
    dead = make_exporter(ingest_server.url, spool)
    dead.export([_ended_span(), _ended_span()], [])
    dead.shutdown()
    assert len(list(spool.glob("*.json.gz"))) == 1
    ingest_server.start()

    env = {**os.environ, "STASO_API_KEY": KEY, "STASO_BASE_URL": ingest_server.url,
           "STASO_SPOOL_DIR": str(spool), "PYTHONPATH": str(REPO)}  # fmt: skip
    code = "import staso_integrations as st\nwith st.span('later'):\n    pass\nst.shutdown()\n"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30, cwd=tmp_path)

    names = [span["name"] for p in ingest_server.payloads() for t in p["traces"] for span in t["spans"]]
    assert sorted(names) == ["later", "lost", "lost"] and not list(spool.glob("*"))


def test_hanging_server_is_bounded_and_shutdown_spools_the_batch(
    ingest_server: Server, tmp_path: Path
) -> None:
    ingest_server.default = Reply(200, hang_s=0.6)
    exporter = make_exporter(ingest_server.url, tmp_path / "spool", timeout_s=5.0, retry_budget_s=5.0)
    worker = threading.Thread(target=exporter.export, args=([_ended_span()], []))
    worker.start()
    time.sleep(0.1)  # request in flight
    started = time.monotonic()
    exporter.shutdown()

    assert time.monotonic() - started < 0.5
    assert len(list((tmp_path / "spool").glob("*.json.gz"))) == 1
    worker.join(3)


def test_timeouts_spool_within_the_retry_budget(ingest_server: Server, tmp_path: Path) -> None:
    ingest_server.default = Reply(200, hang_s=0.5)
    exporter = make_exporter(ingest_server.url, tmp_path / "spool", timeout_s=0.1, retry_budget_s=0.4)
    started = time.monotonic()
    exporter.export([_ended_span()], [])
    exporter.flush(5.0)
    exporter.export([_ended_span()], [])  # server marked down: straight to the spool

    assert time.monotonic() - started < 1.5
    assert exporter.stats["spooled_batches"] == 2 and exporter.stats["batches_sent"] == 0


def test_spool_cap_drops_the_oldest_and_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(str(tmp_path), max_bytes=250)
    for n in range(5):
        spool.put(f"{n:032x}", b"x" * 100, span_count=n + 1, claimed=False)
    kept = spool.claimable()
    assert [entry.key for entry in kept] == [f"{3:032x}", f"{4:032x}"]
    assert spool.dropped_batches == 3 and spool.dropped_spans == 1 + 2 + 3
    assert "over its 250 byte cap" in caplog.text and drops.drop_counts()["spool_full"] == 6


def test_key_is_not_in_repr_or_public_config(tmp_path: Path) -> None:
    config = load_config(env={"STASO_API_KEY": KEY, "STASO_SPOOL_DIR": str(tmp_path)})
    (exporter,) = build_exporters(config)
    assert KEY not in repr(exporter) and KEY not in repr(config) and KEY not in str(config.public_dict())


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"STASO_API_KEY": KEY}, ("staso",)),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ("otlp",)),
        ({"STASO_API_KEY": KEY, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ("staso",)),
        ({"STASO_API_KEY": KEY, "STASO_EXPORTER": "jsonl"}, ("jsonl",)),
        ({}, ("sqlite",)),
    ],
)
def test_default_exporter(env: dict[str, str], expected: tuple[str, ...]) -> None:
    assert load_config(env=env).exporters == expected


def test_staso_exporter_needs_a_key() -> None:
    with pytest.raises(ValueError, match="STASO_API_KEY"):
        load_config(env={"STASO_EXPORTER": "staso"})


def _ended_span() -> st.Span:
    from staso_integrations._core.runtime import open_span

    span = open_span("lost", "custom", None)
    span.end_ns = span.start_ns + 1_000
    return span


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_after_fork_the_child_sends_on_its_own_while_the_parent_request_hangs(
    ingest_server: Server, tmp_path: Path
) -> None:
    ingest_server.script = [Reply(200, hang_s=3)]  # the parent's request; the child's gets an answer
    exporter = make_exporter(ingest_server.url, tmp_path / "spool", timeout_s=10.0, retry_budget_s=10.0)
    exporter.export([_ended_span()], [])
    time.sleep(0.3)  # the parent's sender holds its connection, mid-request
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            exporter.after_fork()
            exporter.export([_ended_span()], [])
            code = 0 if exporter.flush(5.0) and exporter.stats["batches_sent"] == 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert exporter.flush(10.0) and exporter.stats["batches_sent"] == 1
    assert sent_spans(ingest_server) == 2
