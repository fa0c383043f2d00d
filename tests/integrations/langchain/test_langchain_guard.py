"""Guard on LangChain tools: audit and enforce (sync and async), and an agent that answers
around a refused tool call (over a cassette whose second request carries the refusal)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from lc_app import AGENT_QUESTION, get_local_time, get_weather, travel_agent

import staso_integrations as st
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.guard import ToolBlocked, ToolCall


@pytest.fixture(autouse=True)
def _rules() -> Iterator[None]:
    st.guard.clear()
    st.guard.rule(no_paris_weather, tools=["get_weather"])
    yield
    st.guard.clear()


def no_paris_weather(call: ToolCall) -> tuple[bool, str]:
    return call.arguments.get("city") != "Paris", "no weather lookups for Paris"


@pytest.fixture(params=["sync", "async"])
def invoke(request: pytest.FixtureRequest) -> Any:
    def run(tool: Any, arguments: dict[str, Any]) -> Any:
        if request.param == "sync":
            return tool.invoke(arguments)
        return asyncio.run(tool.ainvoke(arguments))

    return run


def test_audit_runs_the_tool_and_records_the_verdict(invoke: Any, langchain_only: InMemoryExporter) -> None:
    assert invoke(get_weather, {"city": "Paris"}) == "Sunny, 21°C in Paris"
    span = langchain_only.by_name("get_weather")
    (decision,) = span.metadata["guard"]
    assert (decision["mode"], decision["decision"]) == ("audit", "allowed")
    assert decision["verdicts"][0]["passed"] is False
    assert langchain_only.by_name("weather-api").parent_span_id == span.span_id  # the tool really ran


def test_enforce_refuses_and_the_tool_does_not_run(invoke: Any, langchain_only: InMemoryExporter) -> None:
    st.guard.policy(mode="enforce")
    result = invoke(get_weather, {"city": "Paris"})
    assert result == "Tool call refused by policy: no_paris_weather: no weather lookups for Paris"
    span = langchain_only.by_name("get_weather")
    assert span.status == "error" and span.metadata["guard"][0]["decision"] == "blocked"
    assert [s.name for s in langchain_only.spans] == ["get_weather"]  # weather-api never opened
    assert invoke(get_local_time, {"city": "Paris"}) == "14:05"  # out of the rule's scope


def test_enforce_can_raise_instead(invoke: Any, langchain_only: InMemoryExporter) -> None:
    st.guard.policy(mode="enforce", on_block="raise")
    with pytest.raises(ToolBlocked, match="no weather lookups for Paris"):
        invoke(get_weather, {"city": "Paris"})


@pytest.mark.vcr
@pytest.mark.default_cassette("agent_guard_refusal.yaml")
def test_agent_answers_around_a_refused_tool(traced: InMemoryExporter) -> None:
    st.guard.policy(mode="enforce")
    result = travel_agent().invoke({"messages": [{"role": "user", "content": AGENT_QUESTION}]})
    assert result["messages"][-1].content == (
        "I can't check the weather in Paris right now, but the local time there is 14:05."
    )
    refusal = next(m for m in result["messages"] if getattr(m, "tool_call_id", None) == "call_Wx81kPq2")
    assert refusal.status == "error" and "no weather lookups for Paris" in refusal.content
    weather = traced.by_name("get_weather")
    assert weather.metadata["guard"][0]["decision"] == "blocked"
    assert weather.metadata["tool_call_id"] == "call_Wx81kPq2"
    assert traced.by_name("get_local_time").status == "ok"
    trace_ids = {s.trace_id for s in traced.spans}
    assert len(trace_ids) == 1
    llm_spans = [s for s in traced.spans if s.kind == "llm"]
    assert len(llm_spans) == 2 and "no weather lookups for Paris" in str(llm_spans[1].input)
    # the first response proposed the call; the rule judged it there too, without blocking
    assert llm_spans[0].metadata["guard"][0]["decision"] == "allowed"
