"""A ``create_agent`` agent with two tools: one trace, the agent at its root, tools nested."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from lc_app import AGENT_QUESTION, ERROR_QUESTION, travel_agent
from lc_trees import parent_of, tree

from staso_integrations._core.span import Span
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations.langchain import _callback

pytestmark = pytest.mark.vcr
ANSWER = "In Paris it is sunny and 21°C, and the local time is 14:05."
AGENT_TREE = [
    (
        "agent",
        "travel_agent",
        [
            ("chain", "model", [("llm", "ChatOpenAI", [])]),
            ("chain", "model", [("llm", "ChatOpenAI", [])]),
            ("chain", "tools", [("tool", "get_local_time", [])]),
            ("chain", "tools", [("tool", "get_weather", [("custom", "weather-api", [])])]),
        ],
    ),
]  # fmt: skip children sorted: the two tool nodes run concurrently


def _sorted(nodes: list[Any]) -> list[Any]:
    return sorted((kind, name, _sorted(children)) for kind, name, children in nodes)


def _messages(question: str) -> dict[str, Any]:
    return {"messages": [("user", question)]}


@pytest.fixture(params=["sync", "async"])
def run_agent(request: pytest.FixtureRequest) -> Callable[[str], Any]:
    if request.param == "sync":
        return lambda question: travel_agent().invoke(_messages(question))
    return lambda question: asyncio.run(travel_agent().ainvoke(_messages(question)))


def _check_agent_trace(spans: list[Span]) -> None:
    assert _sorted(tree(spans)) == AGENT_TREE
    agent = next(s for s in spans if s.kind == "agent")
    assert {s.agent_name for s in spans} == {"travel_agent"}
    assert agent.output["messages"][-1] == {"role": "assistant", "content": ANSWER, "name": "travel_agent"}

    first, second = sorted((s for s in spans if s.kind == "llm"), key=lambda s: s.start_ns)
    assert first.finish_reason == "tool_calls" and second.finish_reason == "stop"
    calls = [{**c, "arguments": json.loads(c["arguments"])} for c in first.tool_calls]
    assert calls == [
        {"id": "call_Wx81kPq2", "name": "get_weather", "arguments": {"city": "Paris"}},
        {"id": "call_Tm42zLr9", "name": "get_local_time", "arguments": {"city": "Paris"}},
    ]
    assert (first.usage.input, first.usage.output, second.usage.input, second.usage.output) == (
        118,
        46,
        197,
        19,
    )
    assert second.input[-1] == {
        "role": "tool",
        "content": "14:05",
        "tool_call_id": "call_Tm42zLr9",
        "name": "get_local_time",
    }

    weather = next(s for s in spans if s.name == "get_weather")
    assert weather.input == {"city": "Paris"} and weather.output == "Sunny, 21°C in Paris"
    assert weather.metadata["tool_call_id"] == "call_Wx81kPq2"
    assert parent_of(spans, next(s for s in spans if s.name == "weather-api")) is weather
    assert len({s.trace_id for s in spans}) == 1


@pytest.mark.default_cassette("agent_two_tools.yaml")
def test_agent_round_trip_with_two_tools(traced: InMemoryExporter, run_agent: Callable[[str], Any]) -> None:
    assert run_agent(AGENT_QUESTION)["messages"][-1].content == ANSWER

    _check_agent_trace(traced.spans)
    summary = next(iter(traced.traces.values()))
    assert (summary.usage.input, summary.usage.output) == (118 + 197, 46 + 19)  # no double counting
    llm_costs = [s.cost_usd for s in traced.spans if s.kind == "llm"]
    assert all(cost is not None and cost > 0 for cost in llm_costs)
    assert summary.cost_usd == pytest.approx(sum(llm_costs))
    assert not _callback.ACTIVE.runs


@pytest.mark.default_cassette("agent_two_tools_stream.yaml")
async def test_agent_streamed_with_astream(traced: InMemoryExporter) -> None:
    tokens = []
    async for message, _meta in travel_agent().astream(_messages(AGENT_QUESTION), stream_mode="messages"):
        if message.type == "AIMessageChunk" and isinstance(message.content, str):
            tokens.append(message.content)
    assert "".join(tokens) == ANSWER

    _check_agent_trace(traced.spans)
    for llm in (s for s in traced.spans if s.kind == "llm"):
        assert llm.stream is True and llm.ttft_ms is not None and 0 < llm.ttft_ms <= llm.duration_ms
    assert next(iter(traced.traces.values())).usage.input == 118 + 197


@pytest.mark.default_cassette("agent_tool_error.yaml")
def test_a_tool_that_raises(traced: InMemoryExporter, run_agent: Callable[[str], Any]) -> None:
    with pytest.raises(LookupError, match="no weather station in Atlantis") as raised:
        run_agent(ERROR_QUESTION)
    assert type(raised.value) is LookupError  # LangChain's behaviour is unchanged

    tool = traced.by_name("get_weather")
    assert tool.status == "error"
    assert tool.error == {"type": "LookupError", "message": "no weather station in Atlantis"}
    assert tool.input == {"city": "Atlantis"}
    agent = next(s for s in traced.spans if s.kind == "agent")
    assert agent.status == "error" and agent.error["type"] == "LookupError"
    assert traced.by_name("ChatOpenAI").status == "ok"
    assert len({s.trace_id for s in traced.spans}) == 1
    assert not _callback.ACTIVE.runs
