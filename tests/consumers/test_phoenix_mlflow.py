"""Our OTLP spans as the tools users run read them: a real Phoenix and a real MLflow server.

Each scenario (the offline demo, an OpenAI call, an Anthropic tool call, a LangChain chain with
a retriever, a LlamaIndex query where LlamaIndex is installed) runs in its own process from
its cassette and exports to both servers (``drive.py``). Then we ask each tool, through its
own API, what it made of them: Phoenix's REST API (sessions, spans), MLflow's client
(``search_traces`` / ``get_trace``, run in the MLflow venv by ``mlflow_query.py``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import Server

HERE = Path(__file__).resolve().parent
USER = "user-h19"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# scenario -> (session id, traces it makes); llama-index-llms-openai pins openai<3 (own venv)
SCENARIOS = {
    "demo": ("demo-session", 2),
    "openai_quickstart": ("sess-openai_quickstart", 2),
    "anthropic_tools": ("sess-anthropic_tools", 1),
    "langchain_rag": ("sess-langchain_rag", 1),
}
if _installed("llama_index.llms.openai"):
    SCENARIOS["llamaindex_rag"] = ("sess-llamaindex_rag", 1)
CLEARED = ("STASO_", "OPENAI_", "ANTHROPIC_", "OTEL_")
WAIT_S = 120


def _get(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


@pytest.fixture(scope="module")
def exported(phoenix: Server, mlflow: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Runs every scenario (in parallel: each is mostly import time); returns the MLflow experiment id."""
    experiment = _get(f"{mlflow.url}/api/2.0/mlflow/experiments/create", {"name": "staso-consumers"})
    experiment_id = str(experiment["experiment_id"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}
    started = {}
    for name in SCENARIOS:
        command = [sys.executable, str(HERE / "drive.py"), name, f"{phoenix.url}/v1/traces",
                   f"{mlflow.url}/v1/traces", experiment_id]  # fmt: skip
        started[name] = subprocess.Popen(command, cwd=tmp_path_factory.mktemp(name), env=env,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    for name, process in started.items():
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, f"{name}: {output}"
    return experiment_id


def _until(read: Callable[[], Any], ready: Callable[[Any], bool], interval: float) -> Any:
    """``read()`` again every ``interval`` seconds until ``ready`` (the servers ingest in the background)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        value = read()
        if ready(value):
            return value
        assert time.monotonic() < deadline, f"not there after {WAIT_S} s: {str(value)[:2000]}"
        time.sleep(interval)


@pytest.fixture(scope="module")
def phoenix_sessions(exported: str, phoenix: Server) -> dict[str, list[list[dict[str, Any]]]]:
    """Session id -> its traces, each the list of its spans, as Phoenix's REST API returns them."""
    wanted = {session: count for session, count in SCENARIOS.values()}
    counts: list[int] = []

    def read() -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
        sessions = {s["session_id"]: [t["trace_id"] for t in s["traces"]]
                    for s in _get(f"{phoenix.url}/v1/projects/default/sessions?limit=100")["data"]}  # fmt: skip
        spans = _get(f"{phoenix.url}/v1/projects/default/spans?limit=1000")["data"]
        counts.append(len(spans))
        return sessions, spans

    def ready(found: tuple[dict[str, list[str]], list[dict[str, Any]]]) -> bool:
        complete = all(len(found[0].get(session, ())) == count for session, count in wanted.items())
        return complete and len(counts) >= 3 and len(set(counts[-3:])) == 1  # stable three reads in a row

    sessions, spans = _until(read, ready, interval=1.0)
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for span in spans:
        by_trace[span["context"]["trace_id"]].append(span)
    return {session: [by_trace[trace] for trace in traces] for session, traces in sessions.items()}


@pytest.fixture(scope="module")
def mlflow_sessions(exported: str, mlflow: Server) -> dict[str, list[dict[str, Any]]]:
    """Session id -> its traces as MLflow's client returns them (``mlflow_query.py``)."""
    query = [str(Path(mlflow.bin).with_name("python")), str(HERE / "mlflow_query.py"), mlflow.url, exported]
    wanted = sum(count for _, count in SCENARIOS.values())

    def read() -> list[dict[str, Any]]:
        return json.loads(
            subprocess.run(query, capture_output=True, text=True, timeout=300, check=True).stdout
        )

    def ready(traces: list[dict[str, Any]]) -> bool:
        return len(traces) >= wanted and all(
            trace["metadata"].get("mlflow.trace.session") for trace in traces
        )

    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for trace in _until(read, ready, interval=2.0):
        grouped[trace["metadata"]["mlflow.trace.session"]].append(trace)
    return grouped


def _attrs(span: dict[str, Any]) -> dict[str, Any]:
    return span["attributes"]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_phoenix_recognises_kinds_messages_tokens_and_users(
    scenario: str, phoenix_sessions: dict[str, list[list[dict[str, Any]]]]
) -> None:
    session, count = SCENARIOS[scenario]
    traces = phoenix_sessions[session]
    assert len(traces) == count
    user = "user-alice" if scenario == "demo" else USER
    for spans in traces:
        assert all(span["span_kind"] not in ("UNKNOWN", None) for span in spans), [s["name"] for s in spans]
        assert {_attrs(span).get("user.id") for span in spans} == {user}
        assert {_attrs(span).get("session.id") for span in spans} == {session}
        llms = [span for span in spans if span["span_kind"] == "LLM"]
        assert llms
        for llm in llms:
            attrs = _attrs(llm)
            assert attrs["llm.input_messages.0.message.role"] in ("system", "user")
            assert attrs["llm.input_messages.0.message.content"]
            assert attrs["llm.output_messages.0.message.role"] == "assistant"
            answer = "llm.output_messages.0.message."
            assert answer + "content" in attrs or attrs[answer + "tool_calls.0.tool_call.function.name"]
            assert int(attrs["llm.token_count.prompt"]) > 0 and int(attrs["llm.token_count.completion"]) > 0
            assert attrs["llm.model_name"] and attrs["input.mime_type"] == "application/json"


def test_phoenix_sees_the_anthropic_tool_call_and_its_result(
    phoenix_sessions: dict[str, list[list[dict[str, Any]]]],
) -> None:
    (spans,) = phoenix_sessions["sess-anthropic_tools"]
    assert sorted(span["span_kind"] for span in spans) == ["AGENT", "LLM", "LLM", "TOOL"]
    second = max((s for s in spans if s["span_kind"] == "LLM"), key=lambda s: s["start_time"])
    attrs = _attrs(second)
    call = "llm.input_messages.1.message.tool_calls.0.tool_call."
    assert attrs[call + "function.name"] == "get_weather"
    assert json.loads(attrs[call + "function.arguments"]) == {"city": "Dublin"}
    assert attrs["llm.input_messages.2.message.tool_call_id"] == attrs[call + "id"]
    assert "light rain" in attrs["llm.input_messages.2.message.content"]
    assert "umbrella" in attrs["llm.output_messages.0.message.content"]
    assert (int(attrs["llm.token_count.prompt"]), int(attrs["llm.token_count.completion"])) == (502, 24)
    assert json.loads(attrs["llm.tools.0.tool.json_schema"])["name"] == "get_weather"
    (tool,) = (s for s in spans if s["span_kind"] == "TOOL")
    assert _attrs(tool)["tool.name"] == "get_weather"
    assert json.loads(_attrs(tool)["output.value"])["sky"] == "light rain"


def test_phoenix_sees_the_retrieved_documents(
    phoenix_sessions: dict[str, list[list[dict[str, Any]]]],
) -> None:
    (spans,) = phoenix_sessions["sess-langchain_rag"]
    (retriever,) = (s for s in spans if s["span_kind"] == "RETRIEVER")
    attrs = _attrs(retriever)
    doc = "retrieval.documents.0.document."
    assert attrs[doc + "id"] == "doc-1" and float(attrs[doc + "score"]) == 4
    assert attrs[doc + "content"].startswith("The Acme office is in Lyon")
    assert attrs["retrieval.documents.1.document.id"] == "doc-2"
    assert attrs["input.value"] == "Which city is the office in?" and attrs["input.mime_type"] == "text/plain"
    (llm,) = (s for s in spans if s["span_kind"] == "LLM")
    assert int(_attrs(llm)["llm.token_count.prompt_details.cache_read"]) == 1280
    assert "Lyon" in _attrs(llm)["llm.output_messages.0.message.content"]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_mlflow_recognises_kinds_messages_tokens_user_and_session(
    scenario: str, mlflow_sessions: dict[str, list[dict[str, Any]]]
) -> None:
    session, count = SCENARIOS[scenario]
    traces = mlflow_sessions[session]
    assert len(traces) == count
    for trace in traces:
        assert trace["metadata"]["mlflow.trace.user"] == ("user-alice" if scenario == "demo" else USER)
        assert trace["token_usage"]["input_tokens"] > 0 and trace["token_usage"]["output_tokens"] > 0
        spans = trace["spans"]
        assert all(span["span_type"] not in ("UNKNOWN", None) for span in spans), [s["name"] for s in spans]
        llms = [span for span in spans if span["span_type"] in ("LLM", "CHAT_MODEL")]
        assert llms
        for llm in llms:
            assert llm["inputs"] and llm["outputs"]
            usage = llm["attributes"]["mlflow.chat.tokenUsage"]
            assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0


def test_mlflow_sees_documents_tools_and_the_span_tree_kinds(
    mlflow_sessions: dict[str, list[dict[str, Any]]],
) -> None:
    (rag,) = mlflow_sessions["sess-langchain_rag"]
    (retriever,) = (s for s in rag["spans"] if s["span_type"] == "RETRIEVER")
    assert [doc["id"] for doc in retriever["outputs"]] == ["doc-1", "doc-2"]
    (tools,) = mlflow_sessions["sess-anthropic_tools"]
    assert sorted(s["span_type"] for s in tools["spans"]) == ["AGENT", "LLM", "LLM", "TOOL"]
    (tool,) = (s for s in tools["spans"] if s["span_type"] == "TOOL")
    assert tool["inputs"] == {"city": "Dublin"} and tool["outputs"]["sky"] == "light rain"
    kinds = {s["span_type"] for trace in mlflow_sessions["demo-session"] for s in trace["spans"]}
    assert kinds == {"AGENT", "CHAIN", "RETRIEVER", "LLM", "TOOL"}
