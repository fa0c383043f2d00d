"""With content capture off, nothing the user (or the model) wrote reaches the store.

Each scenario is a real program: real SDK calls replayed from the integration tests' own
cassettes, ``STASO_CAPTURE_CONTENT=false``, a real SQLite store (and a JSONL file). The test
then greps the bytes of both files for strings the program knows: prompts, answers, tool
definitions, tool arguments and results, retrieved documents, guard reasons, error
messages, user metadata and conversation metadata and tags.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from staso_integrations.store import TraceStore
from tests.conftest import REPO

PROLOGUE = """
import json, sys, vcr
import staso_integrations as st

st.instrument_all()

@st.guard.rule(name="city_check")
def city_check(call):
    return st.guard.Verdict(passed=True, reason="GUARD-REASON city " + json.dumps(call.arguments))

@st.tool(name="lookup_account")
def lookup_account(account_id, note):
    return {"owner": "TOOL-RESULT-Marguerite"}

@st.tool(name="failing_tool")
def failing_tool(card):
    raise ValueError("ERROR-MESSAGE card " + card + " declined")

def cassette(folder, name):
    return vcr.VCR(record_mode="none", match_on=["method", "scheme", "host", "port", "path", "query", "body"]
                   ).use_cassette(f"{REPO}/cassettes/{folder}/{name}")

with st.conversation("conv-1", user_id="user-1", tags=["TAG-vip-customer"], metadata={"plan": "META-platinum"}):
    with st.span("checkout", metadata={"basket": "SPANMETA-secret-basket"}):
        lookup_account("ACCT-ARG-991", note="TOOL-ARG-call me after 6")
        try:
            failing_tool("4242-4242")
        except ValueError:
            pass
"""

OPENAI = """
import openai
WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False}, "strict": True}}
client = openai.OpenAI(api_key="test-key", base_url="https://api.openai.com/v1", max_retries=0)
with cassette("openai", "chat_tools.yaml"):
    messages = [{"role": "user", "content": "Weather in Paris and in Rome?"}]
    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    for call, answer in zip(first.choices[0].message.tool_calls, ("18C, sunny", "24C, clear")):
        messages.append({"role": "tool", "tool_call_id": call.id, "content": answer})
    second = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])
