"""One declaration of the exported fields: every form of a span and a roll-up follows it."""

from __future__ import annotations

from pathlib import Path

import staso_integrations as st
from staso_integrations._core.schema import SPAN_FIELD_NAMES, SPAN_FIELDS, TRACE_FIELD_NAMES, TRACE_USAGE_KEYS
from staso_integrations._core.span import Usage
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.exporters._sqlite_schema import SPAN_COLUMNS, open_for_writing


def test_span_dict_has_every_declared_field_in_order() -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple")
    with st.conversation("c-1", user_id="u-1", tags=["a"]), st.span("s", kind="llm") as span:
        span.usage = Usage(input=3, output=4)
        span.stream = False
    data = memory.spans[0].to_dict()
    assert tuple(data) == SPAN_FIELD_NAMES
    assert (data["conversation_id"], data["user_id"], data["tags"]) == ("c-1", "u-1", ["a"])
    assert data["usage"] == {"input": 3, "output": 4, "total": 7, "cache_read": None,
                             "cache_write": None, "reasoning": None}  # fmt: skip
    assert data["stream"] is False and data["environment"] == "default"


def test_store_columns_and_roll_up_keys_follow_the_declaration(tmp_path: Path) -> None:
    conn = open_for_writing(str(tmp_path / "t.db"), 1.0)
    try:
        columns = {table: tuple(row[1] for row in conn.execute(f"PRAGMA table_info({table})"))
                   for table in ("spans", "traces")}  # fmt: skip
    finally:
        conn.close()
    # A span's free-form (json) fields are one content column, its usage one column per count; the
    # duration is read back from the start and end.
    scalar = {field.name for field in SPAN_FIELDS if field.kind != "json"} - {"duration_ms"}
    assert set(columns["spans"]) == scalar | set(TRACE_USAGE_KEYS) | {"usage_empty", "content"}
    assert columns["traces"] == tuple(name for name in TRACE_FIELD_NAMES if name != "duration_ms")
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple")
    with st.span("root"):
        pass
    rolled_up = set(next(iter(memory.traces.values())).to_dict())
    assert rolled_up == (set(TRACE_FIELD_NAMES) - set(TRACE_USAGE_KEYS)) | {"usage"}


def test_a_store_row_binds_no_none(tmp_path: Path) -> None:
    """Unset columns are left out of the INSERT, not bound (sqlite3 adapts None slowly)."""
    from staso_integrations.exporters.sqlite import _span_rows

    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple")
    with st.span("tool", kind="tool"):
        pass
    [((present, *literals), values)] = _span_rows(memory.spans)
    assert present == 0  # no optional column set: only the ones every span has are bound
    literal = {column.name for column in SPAN_COLUMNS if column.literal}
    assert literal == {"kind", "status", "environment", "workspace_slug", "source_type", "provider",
                       "operation", "request_model", "response_model", "finish_reason", "stream"}  # fmt: skip
    assert literals.count(None) == 7 and {"tool", "ok", "default", "production"} <= set(literals)
    assert None not in values and len(values) < len(SPAN_FIELD_NAMES)
