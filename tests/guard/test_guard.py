"""Guard on ``@st.tool`` and on tool calls proposed by llm responses."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import staso_integrations as st
from staso_integrations.cli import main
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.guard import ToolBlocked, ToolCall, Verdict


@pytest.fixture(autouse=True)
def _no_rules() -> Iterator[None]:
    st.guard.clear()
    yield
    st.guard.clear()


ran: list[str] = []


@st.tool(name="delete_file")
def delete_file(path: str) -> str:
    ran.append(path)
    return f"deleted {path}"


@st.tool(name="delete_file")
async def adelete_file(path: str) -> str:
    ran.append(path)
    return f"deleted {path}"


def _no_system_paths(call: ToolCall) -> Verdict:
    bad = call.arguments["path"].startswith("/etc")
    return Verdict(passed=not bad, score=0.0 if bad else 1.0, reason="system path" if bad else "ok")


@pytest.fixture(params=["sync", "async"])
def call_tool(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    def call(path: str) -> str:
        if request.param == "sync":
            return delete_file(path)
        return asyncio.run(adelete_file(path))

    ran.clear()
    return call


def test_audit_records_the_verdict_and_lets_the_call_run(call_tool, exporter: InMemoryExporter) -> None:  # type: ignore[no-untyped-def]
    st.guard.rule(_no_system_paths, tools=["delete_file"])
    assert call_tool("/etc/passwd") == "deleted /etc/passwd"
    assert ran == ["/etc/passwd"]
    (decision,) = exporter.by_name("delete_file").metadata["guard"]
    assert decision["mode"] == "audit" and decision["decision"] == "allowed"
    verdict = decision["verdicts"][0]
    assert (verdict["rule"], verdict["passed"], verdict["score"], verdict["reason"]) == (
        "_no_system_paths", False, 0.0, "system path",
    )  # fmt: skip
    assert verdict["duration_ms"] >= 0


def test_enforce_blocks_with_tool_blocked(call_tool, exporter: InMemoryExporter) -> None:  # type: ignore[no-untyped-def]
    st.guard.rule(_no_system_paths)
    st.guard.policy(mode="enforce")
    with pytest.raises(
        ToolBlocked, match="tool 'delete_file' blocked by guard: _no_system_paths: system path"
    ) as info:
        call_tool("/etc/passwd")
    assert ran == []
    assert info.value.reason == "_no_system_paths: system path"
    span = exporter.by_name("delete_file")
    assert span.status == "error" and span.error["type"] == "staso_integrations.guard._model.ToolBlocked"
    assert span.metadata["guard"][0]["decision"] == "blocked"
    assert call_tool("/tmp/x") == "deleted /tmp/x"  # a passing call runs


@pytest.mark.parametrize(("on_error", "blocked"), [("open", False), ("closed", True)])
def test_a_rule_that_raises_is_an_error_verdict_and_on_error_decides(
    call_tool,
    on_error: str,
    blocked: bool,
    exporter: InMemoryExporter,  # type: ignore[no-untyped-def]
) -> None:
    @st.guard.rule
    def broken(call: ToolCall) -> bool:
        raise KeyError("no such field")

    st.guard.policy(mode="enforce", on_error=on_error)
    if blocked:
        with pytest.raises(ToolBlocked, match="broken: KeyError: 'no such field'"):
            call_tool("/tmp/a")
    else:
        assert call_tool("/tmp/a") == "deleted /tmp/a"
    verdict = exporter.spans[-1].metadata["guard"][0]["verdicts"][0]
    assert verdict["passed"] is None and verdict["error"] == "KeyError: 'no such field'"


def test_a_slow_rule_over_budget_does_not_hold_the_call(call_tool, exporter: InMemoryExporter) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()

    @st.guard.rule(budget_ms=50)
    def slow(call: ToolCall) -> bool:
        release.wait(10.0)  # a call held by the rule would take these 10 s, however loaded the machine
        return True

    st.guard.policy(mode="enforce")  # fail-open by default
    start = time.perf_counter()
    try:
        assert call_tool("/tmp/a") == "deleted /tmp/a"
        assert time.perf_counter() - start < 5.0
    finally:
        release.set()
    verdict = exporter.spans[-1].metadata["guard"][0]["verdicts"][0]
    assert verdict["error"] == "over its 50 ms budget"


def test_scoping_by_tool_agent_and_environment(exporter: InMemoryExporter) -> None:
    seen: list[str] = []

    def record(label: str):  # type: ignore[no-untyped-def]
        def rule(call: ToolCall) -> bool:
            seen.append(label)
            return True

        return rule

    st.guard.rule(record("tool"), name="t", tools="delete_file")
    st.guard.rule(record("other-tool"), name="o", tools=["send_email"])
    st.guard.rule(record("agent"), name="a", agents=["ops-bot"])
    st.guard.rule(record("prod"), name="p", environments=["prod"])

    @st.agent(name="ops-bot")
    def run() -> str:
        return delete_file("/tmp/x")

    run()
    assert sorted(seen) == ["agent", "tool"]
    seen.clear()
    delete_file("/tmp/y")
    assert seen == ["tool"]


def test_rule_sees_the_trace_context(exporter: InMemoryExporter) -> None:
    calls: list[ToolCall] = []
    st.guard.rule(lambda call: calls.append(call) or True, name="spy")
    with st.conversation("conv-1", user_id="u-1"):
        delete_file("/tmp/z")
    call = calls[0]
    assert (call.tool_name, call.arguments, call.source) == ("delete_file", {"path": "/tmp/z"}, "tool")
    assert (call.conversation_id, call.user_id, call.environment) == ("conv-1", "u-1", "default")
    assert call.span_id == exporter.by_name("delete_file").span_id


def test_rule_result_forms_and_bad_ones(exporter: InMemoryExporter) -> None:
    st.guard.rule(lambda c: {"passed": True, "score": 0.9, "reason": "fine"}, name="as_dict")
    st.guard.rule(lambda c: (False, "tuple says no"), name="as_tuple")
    st.guard.rule(lambda c: "yes", name="as_str")
    delete_file("/tmp/q")
    verdicts = {v["rule"]: v for v in exporter.by_name("delete_file").metadata["guard"][0]["verdicts"]}
    assert verdicts["as_dict"]["score"] == 0.9 and verdicts["as_dict"]["passed"] is True
    assert verdicts["as_tuple"]["passed"] is False and verdicts["as_tuple"]["reason"] == "tuple says no"
    assert verdicts["as_str"]["passed"] is None and "rule returned str" in verdicts["as_str"]["error"]


def test_bad_policy_and_rule_values_fail_at_setup() -> None:
    with pytest.raises(ValueError, match="unknown mode 'block'; allowed: audit, enforce"):
        st.guard.policy(mode="block")
    with pytest.raises(ValueError, match="unknown on_error 'maybe'; allowed: open, closed"):
        st.guard.policy(on_error="maybe")
    with pytest.raises(ValueError, match="budget_ms must be positive"):
        st.guard.rule(lambda c: True, budget_ms=0)


def test_tool_calls_proposed_by_an_llm_are_judged_and_never_blocked(exporter: InMemoryExporter) -> None:
    st.guard.rule(_no_system_paths, tools=["delete_file"])
    st.guard.policy(mode="enforce")
    with st.span("chat", kind="llm") as llm:
        llm.provider = "openai"
        llm.tool_calls = [
            {"id": "call_1", "name": "delete_file", "arguments": '{"path": "/etc/hosts"}'},
            {"id": "call_2", "name": "lookup", "arguments": "{}"},
        ]
    span = exporter.by_name("chat")
    (decision,) = span.metadata["guard"]  # only delete_file is in the rule's scope
    assert decision["mode"] == "audit" and decision["decision"] == "allowed"
    assert decision["verdicts"][0]["passed"] is False
    assert span.status == "ok"


def test_traces_show_lists_verdicts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "g.db"
    st.init(exporter="sqlite", sqlite_path=str(db), processor="simple")
    st.guard.rule(_no_system_paths)
    st.guard.policy(mode="enforce")
    with pytest.raises(ToolBlocked):
        delete_file("/etc/shadow")
    st.shutdown()
    assert main(["--db", str(db), "traces", "show", "last"]) == 0
    assert "guard[enforce]: blocked (_no_system_paths: system path)" in capsys.readouterr().out
