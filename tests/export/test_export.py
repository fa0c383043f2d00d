from __future__ import annotations

import json
from pathlib import Path

import pytest

import staso_integrations as st
from staso_integrations._core.span import Usage
from staso_integrations.cli import main

from .sft_format import assert_valid


def _llm(
    name: str, input: object, output: object, *, tool_calls: list | None = None, fail: bool = False
) -> None:  # noqa: A002
    with st.span(name, kind="llm", input=input) as span:
        span.provider, span.request_model, span.response_model = (
            "openai",
            "gpt-4o-mini",
            "gpt-4o-mini-2024-07-18",
        )
        span.usage = Usage(input=20, output=5)
        span.output = output
        span.tool_calls = tool_calls
        span.metadata["tools"] = (
            [{"type": "function", "function": {"name": "lookup"}}] if tool_calls else None
        )
        if fail:
            raise RuntimeError("rate limited")


def _populate(db: Path) -> None:
    st.init(
        exporter="sqlite", sqlite_path=str(db), processor="simple", agent_name="bot", source_type="production"
    )
    with st.conversation("c-1"):
        with st.span("turn", kind="agent"):
            _llm("chat", [{"role": "user", "content": "order 7?"}], None,
                 tool_calls=[{"id": "call_1", "name": "lookup", "arguments": '{"id": 7}'}])  # fmt: skip
            _llm(
                "chat",
                [{"role": "user", "content": "order 7?"}],
                {"role": "assistant", "content": "Shipped."},
            )
            _llm(
                "claude",
                {
                    "system": [{"type": "text", "text": "Be brief."}],
                    "messages": [{"role": "user", "content": "hi"}],
                },
                {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
            )
            with pytest.raises(RuntimeError):
                _llm("chat", [{"role": "user", "content": "x"}], None, fail=True)
    st.shutdown()
    st.init(exporter="sqlite", sqlite_path=str(db), processor="simple", source_type="test")
    _llm("chat", "legacy prompt", "completion text")
    st.shutdown()


def test_sft_export_has_messages_in_assistant_out_and_tools(tmp_path: Path) -> None:
    db, out = tmp_path / "t.db", tmp_path / "sft.jsonl"
    _populate(db)
    export = ["--db", str(db), "export", "--format", "sft", "--source-type", "production", "--provenance"]
    assert main([*export, "-o", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert_valid([{k: v for k, v in record.items() if k != "metadata"} for record in records])
    assert len(records) == 3  # the failed call is left out; the test-source call is filtered out
    tool_turn, answer, claude = records
    assert tool_turn["messages"][-1] == {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "lookup", "arguments": '{"id": 7}'}}],
    }  # fmt: skip
    assert tool_turn["tools"] == [{"type": "function", "function": {"name": "lookup"}}]
    assert answer["messages"] == [
        {"role": "user", "content": "order 7?"},
        {"role": "assistant", "content": "Shipped."},
    ]
    assert claude["messages"][0] == {"role": "system", "content": "Be brief."}
    meta = answer["metadata"]
    assert (meta["model"], meta["agent_name"], meta["conversation_id"], meta["source_type"]) == (
        "gpt-4o-mini-2024-07-18", "bot", "c-1", "production",
    )  # fmt: skip
    assert meta["usage"]["input"] == 20 and meta["cost_usd"] > 0


def test_sft_export_filters_and_error_option(tmp_path: Path) -> None:
    db, out = tmp_path / "t.db", tmp_path / "sft.jsonl"
    _populate(db)
    main(["--db", str(db), "export", "--source-type", "test", "-o", str(out)])
    (legacy,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert legacy["messages"] == [{"role": "user", "content": "legacy prompt"},
                                  {"role": "assistant", "content": "completion text"}]  # fmt: skip
    main(["--db", str(db), "export", "--agent", "bot", "--include-errors", "-o", str(out)])
    assert len(out.read_text().splitlines()) == 3  # a failed call with no output is never a record


def test_jsonl_export_writes_whole_traces(tmp_path: Path) -> None:
    db, out = tmp_path / "t.db", tmp_path / "traces.jsonl"
    _populate(db)
    main(["--db", str(db), "export", "--format", "jsonl", "--since", "1h", "-o", str(out)])
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [len(r["spans"]) for r in records] == [5, 1]
    assert records[0]["trace"]["error_count"] == 1 and records[0]["trace"]["conversation_id"] == "c-1"
