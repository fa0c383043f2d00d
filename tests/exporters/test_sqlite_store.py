"""The local store's schema 3: content stored as the pipeline encoded it, older stores migrated."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import staso_integrations as st
from staso_integrations._core.drops import drop_counts
from staso_integrations._core.rollup import TraceSummary
from staso_integrations._core.span import Span, Usage
from staso_integrations.exporters import InMemoryExporter, SqliteExporter
from staso_integrations.exporters._sqlite_schema import SCHEMA_VERSION, TABLES
from staso_integrations.store import TraceStore

TRACE_ID = "d32ca7cb69620353be0a7bffb009b865"
# A schema-2 store as the previous release wrote it (its DDL and rows, copied from such a file):
# a conversation with tags and metadata, an llm span with usage, tool calls and a stream flag,
# a span with an empty usage, and a NaN score an older release could store.
SCHEMA_2 = """
CREATE TABLE traces (trace_id TEXT PRIMARY KEY, name TEXT, agent_name TEXT, conversation_id TEXT, user_id
    TEXT, session_id TEXT, turn_index INTEGER, environment TEXT, workspace_slug TEXT, source_type TEXT, tags
    TEXT, metadata TEXT, start_ns INTEGER, end_ns INTEGER, duration_ms REAL, status TEXT, span_count
    INTEGER, error_count INTEGER, input_tokens INTEGER, output_tokens INTEGER, total_tokens INTEGER,
    cache_read_tokens INTEGER, cache_write_tokens INTEGER, reasoning_tokens INTEGER, cost_usd REAL);
CREATE TABLE spans (trace_id TEXT NOT NULL, span_id TEXT PRIMARY KEY, parent_span_id TEXT, name TEXT, kind
    TEXT, status TEXT, error TEXT, start_ns INTEGER, end_ns INTEGER, duration_ms REAL, input TEXT, output
    TEXT, metadata TEXT, agent_name TEXT, conversation_id TEXT, user_id TEXT, session_id TEXT, turn_index
    INTEGER, tags TEXT, environment TEXT, workspace_slug TEXT, source_type TEXT, provider TEXT, operation
    TEXT, request_model TEXT, response_model TEXT, usage TEXT, cost_usd REAL, ttft_ms REAL, finish_reason
    TEXT, tool_calls TEXT, stream INTEGER);
CREATE INDEX traces_agent ON traces (agent_name, start_ns) WHERE agent_name IS NOT NULL;
CREATE INDEX traces_conversation ON traces (conversation_id, start_ns) WHERE conversation_id IS NOT NULL;
CREATE INDEX traces_session ON traces (session_id, turn_index) WHERE session_id IS NOT NULL;
CREATE INDEX traces_start ON traces (start_ns);
CREATE INDEX spans_trace ON spans (trace_id, start_ns);
INSERT INTO traces (trace_id, name, conversation_id, user_id, environment, source_type, tags, metadata,
    start_ns, end_ns, duration_ms, status, span_count, error_count, input_tokens, output_tokens,
    total_tokens, cache_read_tokens, cost_usd) VALUES ('d32ca7cb69620353be0a7bffb009b865', 'agent-run',
    'conv-1', 'u-1', 'prod', 'test', '["t1"]', '{"team":"x"}', 1795710327221545948, 1795710327492475157,
    270.929209, 'ok', 3, 0, 100, 20, 120, 50, 2.325e-05);
INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, status, start_ns, end_ns, duration_ms,
    input, metadata, conversation_id, user_id, tags, environment, source_type, provider, request_model,
    usage, cost_usd, ttft_ms, tool_calls, stream) VALUES ('d32ca7cb69620353be0a7bffb009b865',
    '78ec2d36c37f2682', '5097d3212afda64f', 'chat', 'llm', 'ok', 1795710327221577835, 1795710327221599377,
    0.021542, '[{"role":"user","content":"hi"}]', '{}', 'conv-1', 'u-1', '["t1"]', 'prod', 'test', 'openai',
    'gpt-4o-mini',
    '{"input":100,"output":20,"total":120,"cache_read":50,"cache_write":null,"reasoning":null}', 2.325e-05,
    12.5, '[{"id":"call_1","name":"lookup","arguments":"{\\"id\\": 1}"}]', 1);
INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, status, start_ns, end_ns, duration_ms,
    metadata, conversation_id, user_id, tags, environment, source_type, usage, stream) VALUES
    ('d32ca7cb69620353be0a7bffb009b865', '2fceba2317f18bd0', '5097d3212afda64f', 'empty-usage', 'llm', 'ok',
    1795710327492119150, 1795710327492144998, 0.025848, '{"score":NaN}', 'conv-1', 'u-1', '["t1"]', 'prod',
    'test',
    '{"input":null,"output":null,"total":null,"cache_read":null,"cache_write":null,"reasoning":null}', 0);
INSERT INTO spans (trace_id, span_id, name, kind, status, start_ns, end_ns, duration_ms, input, output,
    metadata, conversation_id, user_id, tags, environment, source_type) VALUES
    ('d32ca7cb69620353be0a7bffb009b865', '5097d3212afda64f', 'agent-run', 'agent', 'ok',
    1795710327221545948, 1795710327492475157, 270.929209, '{"q":"héllo"}', '"bye"', '{}', 'conv-1', 'u-1',
    '["t1"]', 'prod', 'test');
