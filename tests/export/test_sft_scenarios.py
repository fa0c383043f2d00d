"""``export --format sft`` over every cassette-backed scenario, checked by the format's rules.

Provider scenarios replay each recorded request of ``cassettes/openai`` and
``cassettes/anthropic`` through the real, instrumented SDK (the request body of the cassette
is the call's arguments), into a real SQLite store; the demo and the examples run as a user
runs them. Every record written must pass ``sft_format.problems``; the calls without a record
must be the ones that have none for a stated reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import vcr
import yaml

import staso_integrations as st
from staso_integrations.cli import main
from staso_integrations.export import sft_records
from staso_integrations.store import TraceFilter, TraceStore

from .sft_format import assert_valid

REPO = Path(__file__).resolve().parents[2]
# host, path -> the SDK method a recorded request came from
METHODS = {
    ("api.openai.com", "/v1/chat/completions"): "chat.completions.create",
    ("api.openai.com", "/v1/responses"): "responses.create",
    ("api.openai.com", "/v1/completions"): "completions.create",
    ("api.anthropic.com", "/v1/messages"): "messages.create",
}
FAILED = "the call failed (--include-errors keeps it)"


def _export(db: Path, out: Path, *options: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The records ``export --format sft`` writes, and the calls it skipped, by reason."""
    skipped: Counter[str] = Counter()
    store = TraceStore(str(db))
    try:
        records = list(
            sft_records(store, TraceFilter(limit=10_000), "--include-errors" in options, skipped=skipped)
        )
    finally:
        store.close()
    assert main(["--db", str(db), "export", "--format", "sft", *options, "-o", str(out)]) == 0
    assert [json.loads(line) for line in out.read_text().splitlines()] == json.loads(json.dumps(records))
    return records, dict(skipped)


def _replay(cassette: Path, db: Path) -> int:
    """Every recorded model request of ``cassette``, made again through the SDK; how many."""
    interactions = yaml.safe_load(cassette.read_text())["interactions"]
    st.init(exporter="sqlite", sqlite_path=str(db), processor="simple")
    st.instrument_all(include=["openai", "anthropic"])
    clients = {
        "api.openai.com": openai.OpenAI(api_key="test-key", max_retries=0),
        "api.anthropic.com": anthropic.Anthropic(api_key="test-key", max_retries=0),
    }
    made = 0
    with vcr.use_cassette(str(cassette), record_mode="none", decode_compressed_response=True):
        for interaction in interactions:
            request = interaction["request"]
            host, _, path = request["uri"].removeprefix("https://").partition("/")
            method = METHODS.get((host, f"/{path}"))
            if method is None:
                continue
            target: Any = clients[host]
            for name in method.split("."):
                target = getattr(target, name)
            made += 1
            try:
                result = target(**json.loads(request["body"]))
                if json.loads(request["body"]).get("stream"):
                    list(result)
            except (openai.APIError, anthropic.APIError):
                pass  # a recorded failure: the call's span fails, the export leaves it out
    st.shutdown()
    return made


CASSETTES = sorted((REPO / "cassettes" / "openai").glob("*.yaml")) + sorted(
    (REPO / "cassettes" / "anthropic").glob("*.yaml")
)
# Calls that have no record, by cassette: failures, a refusal with no text, a server-side tool.
NO_RECORD = {
    "chat_errors": {FAILED: 3},
    "messages_error_400": {FAILED: 1},
    "messages_error_404": {FAILED: 1},
    "messages_error_529": {FAILED: 1},
    "messages_stream_529": {FAILED: 1},
    "messages_stream_error": {FAILED: 1},
    "messages_refusal": {"no output captured": 1},
    "messages_stream_server_tool": {"'server_tool_use' content in assistant messages": 1},
    "responses_web_search": {"tool 'web_search' has no function form": 1},
}


@pytest.mark.parametrize("cassette", CASSETTES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_provider_scenario_exports_valid_records(cassette: Path, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    made = _replay(cassette, db)
    if not made:
        pytest.skip("no chat, responses, completions or messages request in this cassette")
    records, skipped = _export(db, tmp_path / "sft.jsonl")
    assert_valid(records)
    assert skipped == NO_RECORD.get(cassette.stem, {})
    assert len(records) == made - sum(skipped.values())


def test_records_carry_tool_round_trips_and_drop_thinking(tmp_path: Path) -> None:
    """Anthropic tool_use/tool_result blocks become tool calls and tool messages; OpenAI's
    round trip keeps its ids; thinking is left out; the history's assistant turn has weight 0."""
    answers = {}
    for name in ("openai/chat_tools", "anthropic/messages_tools", "anthropic/messages_thinking"):
        db = tmp_path / f"{name.replace('/', '-')}.db"
        _replay(REPO / "cassettes" / f"{name}.yaml", db)
        answers[name] = _export(db, tmp_path / "sft.jsonl")[0][-1]["messages"]
    for name in ("openai/chat_tools", "anthropic/messages_tools"):
        user, asked, *results, answer = answers[name]
        assert asked["weight"] == 0 and [r["tool_call_id"] for r in results] == [
            c["id"] for c in asked["tool_calls"]
        ]
        assert all(isinstance(call["function"]["arguments"], str) for call in asked["tool_calls"])
        assert "weight" not in answer and answer["content"]
    assert answers["anthropic/messages_thinking"] == [
        {"role": "user", "content": "Is 1001 prime?"},
        {"role": "assistant", "content": "No. 1001 = 7 × 11 × 13."},
    ]


def _run(name: str, argv: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("STASO_", "OPENAI_", "ANTHROPIC_", "OTEL_"))
    }
    return subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# (scenario, command, records expected); LlamaIndex only where its test extra is installed
PROGRAMS = [
    ("demo", [sys.executable, "-m", "staso_integrations", "demo"], 4),
    *((name, [sys.executable, str(REPO / "examples" / f"{name}.py")], count) for name, count in (
        ("openai_quickstart", 2), ("anthropic_tools", 2), ("langchain_agent", 2),
        ("decorators_and_conversations", 2),
    )),
]  # fmt: skip
if _installed("llama_index.llms.openai"):
    PROGRAMS.append(("llamaindex_rag", [sys.executable, str(REPO / "examples" / "llamaindex_rag.py")], 1))


def test_demo_and_examples_export_valid_records(tmp_path: Path) -> None:
    started = {}
    for name, argv, _ in PROGRAMS:
        cwd = tmp_path / name
        cwd.mkdir()
        started[name] = cwd, _run(name, argv, cwd)
    finished = {
        name: (cwd, *process.communicate(timeout=180), process.returncode)
        for name, (cwd, process) in started.items()
    }
    for name, _, expected in PROGRAMS:
        cwd, output, _, returncode = finished[name]
        assert returncode == 0, output
        records, skipped = _export(cwd / ".staso" / "traces.db", cwd / "sft.jsonl", "--include-errors")
        assert_valid(records)
        assert (name, len(records), skipped) == (name, expected, {})
