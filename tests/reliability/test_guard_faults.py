"""The fault suite, guard side: a rule that never returns does not hold the process at exit, and
a forked child judges with guard threads of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import staso_integrations as st
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.guard import ToolBlocked, ToolCall
from staso_integrations.store import TraceFilter, TraceStore
from tests.conftest import REPO

EXIT_BOUND_S = 20.0  # a healthy run of the script takes about a second

APP = textwrap.dedent(
    """
    import sys, threading
    import staso_integrations as st

    st.init(exporter="sqlite", sqlite_path=sys.argv[1])

    @st.guard.rule(budget_ms=100)
    def never_returns(call):
        threading.Event().wait()  # a rule stuck on a lock or a dead network peer

    @st.tool(name="lookup")
    def lookup(q):
        return q.upper()

    if sys.argv[2] == "proposed":  # judged on the pipeline's thread, up to the exit flush
        with st.span("chat", kind="llm") as llm:
            llm.tool_calls = [{"id": "c1", "name": "lookup", "arguments": '{"q": "ok"}'}]
        print("proposed", flush=True)
    else:
        st.guard.policy(mode="enforce", on_error=sys.argv[2])
        try:
            print(lookup("ok"), flush=True)
        except st.guard.ToolBlocked as blocked:
            print("blocked:", blocked.reason, flush=True)
    """
)


@pytest.mark.parametrize(
    ("on_error", "expected"),
    [
        ("open", "OK"),
        ("closed", "blocked: never_returns: over its 100 ms budget"),
        ("proposed", "proposed"),  # a tool call an llm response proposes
    ],
)
def test_a_rule_that_never_returns_does_not_block_exit(tmp_path: Path, on_error: str, expected: str) -> None:
    script = tmp_path / "app.py"
    script.write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STASO_")}
    start = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "t.db"), on_error],
            check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=EXIT_BOUND_S,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"the process was still running {EXIT_BOUND_S:g} s later: a hung rule held its exit")
    elapsed = time.monotonic() - start
    print(f"exit with a hung rule (on_error={on_error}): {elapsed:.2f} s")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
    store = TraceStore(str(tmp_path / "t.db"))
    try:
        assert [t["name"] for t in store.list_traces(TraceFilter())] == [
            "chat" if on_error == "proposed" else "lookup"
        ]
    finally:
        store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_its_own_guard_threads(exporter: InMemoryExporter) -> None:
    """Idle and stuck guard threads stay in the parent: the child starts its own, and a rule
    quarantined because its run hangs in the parent is judged again in the child."""
    release = threading.Event()
    hang = {"on": True}

    @st.guard.rule(tools=["lookup"], budget_ms=100)
    def hangs_once(call: ToolCall) -> bool:
        if hang["on"]:
            release.wait(30)
        return call.arguments["q"] != "bad"

    @st.tool(name="lookup")
    def lookup(q: str) -> str:
        return q

    try:
        st.guard.policy(mode="enforce", on_error="closed")
        with pytest.raises(ToolBlocked, match="over its 100 ms budget"):
            lookup("x")  # hangs: quarantined in this process
        hang["on"] = False
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                assert lookup("ok") == "ok"
                try:
                    lookup("bad")
                except ToolBlocked as blocked:
                    code = 0 if "hangs_once: failed" in str(blocked) else 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        release.set()
        st.guard.clear()
