from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import staso_integrations as st
from staso_integrations._core.span import Usage
from staso_integrations.cli import main
from staso_integrations.store import TraceFilter, TraceStore, parse_since


def _store(db: Path) -> str:
    st.init(exporter="sqlite", sqlite_path=str(db), processor="simple", agent_name="bot")
    with st.conversation("conv-9"):
        with st.span("answer", kind="agent") as root:
            with st.span("chat", kind="llm") as llm:
                llm.provider, llm.request_model = "openai", "gpt-4o-mini"
                llm.usage = Usage(input=1000, output=100)
    with st.span("other"):
        pass
    st.shutdown()
    return root.trace_id


def test_traces_list_and_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "t.db"
    trace_id = _store(db)
    assert main(["--db", str(db), "traces", "list"]) == 0
    out = capsys.readouterr().out
    header, *rows = out.splitlines()
    assert header.split() == [
        "time",
        "(UTC)",
        "trace",
        "id",
        "agent",
        "name",
        "spans",
        "tokens",
        "cost",
        "duration",
        "status",
    ]
    assert len(rows) == 2
    assert trace_id[-16:] in out and "1100" in out and "$0.000210" in out
    assert main(["--db", str(db), "traces", "list", "--conversation", "conv-9", "--since", "1h"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["--db", str(db), "traces", "list", "--agent", "nobody"]) == 0
    assert "no traces match" in capsys.readouterr().out


def test_traces_show_prints_the_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "t.db"
    trace_id = _store(db)
    for short in (trace_id[-16:], trace_id[-6:], trace_id[:20]):  # as listed, its end, its start
        assert main(["--db", str(db), "traces", "show", short]) == 0
        out = capsys.readouterr().out
        assert out.splitlines()[0].startswith(f"trace {trace_id}")
    assert "└─ [agent] answer" in out and "└─ [llm] chat (gpt-4o-mini)" in out and "1000→100 tok" in out
    with pytest.raises(SystemExit, match="no trace id starts or ends with 'ffff'"):
        main(["--db", str(db), "traces", "show", "ffff"])


def test_bad_since_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "t.db"
    _store(db)
    with pytest.raises(SystemExit) as refused:
        main(["--db", str(db), "traces", "list", "--since", "yesterday"])
    assert refused.value.code == 2 and "use a duration like 30m" in capsys.readouterr().err
    assert parse_since("2026-01-01T00:00") == 1767225600 * 10**9


def test_missing_store_says_so(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no trace store at"):
        main(["--db", str(tmp_path / "none.db"), "traces", "list"])


def test_doctor_never_prints_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STASO_API_KEY", "sk-staso-very-secret")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "sk-staso-very-secret" not in out
    assert "api_key: set" in out and "integrations:" in out


def test_demo_and_module_entry_point_work_offline(tmp_path: Path) -> None:
    """The README's first command: the LangChain support agent replayed from the bundled
    cassette, two turns of one conversation in ``.staso/traces.db``, trees and table printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STASO_", "OPENAI_"))}
    demo = subprocess.run(
        [sys.executable, "-m", "staso_integrations", "demo"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    assert "[tool] issue_refund" in demo.stdout and "ERROR RuntimeError: payments API" in demo.stdout
    assert "ok (1 err)" in demo.stdout  # the traces list table, after the two trees

    store = TraceStore(str(tmp_path / ".staso" / "traces.db"))
    try:
        traces = sorted(store.list_traces(TraceFilter()), key=lambda t: t["turn_index"])
        trees = [store.get_trace(t["trace_id"])[1] for t in traces]
    finally:
        store.close()
    assert [t["turn_index"] for t in traces] == [0, 1]
    assert {(t["conversation_id"], t["user_id"], t["source_type"]) for t in traces} == {
        ("demo-conversation", "user-alice", "demo")
    }
    # per turn: two model calls, usage exactly as in the cassette (prompt -> completion tokens)
    cassette_usage = [[(163, 18), (219, 20)], [(265, 23), (330, 46)]]
    for spans, usage, tool in zip(trees, cassette_usage, ["lookup_order", "issue_refund"]):
        by_id = {s["span_id"]: s for s in spans}
        root = next(s for s in spans if s["parent_span_id"] is None)
        assert (root["kind"], root["name"]) == ("agent", "support_agent")

        for span in spans:  # one tree: every span leads up to the root
            while span["parent_span_id"] is not None:
                span = by_id[span["parent_span_id"]]
            assert span is root
        kinds = sorted((s["kind"], s["name"]) for s in spans if s["kind"] in ("llm", "retriever", "tool"))
        assert kinds == [("llm", "ChatOpenAI")] * 2 + [("retriever", "PolicyRetriever"), ("tool", tool)]
        llms = sorted((s for s in spans if s["kind"] == "llm"), key=lambda s: s["start_ns"])
        assert [(s["usage"]["input"], s["usage"]["output"]) for s in llms] == usage
        assert all(s["response_model"] == "gpt-4o-mini-2024-07-18" and s["cost_usd"] > 0 for s in llms)
        assert llms[0]["tool_calls"][0]["name"] == tool
    assert [t["usage"]["total"] for t in traces] == [420, 664]
    errors = [s for spans in trees for s in spans if s["status"] == "error"]
    assert [(s["name"], s["error"]["type"]) for s in errors] == [("issue_refund", "RuntimeError")]

    listing = subprocess.run(
        [sys.executable, "-m", "staso_integrations", "traces", "list"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert listing.returncode == 0 and len(listing.stdout.splitlines()) == 3
