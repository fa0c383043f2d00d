"""Trace ids are time-ordered (48 bits of milliseconds, 80 random bits); span ids are random."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

import staso_integrations as st
from staso_integrations._core import span as span_module
from staso_integrations._core.span import new_span_id, new_trace_id
from staso_integrations.store import TraceStore

_MS = (1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000)


def test_a_trace_id_is_its_millisecond_then_80_random_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = []
    for ms in _MS:
        monkeypatch.setattr(span_module, "_time_ns", lambda ms=ms: ms * 1_000_000 + 999_999)
        ids += [new_trace_id() for _ in range(300)]
    assert all(re.fullmatch("[0-9a-f]{32}", trace_id) for trace_id in ids)
    assert [int(trace_id[:12], 16) for trace_id in ids] == [ms for ms in _MS for _ in range(300)]
    assert len({trace_id[12:] for trace_id in ids}) == len(ids)  # the random part alone is unique
    assert sorted(ids[:300]) != ids[:300]  # random within a millisecond, ordered across them
    assert sorted(ids) == sorted(ids[:300]) + sorted(ids[300:600]) + sorted(ids[600:])


def test_span_ids_stay_random() -> None:
    ids = [new_span_id() for _ in range(300)]
    assert all(re.fullmatch("[0-9a-f]{16}", span_id) for span_id in ids)
    assert len(set(ids)) == len(ids) and sorted(ids) != ids


def test_the_store_keys_traces_in_the_order_they_started(tmp_path: Path) -> None:
    """What makes the store's key inserts append at the end of its B-trees."""
    db = tmp_path / "t.db"
    st.init(exporter="sqlite", sqlite_path=str(db))
    for n in range(20):
        with st.span(f"t{n}", kind="agent"), st.span("child", kind="tool"):
            time.sleep(0.002)
    st.shutdown()
    store = TraceStore(str(db))
    try:
        by_key = [t["name"] for t in store.list_traces()][::-1]  # newest first
        keys = [row[0] for row in store._conn.execute("SELECT name FROM traces ORDER BY trace_id")]
    finally:
        store.close()
    assert keys == by_key == [f"t{n}" for n in range(20)]
