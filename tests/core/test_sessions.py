"""turn_index counts the turns of a session: across conversation() blocks, bounded, settable."""

from __future__ import annotations

import threading

import pytest

import staso_integrations as st
from staso_integrations._core import sessions
from staso_integrations.exporters import InMemoryExporter


def _turn(session_id: str, **kwargs: object) -> int | None:
    """One request of a server: its own conversation() block, one trace."""
    with st.conversation("conv", user_id="u", session_id=session_id, **kwargs):  # type: ignore[arg-type]
        with st.span("handle request") as span:
            pass
    return span.turn_index


def test_each_block_of_a_session_continues_its_count(exporter: InMemoryExporter) -> None:
    assert [_turn("sess-a") for _ in range(3)] == [0, 1, 2]
    assert _turn("sess-b") == 0  # another session counts on its own
    assert _turn("sess-a") == 3
    summaries = [exporter.traces[s.trace_id] for s in exporter.spans]
    assert [s.turn_index for s in summaries] == [0, 1, 2, 0, 3]


def test_a_caller_that_knows_the_turn_passes_it(exporter: InMemoryExporter) -> None:
    assert _turn("sess-c", turn_index=7) == 7  # e.g. a server process that read it from its store
    assert _turn("sess-c") == 8  # later blocks count on from it
    with st.conversation(turn_index=4):  # no session: the block's own numbering
        with st.span("a") as first:
            pass
        with st.span("b") as second:
            pass
    assert (first.turn_index, second.turn_index) == (4, 5)


def test_the_session_from_init_and_blocks_of_it_share_one_count() -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", session_id="sess-env")
    with st.span("first"):
        pass
    assert _turn("sess-env") == 1
    with st.span("third"):
        pass
    assert [s.turn_index for s in memory.spans] == [0, 1, 2]


def test_concurrent_requests_of_one_session_get_distinct_turns(exporter: InMemoryExporter) -> None:
    turns: list[int | None] = []
    threads = [threading.Thread(target=lambda: turns.append(_turn("sess-d"))) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(turns) == list(range(20))  # type: ignore[type-var]


def test_memory_is_bounded_by_forgetting_the_least_recent_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions, "MAX_SESSIONS", 3)
    for name in ("s1", "s2", "s3"):
        next(sessions.session_turns(name))
    next(sessions.session_turns("s1"))  # s1 is used again: s2 is now the least recent
    next(sessions.session_turns("s4"))
    assert list(sessions._turns)[-3:] == ["s3", "s1", "s4"] and "s2" not in sessions._turns
    assert next(sessions.session_turns("s1")) == 2 and next(sessions.session_turns("s2")) == 0
