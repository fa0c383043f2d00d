"""A trace of one span gets no Python roll-up: the store derives its row from the span's, in SQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import staso_integrations as st
from staso_integrations._core.context import use_span
from staso_integrations._core.rollup import LoneRoot, TraceAggregator, TraceSummary
from staso_integrations._core.runtime import get_runtime, start_span
from staso_integrations._core.span import Span, Usage
from staso_integrations.exporters import InMemoryExporter, SqliteExporter
from staso_integrations.store import TraceStore


def _stored_trace(db: Path, trace_id: str) -> dict[str, Any] | None:
    store = TraceStore(str(db))
    try:
        return store.get_trace(trace_id)[0]
    finally:
        store.close()


def _boom() -> None:
    raise ValueError("boom")


def _lone_span(usage: Usage | None, cost: float | None, fails: bool, attrs: bool) -> Span:
    conversation = st.conversation("c-1", user_id="u-1", session_id="s-1") if attrs else st.conversation(None)
    with conversation:
        try:
            with st.span("root", kind="llm") as root:
                root.usage, root.cost_usd = usage, cost
                if fails:
                    _boom()
        except ValueError:
            pass
    return root


@pytest.mark.parametrize(
    "usage",
    [
        None,
        Usage(),
        Usage(input=12, output=3),
        Usage(input=5, total=9, cache_read=2, reasoning=0),
        Usage(input=7, cache_write=1),  # no output: the trace's total is the input
        Usage(output=4),
    ],
)
@pytest.mark.parametrize("cost", [None, 2, 0.25])
@pytest.mark.parametrize(("fails", "attrs"), [(False, False), (True, True)])
def test_a_lone_trace_derived_in_sql_equals_its_python_roll_up(
    tmp_path: Path, usage: Usage | None, cost: float | None, fails: bool, attrs: bool
) -> None:
    db = tmp_path / "t.db"
    st.init(exporter=SqliteExporter(str(db)), processor="simple", agent_name="bot" if attrs else None)
    root = _lone_span(usage, cost, fails, attrs)
    assert get_runtime().processor.aggregator._lone  # no roll-up was computed in Python
    st.shutdown()
    assert _stored_trace(db, root.trace_id) == TraceSummary.of_root(root).to_dict()


def test_a_lone_trace_is_stored_as_it_is_when_another_exporter_takes_summaries(tmp_path: Path) -> None:
    derived, given = tmp_path / "derived.db", tmp_path / "given.db"
    memory = InMemoryExporter()
    st.init(exporter=[SqliteExporter(str(derived))], processor="simple")
    first = _lone_span(Usage(input=3, output=4), 0.5, fails=True, attrs=True)
    st.init(exporter=[SqliteExporter(str(given)), memory], processor="simple")
    second = _lone_span(Usage(input=3, output=4), 0.5, fails=True, attrs=True)
    st.shutdown()
    assert second.trace_id in memory.traces  # the memory exporter still gets every summary
    from_sql, from_python = _stored_trace(derived, first.trace_id), _stored_trace(given, second.trace_id)
    assert from_sql is not None and from_python is not None
    for varying in ("trace_id", "start_ns", "end_ns", "duration_ms", "turn_index"):  # a second turn
        from_sql.pop(varying), from_python.pop(varying)
    assert from_sql == from_python


def test_a_span_ending_after_its_lone_root_rewrites_the_trace(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    st.init(exporter=SqliteExporter(str(db)), processor="simple")
    with st.span("root") as root:
        root.usage = Usage(input=1, output=1)
        with use_span(root):
            late = start_span("background-job", "tool")
    trace = _stored_trace(db, root.trace_id)
    assert trace is not None and trace["span_count"] == 1 and trace["usage"]["total"] == 2
    late.usage = Usage(input=7, output=3)
    late.end()
    trace = _stored_trace(db, root.trace_id)
    assert trace is not None and trace["span_count"] == 2 and trace["usage"]["total"] == 12
    assert trace["name"] == "root" and trace["end_ns"] == late.end_ns


def test_a_lone_trace_with_tags_or_metadata_is_rolled_up_in_python(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    st.init(exporter=SqliteExporter(str(db)), processor="simple")
    with st.conversation("c", tags=["t"]), st.span("tagged") as tagged:
        pass
    with st.conversation("c", metadata={"k": "v"}), st.span("with-metadata") as with_metadata:
        pass
    assert not get_runtime().processor.aggregator._lone
    st.shutdown()
    assert _stored_trace(db, tagged.trace_id) == TraceSummary.of_root(tagged).to_dict()
    assert _stored_trace(db, with_metadata.trace_id) == TraceSummary.of_root(with_metadata).to_dict()


def test_a_root_handed_without_its_roll_up_is_a_trace_of_itself(tmp_path: Path) -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple")
    with st.span("parent") as parent, st.span("child"):
        pass
    with st.span("alone") as alone:
        pass
    with st.conversation("c", tags=["t"]), st.span("tagged"):
        pass
    st.shutdown()
    db = tmp_path / "t.db"
    exporter = SqliteExporter(str(db))
    exporter.export(memory.spans[:1], [])  # the child: its trace has no row until its root ends
    assert _stored_trace(db, parent.trace_id) is None
    exporter.export(memory.spans[1:], [memory.traces[parent.trace_id]])  # a given roll-up wins
    exporter.shutdown()
    with sqlite3.connect(db) as conn:
        stored = sorted(row[0] for row in conn.execute("SELECT name FROM traces"))
    conn.close()
    assert stored == ["alone", "parent"]  # not the tagged one: its tags are in its roll-up only
    assert _stored_trace(db, alone.trace_id) == TraceSummary.of_root(alone).to_dict()
    assert _stored_trace(db, parent.trace_id) == memory.traces[parent.trace_id].to_dict()


def test_the_aggregator_keeps_what_a_late_span_needs_of_a_lone_root_not_the_root() -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple")
    with st.span("root") as root:
        root.input = "x" * 1000
    aggregator = TraceAggregator(max_recent=2, lone_summaries=False)
    assert aggregator.add(root) is None
    assert not any(value is root for value in aggregator._lone.values())
    assert TraceSummary.of_root(LoneRoot._make(aggregator._lone[root.trace_id])) == TraceSummary.of_root(root)
    for _ in range(3):
        with st.span("other") as other:
            pass
        aggregator.add(other)
    assert len(aggregator._lone) == 2 and root.trace_id not in aggregator._lone  # bounded, oldest first


@pytest.mark.parametrize(
    ("exporters", "sample_rate", "lone_summaries"),
    [
        (["sqlite"], 1.0, False),
        (["sqlite", "memory"], 1.0, True),
        (["sqlite"], 0.5, True),  # keep-errors sampling reads every trace's summary
    ],
)
def test_lone_traces_skip_the_roll_up_only_when_every_exporter_derives_them(
    tmp_path: Path, exporters: list[str], sample_rate: float, lone_summaries: bool
) -> None:
    made = [
        SqliteExporter(str(tmp_path / "t.db")) if name == "sqlite" else InMemoryExporter()
        for name in exporters
    ]
    st.init(exporter=made, processor="simple", sample_rate=sample_rate)
    assert get_runtime().processor.aggregator._lone_summaries is lone_summaries
    st.shutdown()