PRAGMA user_version = 2;
"""


def _read(db: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]]]:
    store = TraceStore(str(db))
    try:
        trace, spans = store.get_trace(TRACE_ID)
        return trace, spans, store.list_traces()
    finally:
        store.close()


@pytest.fixture
def schema_2_store(tmp_path: Path) -> Path:
    db = tmp_path / "v2.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(SCHEMA_2)
    conn.close()
    return db


def test_a_schema_2_store_is_read_as_it_is_then_migrated_with_every_row_unchanged(
    schema_2_store: Path,
) -> None:
    before = _read(schema_2_store)  # read-only: an older file no writer has opened yet
    trace, spans, _ = before
    assert trace is not None and trace["tags"] == ["t1"] and trace["usage"]["cache_read"] == 50
    by_name = {span["name"]: span for span in spans}
    assert by_name["chat"]["usage"] == {"input": 100, "output": 20, "total": 120, "cache_read": 50,
                                        "cache_write": None, "reasoning": None}  # fmt: skip
    assert by_name["chat"]["tool_calls"][0]["name"] == "lookup" and by_name["chat"]["stream"] is True
    assert by_name["empty-usage"]["usage"] == dict.fromkeys(("input", "output", "total", "cache_read",
                                                             "cache_write", "reasoning"))  # fmt: skip
    assert by_name["agent-run"]["input"] == {"q": "héllo"} and by_name["agent-run"]["usage"] is None

    writer = SqliteExporter(str(schema_2_store))
    writer._connection()  # a writer opens it: migrated
    writer.shutdown()
    with sqlite3.connect(schema_2_store) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        defined = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
    conn.close()
    assert version == SCHEMA_VERSION == 3
    assert defined == TABLES
    after = _read(schema_2_store)
    assert repr(after) == repr(before)  # NaN included, key order included
    score = next(span for span in after[1] if span["name"] == "empty-usage")["metadata"]["score"]
    assert score != score  # still NaN


def test_new_spans_join_a_migrated_store(schema_2_store: Path) -> None:
    st.init(exporter="sqlite", sqlite_path=str(schema_2_store), processor="simple")
    with st.span("new"):
        pass
    st.shutdown()
    _, _, traces = _read(schema_2_store)
    assert sorted(trace["name"] for trace in traces) == ["agent-run", "new"]


def _stored_content(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT span_id, content FROM spans").fetchall())
    conn.close()
    return rows


def _store(db: Path, span: Span) -> dict[str, str]:
    exporter = SqliteExporter(str(db))
    exporter.export([span], [])
    exporter.shutdown()
    return _stored_content(db)


def _span_through_the_pipeline(kind: str) -> Span:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple")
    with (
        st.conversation("c", tags=["t"], metadata={"k": "v"}),
        st.span("s", kind=kind, input={"q": "é"}) as span,
    ):
        span.output = {"rows": [1, 2.5, None], "note": 'a "quoted" line\n'}
        span.metadata["n"] = 3
        if kind == "llm":
            span.usage = Usage(input=1, output=2)
    done = memory.spans[0]
    assert done.encoded_content is not None
    return done


def test_the_pipelines_encoded_content_is_stored_as_it_is(tmp_path: Path) -> None:
    span = _span_through_the_pipeline("llm")
    assert span.encoded_content is not None
    span.encoded_content = span.encoded_content.replace(",", ", ")  # tell it from a new encoding
    assert _store(tmp_path / "t.db", span) == {span.span_id: span.encoded_content}


def test_a_span_without_encoded_content_is_encoded_and_stored_identically(tmp_path: Path) -> None:
    span = _span_through_the_pipeline("tool")
    as_encoded = _store(tmp_path / "a.db", span)
    expected, span.encoded_content = span.encoded_content, None  # as after a redact hook or a masked secret
    assert _store(tmp_path / "b.db", span) == as_encoded == {span.span_id: expected}
    store = TraceStore(str(tmp_path / "b.db"))
    try:
        _, spans = store.get_trace(span.trace_id)
    finally:
        store.close()
    assert spans == [json.loads(json.dumps(span.to_dict()))]


@pytest.mark.parametrize("odd", ["it's", "a\x00b", "'; DROP TABLE spans; --"])
def test_values_written_into_the_statement_round_trip_exactly(tmp_path: Path, odd: str) -> None:
    """Kinds, statuses, providers and the process's fields are SQL literals, not bound values."""
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", environment="it's prod", workspace_slug="w'1")
    with st.span("s", kind="llm") as span:
        span.kind, span.provider, span.operation, span.finish_reason, span.stream = (
            odd,
            odd,
            "chat",
            None,
            False,
        )
    with st.span("t", kind="tool") as other:
        other.status = odd
    exporter = SqliteExporter(str(tmp_path / "t.db"))
    exporter.export(memory.spans, [])
    exporter.shutdown()
    store = TraceStore(str(tmp_path / "t.db"))
    try:
        stored = [store.get_trace(done.trace_id)[1] for done in (span, other)]
        assert store.get_trace(span.trace_id)[0] == TraceSummary.of_root(span).to_dict()  # derived in SQL
    finally:
        store.close()
    assert stored == [[json.loads(json.dumps(span.to_dict()))], [json.loads(json.dumps(other.to_dict()))]]
    assert stored[0][0]["stream"] is False and stored[0][0]["environment"] == "it's prod"


def test_a_span_whose_literal_value_cannot_group_costs_only_itself(tmp_path: Path) -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple")
    for name in ("odd", "fine"):
        with st.span(name):
            pass
    memory.spans[0].status = ["not", "hashable"]  # type: ignore[assignment]  # as a user might set it
    before = drop_counts()["serialization"]
    exporter = SqliteExporter(str(tmp_path / "t.db"))
    exporter.export(memory.spans, [])
    assert not exporter._held_spans  # written, nothing left to retry
    exporter.shutdown()
    assert drop_counts()["serialization"] - before == 1
    with sqlite3.connect(tmp_path / "t.db") as conn:
        assert [row[0] for row in conn.execute("SELECT name FROM spans")] == ["fine"]
    conn.close()
