"""The guard cannot be starved, bypassed or made to hang by its own rules.

Hanging rules wait on ``release``, set at teardown, so no test leaves a thread behind.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

import staso_integrations as st
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.guard import ToolBlocked, ToolCall, _runner

release = threading.Event()


@pytest.fixture(autouse=True)
def _rules_released() -> Iterator[None]:
    st.guard.clear()
    release.clear()
    yield
    release.set()
    st.guard.clear()


Tools = Callable[[str], Callable[[str], str]]


def _make_tool(name: str, asynchronous: bool) -> Callable[[str], str]:
    if asynchronous:

        @st.tool(name=name)
        async def atool(path: str) -> str:
            return f"{name} {path}"

        return lambda path: asyncio.run(atool(path))

    @st.tool(name=name)
    def tool(path: str) -> str:
        return f"{name} {path}"

    return tool


@pytest.fixture(params=["sync", "async"])
def tools(request: pytest.FixtureRequest) -> Tools:
    return lambda name: _make_tool(name, request.param == "async")


def _hang(call: ToolCall) -> bool:
    release.wait(30)
    return True


def _no_system_paths(call: ToolCall) -> bool:
    return not call.arguments["path"].startswith("/etc")


def _hang_four_tools(tools: Tools, *, blocked: bool) -> None:
    """Four tool calls, each hanging one rule (the old pool had four threads)."""
    for n in range(4):
        st.guard.rule(_hang, name=f"hang{n}", tools=[f"slow{n}"], budget_ms=50)
    for n in range(4):
        if blocked:
            with pytest.raises(ToolBlocked, match=f"hang{n}: over its 50 ms budget"):
                tools(f"slow{n}")("/tmp/x")
        else:
            assert tools(f"slow{n}")("/tmp/x") == f"slow{n} /tmp/x"


def test_hung_rules_do_not_starve_a_rule_that_blocks(tools: Tools, exporter: InMemoryExporter) -> None:
    st.guard.policy(mode="enforce", on_error="open")
    _hang_four_tools(tools, blocked=False)
    st.guard.rule(_no_system_paths, tools=["delete_file"], budget_ms=2000)
    with pytest.raises(ToolBlocked, match="_no_system_paths"):
        tools("delete_file")("/etc/passwd")


def test_hung_rules_do_not_block_every_later_call_when_closed(
    tools: Tools, exporter: InMemoryExporter
) -> None:
    st.guard.policy(mode="enforce", on_error="closed")
    _hang_four_tools(tools, blocked=True)
    st.guard.rule(_no_system_paths, tools=["delete_file"], budget_ms=2000)
    delete_file = tools("delete_file")
    for _ in range(3):
        assert delete_file("/tmp/x") == "delete_file /tmp/x"


def test_a_hung_rule_is_quarantined_and_reported(
    tools: Tools,
    exporter: InMemoryExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs: list[str] = []

    @st.guard.rule(tools=["lookup"], budget_ms=50)
    def sometimes_hangs(call: ToolCall) -> bool:
        runs.append(call.arguments["path"])
        if call.arguments["path"] == "hang":
            release.wait(30)
        return True

    lookup = tools("lookup")
    with caplog.at_level(logging.WARNING, logger="staso_integrations"):
        lookup("hang")
        lookup("a")  # not run: its earlier run still hangs
    assert runs == ["hang"]
    first, second = (span.metadata["guard"][0]["verdicts"][0] for span in exporter.spans[-2:])
    assert first["error"] == "over its 50 ms budget"
    assert second["passed"] is None and second["error"].startswith("quarantined")
    [line] = [r.getMessage() for r in caplog.records if "sometimes_hangs" in r.getMessage()]
    assert "quarantined" in line

    release.set()  # the hung run returns: the rule is back
    deadline = time.monotonic() + 10
    while len(runs) < 2 and time.monotonic() < deadline:
        lookup("b")
        time.sleep(0.02)
    assert runs[1] == "b"
    assert exporter.spans[-1].metadata["guard"][0]["verdicts"][0]["passed"] is True


def test_a_rule_that_keeps_hanging_is_quarantined_for_good(tools: Tools, exporter: InMemoryExporter) -> None:
    runs: list[int] = []

    @st.guard.rule(tools=["lookup"], budget_ms=20)
    def slow(call: ToolCall) -> bool:
        runs.append(1)
        time.sleep(0.1)
        return True

    lookup = tools("lookup")
    for _ in range(3):  # each run goes over budget, then returns
        lookup("x")
        deadline = time.monotonic() + 10
        while (
            st.guard.quarantined().get("slow") == "while its earlier run hangs"
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
    for _ in range(3):
        lookup("x")
    assert len(runs) == 3
    assert (
        "quarantined after 3 runs over budget"
        in exporter.spans[-1].metadata["guard"][0]["verdicts"][0]["error"]
    )
    assert st.guard.quarantined() == {"slow": "after 3 runs over budget"}
    st.guard.rule(slow, tools=["lookup"], budget_ms=1000)  # registering it again gives it a new start
    lookup("x")
    assert len(runs) == 4 and st.guard.quarantined() == {}


def test_budget_is_per_tool_call_not_summed_over_rules(tools: Tools, exporter: InMemoryExporter) -> None:
    for n in range(8):
        st.guard.rule(_hang, name=f"hang{n}", budget_ms=300)  # summed: 2.4 s
    start = time.monotonic()
    assert tools("lookup")("x") == "lookup x"
    assert time.monotonic() - start < 1.5  # the largest budget (0.3 s), with room for a busy machine
    verdicts = exporter.spans[-1].metadata["guard"][0]["verdicts"]
    assert [v["error"] for v in verdicts] == ["over its 300 ms budget"] * 8


class _Custom(BaseException):
    pass


@pytest.mark.parametrize("raised", [SystemExit(3), KeyboardInterrupt(), _Custom("odd"), GeneratorExit()])
@pytest.mark.parametrize(("on_error", "blocked"), [("open", False), ("closed", True)])
def test_a_rule_raising_any_base_exception_is_a_rule_error(
    tools: Tools,
    exporter: InMemoryExporter,
    raised: BaseException,
    on_error: str,
    blocked: bool,
) -> None:
    @st.guard.rule
    def exits(call: ToolCall) -> bool:
        raise raised

    st.guard.policy(mode="enforce", on_error=on_error)
    tool = tools("lookup")
    if blocked:
        with pytest.raises(ToolBlocked, match=f"exits: {type(raised).__name__}"):
            tool("x")
    else:
        assert tool("x") == "lookup x"
    verdict = exporter.spans[-1].metadata["guard"][0]["verdicts"][0]
    assert verdict["passed"] is None and verdict["error"].startswith(type(raised).__name__)


def test_no_thread_to_be_had_is_a_rule_error(
    tools: Tools, exporter: InMemoryExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At interpreter shutdown (or at the OS thread limit) no thread can start: an error verdict."""

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(_runner, "_threads", _runner._Threads())  # no idle thread to reuse
    monkeypatch.setattr(threading.Thread, "start", refuse)
    st.guard.rule(_no_system_paths)
    st.guard.policy(mode="enforce", on_error="open")
    assert tools("lookup")("/tmp/x") == "lookup /tmp/x"
    verdict = exporter.spans[-1].metadata["guard"][0]["verdicts"][0]
    assert verdict["error"] == "not run: can't create new thread at interpreter shutdown"
