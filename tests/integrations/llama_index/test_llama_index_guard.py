"""Guard on LlamaIndex ``FunctionTool.call/acall``: audit, enforce (a refusal the agent can
read as the tool's error output) and raise, sync and async."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core.tools import FunctionTool

import staso_integrations as st
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.guard import ToolBlocked, ToolCall

calls: list[tuple[int, int]] = []


def transfer(amount: int, account: int) -> str:
    """Transfer money to an account."""
    calls.append((amount, account))
    return f"sent {amount} to {account}"


def at_most_100(call: ToolCall) -> dict[str, Any]:
    ok = call.arguments["amount"] <= 100
    return {"passed": ok, "score": 1.0 if ok else 0.0, "reason": "ok" if ok else "amount over 100"}


@pytest.fixture(autouse=True)
def _rule() -> Iterator[None]:
    st.guard.clear()
    st.guard.rule(at_most_100, tools=["transfer"])
    calls.clear()
    yield
    st.guard.clear()


@pytest.fixture(params=["sync", "async"])
def call_tool(request: pytest.FixtureRequest) -> Any:
    tool = FunctionTool.from_defaults(transfer)

    def call(**kwargs: Any) -> Any:
        return tool.call(**kwargs) if request.param == "sync" else asyncio.run(tool.acall(**kwargs))

    return call


def test_audit_records_and_runs(call_tool: Any, traced: InMemoryExporter) -> None:
    assert call_tool(amount=500, account=7).content == "sent 500 to 7"
    assert calls == [(500, 7)]
    (decision,) = traced.by_name("transfer").metadata["guard"]
    assert decision["decision"] == "allowed" and decision["verdicts"][0]["reason"] == "amount over 100"


def test_enforce_returns_the_refusal_as_an_error_output(call_tool: Any, traced: InMemoryExporter) -> None:
    st.guard.policy(mode="enforce")
    output = call_tool(amount=500, account=7)
    assert output.is_error and output.content == "Tool call refused by policy: at_most_100: amount over 100"
    assert calls == []
    span = traced.by_name("transfer")
    assert span.status == "error" and span.metadata["guard"][0]["decision"] == "blocked"
    assert call_tool(amount=50, account=7).content == "sent 50 to 7"


def test_enforce_can_raise(call_tool: Any, traced: InMemoryExporter) -> None:
    st.guard.policy(mode="enforce", on_block="raise")
    with pytest.raises(ToolBlocked, match="amount over 100"):
        call_tool(amount=500, account=7)
    assert calls == []
