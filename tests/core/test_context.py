from __future__ import annotations

import asyncio
import contextvars
import threading

import staso_integrations as st
from staso_integrations.exporters import InMemoryExporter


@st.trace
async def leaf(i: int) -> int:
    await asyncio.sleep(0)
    return i


@st.trace
async def branch(i: int) -> int:
    await asyncio.sleep(0)
    return await leaf(i)


async def test_200_gathered_tasks_do_not_cross_talk(exporter: InMemoryExporter) -> None:
    @st.trace
    async def root() -> list[int]:
        return await asyncio.gather(*(branch(i) for i in range(200)))

    assert await root() == list(range(200))
    root_span = exporter.by_name("root")
    branches = {s.span_id: s for s in exporter.spans if s.name == "branch"}
    leaves = [s for s in exporter.spans if s.name == "leaf"]
    assert len(branches) == 200 and len(leaves) == 200
    assert all(b.parent_span_id == root_span.span_id for b in branches.values())
    for leaf_span in leaves:
        parent = branches[leaf_span.parent_span_id]
        assert parent.input == leaf_span.input  # each leaf sits under the branch that called it
    assert {s.trace_id for s in exporter.spans} == {root_span.trace_id}


async def test_separate_root_tasks_get_separate_traces(exporter: InMemoryExporter) -> None:
    await asyncio.gather(*(branch(i) for i in range(20)))
    roots = [s for s in exporter.spans if s.name == "branch"]
    assert len({s.trace_id for s in roots}) == 20
    assert all(s.parent_span_id is None for s in roots)


def test_thread_with_copied_context_parents_correctly(exporter: InMemoryExporter) -> None:
    @st.trace
    def work(i: int) -> int:
        return i

    with st.span("request") as request:
        threads = [threading.Thread(target=contextvars.copy_context().run, args=(work, i)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    workers = [s for s in exporter.spans if s.name == "work"]
    assert len(workers) == 16
    assert all(s.parent_span_id == request.span_id and s.trace_id == request.trace_id for s in workers)


def test_thread_without_context_starts_its_own_trace(exporter: InMemoryExporter) -> None:
    @st.trace
    def work() -> None:
        return None

    with st.span("request") as request:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    assert exporter.by_name("work").trace_id != request.trace_id


def test_conversation_and_session_turns(exporter: InMemoryExporter) -> None:
    @st.trace
    def turn(text: str) -> str:
        with st.span("inner"):
            return text

    with st.conversation("conv-42", user_id="user-alice", session_id="sess-1", tags=["beta"]):
        turn("a")
        turn("b")
    turn("outside")
    turns = [s for s in exporter.spans if s.name == "turn"]
    inner = [s for s in exporter.spans if s.name == "inner"]
    assert [t.turn_index for t in turns] == [0, 1, None]
    assert [i.turn_index for i in inner] == [0, 1, None]
    first = turns[0].to_dict()
    assert first["conversation_id"] == "conv-42"
    assert first["user_id"] == "user-alice"
    assert first["session_id"] == "sess-1"
    assert first["tags"] == ["beta"]
    assert turns[2].to_dict()["conversation_id"] is None
    summary = exporter.traces[turns[1].trace_id]
    assert (summary.conversation_id, summary.session_id, summary.turn_index) == ("conv-42", "sess-1", 1)


def test_session_from_init_numbers_every_trace() -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", session_id="batch-7")
    for _ in range(3):
        with st.span("job"):
            pass
    assert [(s.trace_attrs.session_id, s.turn_index) for s in memory.spans] == [
        ("batch-7", 0), ("batch-7", 1), ("batch-7", 2)
    ]  # fmt: skip


def test_trace_fields_come_from_init(exporter: InMemoryExporter) -> None:
    memory = InMemoryExporter()
    st.init(
        exporter=memory, processor="simple", environment="prod", workspace_slug="acme",
        source_type="eval_replay",
    )  # fmt: skip
    with st.span("x"):
        pass
    data = memory.spans[0].to_dict()
    assert (data["environment"], data["workspace_slug"], data["source_type"]) == (
        "prod",
        "acme",
        "eval_replay",
    )


def test_sampling_keeps_or_drops_whole_traces() -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", sample_rate=0.5)
    for _ in range(200):
        with st.span("root"):
            with st.span("child"):
                pass
    roots = {s.trace_id for s in memory.spans if s.name == "root"}
    children = {s.trace_id for s in memory.spans if s.name == "child"}
    assert roots == children  # never a split trace
    assert 40 < len(roots) < 160


def test_sample_rate_zero_exports_nothing() -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", sample_rate=0)
    with st.span("root"):
        pass
    assert memory.spans == []