print(second.choices[0].message.content)
"""
OPENAI_STRINGS = [
    "Weather in Paris and in Rome?", "18C, sunny", "24C, clear", "Paris is 18C and sunny",
    '{"city":"Paris"}', "Current weather for a city", "additionalProperties",
]  # fmt: skip

ANTHROPIC = """
import anthropic
TOOLS = [
    {"name": "get_weather", "description": "Current weather for a city.",
     "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
    {"name": "get_time", "description": "Local time for a city.",
     "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
]
client = anthropic.Anthropic(api_key="sk-ant-test-key")
question = {"role": "user", "content": "What's the weather and the local time in Paris?"}
with cassette("anthropic", "messages_tools.yaml"):
    first = client.messages.create(model="claude-haiku-4-5", max_tokens=512, tools=TOOLS, messages=[question])
    calls = [block for block in first.content if block.type == "tool_use"]
    answers = {"get_weather": "14°C, light rain", "get_time": "10:41"}
    results = [{"type": "tool_result", "tool_use_id": c.id, "content": answers[c.name]} for c in calls]
    assistant = [block.model_dump(exclude_none=True) for block in first.content]
    second = client.messages.create(model="claude-haiku-4-5", max_tokens=512, tools=TOOLS, messages=[
        question, {"role": "assistant", "content": assistant}, {"role": "user", "content": results}])
print(second.content[0].text)
"""
ANTHROPIC_STRINGS = [
    "What's the weather and the local time in Paris?", "light rain", "10:41", "In Paris",
    '"city": "Paris"', "Local time for a city", "input_schema",
]  # fmt: skip

LANGCHAIN = """
import asyncio, os
sys.path.insert(0, f"{REPO}/tests/integrations/langchain")
from lc_app import AGENT_QUESTION, QUESTION, rag_chain, travel_agent
with cassette("langchain", "rag_chain.yaml"):
    print(rag_chain().invoke(QUESTION))
with cassette("langchain", "agent_two_tools.yaml"):
    print(travel_agent().invoke({"messages": [("user", AGENT_QUESTION)]})["messages"][-1].content)
"""
LANGCHAIN_STRINGS = [
    "Which city is the office in?", "next to the Part-Dieu station", "makes weather sensors",
    "handbook.md", "What's the weather and the local time in Paris?", "Sunny, 21", "14:05",
    "concise travel assistant", "Local time in a city",
]  # fmt: skip

# Written by the prologue in every program.
OWN_STRINGS = [
    "GUARD-REASON", "TOOL-RESULT-Marguerite", "ERROR-MESSAGE", "4242-4242", "TAG-vip-customer",
    "META-platinum", "SPANMETA-secret-basket", "ACCT-ARG-991", "TOOL-ARG-call me",
]  # fmt: skip


def _stored_forms(text: str) -> set[bytes]:
    """The bytes of ``text`` as is and as a JSON string (quotes escaped, ASCII or not)."""
    return {
        text.encode(),
        json.dumps(text)[1:-1].encode(),
        json.dumps(text, ensure_ascii=False)[1:-1].encode(),
    }


def _run(
    tmp_path: Path, program: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STASO_", "OPENAI_", "ANTHROPIC_"))}
    env.update(
        STASO_CAPTURE_CONTENT="false",
        STASO_EXPORTER="sqlite,jsonl",
        STASO_SQLITE_PATH=str(tmp_path / "traces.db"),
        STASO_JSONL_PATH=str(tmp_path / "traces.jsonl"),
        OPENAI_API_KEY="sk-test-not-a-key",
        PYTHONPATH=str(REPO),
        **(extra_env or {}),
    )
    # An explicit shutdown: at interpreter exit the guard's executor is already closed (noted for h17b).
    script = f"REPO = {str(REPO)!r}\n" + PROLOGUE + program + "\nst.shutdown()\n"
    return subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize(
    ("program", "strings"),
    [(OPENAI, OPENAI_STRINGS), (ANTHROPIC, ANTHROPIC_STRINGS), (LANGCHAIN, LANGCHAIN_STRINGS)],
    ids=["openai-tools", "anthropic-tool-use", "langchain-rag-and-agent"],
)
def test_the_store_holds_no_user_string_with_capture_off(
    tmp_path: Path, program: str, strings: list[str]
) -> None:
    done = _run(tmp_path, program)
    assert done.returncode == 0, done.stderr
    stored = (tmp_path / "traces.db").read_bytes() + (tmp_path / "traces.jsonl").read_bytes()
    for text in strings + OWN_STRINGS:
        for form in _stored_forms(text):
            assert form not in stored, f"{text!r} reached the store with capture off"
    # What stays: the structure, models, tokens, tool names, rule names and error types.
    store = TraceStore(str(tmp_path / "traces.db"))
    try:
        spans = [span for trace in store.list_traces() for span in store.get_trace(trace["trace_id"])[1]]
    finally:
        store.close()
    kinds = {span["kind"] for span in spans}
    assert {"llm", "tool"} <= kinds
    assert all(span["usage"]["input"] for span in spans if span["kind"] == "llm")
    failing = next(span for span in spans if span["name"] == "failing_tool")
    assert failing["error"]["type"] == "ValueError" and "declined" not in str(failing["error"])
    looked_up = next(span for span in spans if span["name"] == "lookup_account")
    assert looked_up["metadata"]["guard"][0]["verdicts"][0]["rule"] == "city_check"
    assert (
        any(
            span["metadata"].get("tools") and span["metadata"]["tools"][0]["name"] == "get_weather"
            for span in spans
        )
        or program is LANGCHAIN
    )
