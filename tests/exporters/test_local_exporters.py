from __future__ import annotations

import io
import json
import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

import staso_integrations as st
from staso_integrations._core.runtime import start_span
from staso_integrations._core.span import Usage
from staso_integrations.exporters import ConsoleExporter, InMemoryExporter, JsonlExporter, SqliteExporter
from staso_integrations.store import TraceFilter, TraceStore


def _full_trace() -> None:
    with st.conversation("conv-1", user_id="u-1", session_id="s-1", tags=["t1"], metadata={"team": "x"}):
        with st.span("agent-run", kind="agent", input={"q": "hi"}) as root:
            root.output = "bye"
            with st.span("chat gpt-4o-mini", kind="llm", input=[{"role": "user", "content": "hi"}]) as llm:
                llm.provider = "openai"
                llm.operation = "chat"
                llm.request_model = "gpt-4o-mini"
                llm.response_model = "gpt-4o-mini-2024-07-18"
                llm.usage = Usage(input=100, output=20, total=120, cache_read=50, cache_write=0, reasoning=5)
                llm.ttft_ms = 12.5
                llm.finish_reason = "tool_calls"
                llm.tool_calls = [{"id": "call_1", "name": "lookup", "arguments": '{"id": 1}'}]
                llm.stream = True
                llm.output = {"role": "assistant", "content": None}
                llm.metadata["tools"] = ["lookup"]
            with pytest.raises(TimeoutError):
                with st.span("lookup", kind="tool"):
                    raise TimeoutError("slow")


def test_sqlite_round_trips_a_trace_with_every_field(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    memory = InMemoryExporter()
    st.init(exporter=["sqlite", memory], sqlite_path=db, processor="simple", environment="prod",
            workspace_slug="acme", source_type="test", agent_name="bot")  # fmt: skip
    _full_trace()
    st.shutdown()
    store = TraceStore(db)
    trace_id = memory.spans[0].trace_id
    trace, spans = store.get_trace(trace_id)
    assert store.find_trace_id(trace_id[:8]) == store.find_trace_id(trace_id[-8:]) == trace_id
    store.close()
    expected = {s.span_id: s.to_dict() for s in memory.spans}
    assert len(spans) == 3
    for stored in spans:
        assert stored == expected[stored["span_id"]]
    assert trace == memory.traces[trace_id].to_dict()
    assert trace is not None
    assert trace["usage"]["cache_read"] == 50
    assert trace["error_count"] == 1
    assert trace["cost_usd"] == pytest.approx(
        expected[[s for s in spans if s["kind"] == "llm"][0]["span_id"]]["cost_usd"]
    )
    assert (trace["agent_name"], trace["conversation_id"], trace["session_id"], trace["turn_index"]) == (
        "bot", "conv-1", "s-1", 0
    )  # fmt: skip


def test_store_filters(tmp_path: Path) -> None:
    db = str(tmp_path / "f.db")
    st.init(exporter="sqlite", sqlite_path=db, processor="simple", agent_name="a1")
    with st.span("one"):
        pass
    with st.conversation("c-2"):
        with st.span("two"):
            pass
    st.shutdown()
    store = TraceStore(db)
    assert [t["name"] for t in store.list_traces(TraceFilter(conversation_id="c-2"))] == ["two"]
    assert len(store.list_traces(TraceFilter(agent_name="a1"))) == 2
    assert store.list_traces(TraceFilter(agent_name="nobody")) == []
    with pytest.raises(LookupError, match="no trace id starts or ends with 'zz'"):
        store.find_trace_id("zz")
    store.close()


def _write_from_process(db: str, n: int) -> None:
    import staso_integrations as st_child

    st_child.init(exporter="sqlite", sqlite_path=db)
    for i in range(n):
        with st_child.span(f"p{i}"):
            pass
    st_child.shutdown()


def test_sqlite_is_safe_from_several_threads_and_processes(tmp_path: Path) -> None:
    db = str(tmp_path / "shared.db")
    exporters = [SqliteExporter(db) for _ in range(4)]

    def write(exporter: SqliteExporter) -> None:
        for i in range(50):
            span = start_span(f"t{i}")
            span.end()
            exporter.export([span], [])

    st.init(exporter=[], processor="simple")
    threads = [threading.Thread(target=write, args=(e,)) for e in exporters]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_from_process, args=(db, 100)) for _ in range(2)]
    for worker in [*threads, *procs]:
        worker.start()
    for worker in [*threads, *procs]:
        worker.join(60)
    assert all(p.exitcode == 0 for p in procs)
    for exporter in exporters:  # rows held after a "database is locked" (a busy CI) are written here
        exporter.shutdown()
    with sqlite3.connect(db) as conn:
        count = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
    assert count == 4 * 50 + 2 * 100


def test_console_prints_a_tree_per_trace() -> None:
    out = io.StringIO()
    st.init(exporter=ConsoleExporter(out), processor="simple")
    _full_trace()
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0].startswith("trace ") and "agent-run" in lines[0] and "120 tok" not in lines[0]
    assert "└─ [agent] agent-run" in text
    assert "├─ [llm] chat gpt-4o-mini (gpt-4o-mini-2024-07-18)" in text
    assert "100→20 tok (cache 50)" in text
    assert "ttft 12ms" in text
    assert "ERROR TimeoutError: slow" in text
    assert "$0.0000" in text


def test_jsonl_writes_spans_and_traces(tmp_path: Path) -> None:
    path = tmp_path / "out" / "traces.jsonl"
    st.init(exporter=JsonlExporter(str(path)), processor="simple")
    _full_trace()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["type"] for r in records].count("span") == 3
    trace = [r for r in records if r["type"] == "trace"][0]
    assert trace["span_count"] == 3 and trace["usage"]["input"] == 100


def test_sqlite_batch_of_spans_setting_different_columns_round_trips(tmp_path: Path) -> None:
    """One batch mixes rows with different columns set; a rewritten row keeps none of its old values."""
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", agent_name="bot")
    _full_trace()
    with st.span("plain"):
        pass
    st.shutdown()
    exporter = SqliteExporter(str(tmp_path / "store.db"))
    exporter.export(memory.spans, list(memory.traces.values()))
    llm = memory.by_name("chat gpt-4o-mini")
    llm.usage = llm.tool_calls = llm.stream = llm.ttft_ms = None
    llm.encoded_content = None  # its content changed after the pipeline encoded it
    exporter.export([llm], [])
    exporter.shutdown()
    store = TraceStore(str(tmp_path / "store.db"))
    try:
        stored = {
            span["span_id"]: span for trace_id in memory.traces for span in store.get_trace(trace_id)[1]
        }
        traces = {trace["trace_id"]: trace for trace in store.list_traces()}
    finally:
        store.close()
    assert stored == {span.span_id: span.to_dict() for span in memory.spans}
    assert stored[llm.span_id]["usage"] is None and stored[llm.span_id]["stream"] is None
    assert traces == {trace_id: summary.to_dict() for trace_id, summary in memory.traces.items()}
