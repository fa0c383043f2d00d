"""Every example in ``examples/`` runs offline on its cassette, as a user would run it: a
subprocess in a fresh folder, no ``STASO_*``, no provider key. Assertions read the local store
the example wrote (span tree, token counts from the cassette, cost) and its printed output."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from staso_integrations.store import TraceFilter, TraceStore

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = [
    "openai_quickstart",
    "anthropic_tools",
    "langchain_agent",
    "decorators_and_conversations",
    "otlp_export",
    "llamaindex_rag",
]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


# llama-index-llms-openai pins openai<3: that example runs in the llama-index-test environment
RUNNABLE = [name for name in EXAMPLES if name != "llamaindex_rag" or _installed("llama_index.llms.openai")]
CLEARED = ("STASO_", "OPENAI_", "ANTHROPIC_", "OTEL_")


class Run:
    def __init__(self, cwd: Path, process: subprocess.Popen[str]) -> None:
        self.cwd = cwd
        self.output, _ = process.communicate(timeout=120)
        self.returncode = process.returncode

    def traces(self) -> list[tuple[dict[str, Any], Any]]:
        """(trace, span tree) per stored trace, oldest first."""
        store = TraceStore(str(self.cwd / ".staso" / "traces.db"))
        try:
            traces = sorted(store.list_traces(TraceFilter()), key=lambda t: t["start_ns"])
            return [(t, tree(store.get_trace(t["trace_id"])[1])) for t in traces]
        finally:
            store.close()

    def llm_usage(self) -> list[tuple[int, int]]:
        store = TraceStore(str(self.cwd / ".staso" / "traces.db"))
        try:
            llms = store.llm_spans(TraceFilter())
        finally:
            store.close()
        assert all(s["cost_usd"] > 0 for s in llms)
        return [
            (s["usage"]["input"], s["usage"]["output"]) for s in sorted(llms, key=lambda s: s["start_ns"])
        ]


def tree(spans: list[dict[str, Any]]) -> Any:
    """The single root as ``(kind, name, [children...])``, children in start order."""
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in sorted(spans, key=lambda s: s["start_ns"]):
        children.setdefault(span["parent_span_id"], []).append(span)

    def node(span: dict[str, Any]) -> Any:
        return (span["kind"], span["name"], [node(c) for c in children.get(span["span_id"], [])])

    (root,) = children[None]
    return node(root)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """All examples, started together (each is mostly import time), then collected."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}
    started = {}
    for name in RUNNABLE:
        cwd = tmp_path_factory.mktemp(name)
        started[name] = cwd, subprocess.Popen(
            [sys.executable, str(REPO / "examples" / f"{name}.py")], cwd=cwd, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    return {name: Run(cwd, process) for name, (cwd, process) in started.items()}


def ok(runs: dict[str, Run], name: str) -> Run:
    run = runs[name]
    assert run.returncode == 0, run.output
    assert f"[{name}] offline: replaying cassettes/examples/{name}.yaml" in run.output
    return run


def test_every_example_has_a_cassette_and_a_test() -> None:
    scripts = {p.stem for p in (REPO / "examples").glob("*.py") if not p.stem.startswith("_")}
    assert scripts == set(EXAMPLES)
    assert {p.stem for p in (REPO / "cassettes" / "examples").glob("*.yaml")} == set(EXAMPLES)


def test_openai_quickstart(runs: dict[str, Run]) -> None:
    run = ok(runs, "openai_quickstart")
    assert "The Golden Gate Bridge.\n1, 2, 3, 4, 5\n" in run.output
    assert "└─ [llm] chat gpt-4o-mini (gpt-4o-mini-2024-07-18)" in run.output and " ttft " in run.output
    traces = run.traces()
    assert [t for _, t in traces] == [("llm", "chat gpt-4o-mini", [])] * 2
    assert [t["agent_name"] for t, _ in traces] == ["quickstart"] * 2
    assert run.llm_usage() == [(19, 6), (16, 9)]


def test_anthropic_tools(runs: dict[str, Run]) -> None:
    run = ok(runs, "anthropic_tools")
    assert "take an umbrella" in run.output
    ((trace, spans),) = run.traces()
    llm = ("llm", "messages claude-haiku-4-5", [])
    assert spans == ("agent", "weather-bot", [llm, ("tool", "get_weather", []), llm])
    assert run.llm_usage() == [(392, 68), (502, 24)]
    assert trace["usage"]["total"] == 392 + 68 + 502 + 24


def test_langchain_agent(runs: dict[str, Run]) -> None:
    run = ok(runs, "langchain_agent")
    ((trace, spans),) = run.traces()
    model = ("chain", "model", [("llm", "ChatOpenAI", [])])
    assert spans == (
        "agent",
        "travel_agent",
        [model, ("chain", "tools", [("tool", "get_weather", [])]),
         ("chain", "tools", [("tool", "get_local_time", [])]), model],
    )  # fmt: skip
    assert run.llm_usage() == [(112, 49), (190, 17)]
    assert trace["agent_name"] == "travel_agent" and trace["status"] == "ok"


def test_decorators_and_conversations(runs: dict[str, Run]) -> None:
    run = ok(runs, "decorators_and_conversations")
    traces = run.traces()
    turn = (
        "agent",
        "faq-bot",
        [("retriever", "search_faq", []), ("custom", "build_prompt", []),
         ("llm", "chat gpt-4o-mini", []), ("tool", "count_words", [])],
    )  # fmt: skip
    assert [t for _, t in traces] == [turn, turn]
    assert [(t["conversation_id"], t["user_id"], t["session_id"], t["turn_index"]) for t, _ in traces] == [
        ("faq-conv-1", "user-bob", "web-session-7", 0),
        ("faq-conv-1", "user-bob", "web-session-7", 1),
    ]
    assert run.llm_usage() == [(37, 17), (35, 14)]


def test_otlp_export(runs: dict[str, Run]) -> None:
    run = ok(runs, "otlp_export")
    assert "local OTLP receiver got 2 spans:" in run.output
    chat = next(line for line in run.output.splitlines() if line.startswith("  chat gpt-4o-mini: "))
    for attribute in ("'gen_ai.usage.input_tokens': 15", "'gen_ai.usage.output_tokens': 21",
                      "'gen_ai.response.model': 'gpt-4o-mini-2024-07-18'", "'gen_ai.provider.name': 'openai'"):  # fmt: skip
        assert attribute in chat
    assert "  summarize: {'gen_ai.agent.name': 'otlp-demo'}" in run.output
    assert "└─ [chain] summarize" in run.output  # the console exporter's tree
    assert not (run.cwd / ".staso").exists()  # only otlp and console were asked for


def test_llamaindex_rag(runs: dict[str, Run]) -> None:
    if "llamaindex_rag" not in runs:
        pytest.skip("needs the llama-index-test environment")
    run = runs["llamaindex_rag"]
    assert run.returncode == 0, run.output
    assert "Eiffel Tower" in run.output and "[llm] OpenAI.chat" in run.output
    ((trace, root),) = run.traces()
    assert root[:2] == ("chain", "rag")
    kinds = _kinds(root)
    assert sorted(kinds) == ["chain", "chain", "chain", "embedding", "embedding", "llm", "retriever"]
    assert run.llm_usage() == [(190, 15)]
    assert trace["usage"]["input"] == 248 and trace["cost_usd"] > 0 and trace["agent_name"] == "rag-bot"


def _kinds(node: Any) -> list[str]:
    return [node[0], *(kind for child in node[2] for kind in _kinds(child))]
