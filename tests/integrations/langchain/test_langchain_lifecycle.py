"""Instrument / uninstrument, no leaks, our bugs never break LangChain, and the cost per run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManager
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

import staso_integrations as st
from staso_integrations._core.context import current_span
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations._registry import load_instrumentor
from staso_integrations.integrations.langchain import LangChainInstrumentor, _callback, _extract

ORIGINAL_GENERATE = BaseChatModel.__dict__["_generate_with_cache"]


def _ours(manager: Any) -> list[Any]:
    return [h for h in manager.handlers if isinstance(h, _callback.StasoCallbackHandler)]


def _flaky(value: int) -> int:
    if value % 7 == 0:
        raise ValueError(f"bad {value}")
    return value + 1


def test_no_run_state_leaks_over_10000_runs(langchain_only: InMemoryExporter) -> None:
    step = RunnableLambda(lambda value: value + 1)
    for value in range(10_000):
        step.invoke(value)
    assert _callback.ACTIVE is not None and _callback.ACTIVE.runs == {}
    assert len(langchain_only.spans) == 10_000
    assert current_span() is None  # nothing was left set in the caller's context


def test_failed_runs_are_popped_too(langchain_only: InMemoryExporter) -> None:
    step = RunnableLambda(_flaky)
    for value in range(700):
        with pytest.raises(ValueError) if value % 7 == 0 else contextlib.nullcontext():
            step.invoke(value)
    assert _callback.ACTIVE.runs == {}
    assert sum(s.status == "error" for s in langchain_only.spans) == 100


async def test_no_leak_with_concurrent_async_runs(langchain_only: InMemoryExporter) -> None:
    chain = RunnableLambda(_flaky) | RunnableLambda(lambda v: v * 2)
    results = await asyncio.gather(*(chain.ainvoke(v) for v in range(1, 200)), return_exceptions=True)
    assert sum(isinstance(r, ValueError) for r in results) == len(range(7, 200, 7))
    assert _callback.ACTIVE.runs == {}
    assert len({s.trace_id for s in langchain_only.spans}) == 199


def test_handler_is_added_once_per_manager_and_removed_by_uninstrument(exporter: InMemoryExporter) -> None:
    st.instrument_all(include=["langchain"])
    st.instrument_all(include=["langchain"])  # a second call adds nothing
    load_instrumentor("langchain").instrument()
    manager = CallbackManager.configure()
    assert len(_ours(manager)) == 1
    run = manager.on_chain_start(None, {}, name="probe")
    assert len(_ours(run.get_child())) == 1  # inherited, not added again
    assert len(_ours(CallbackManager.configure(inheritable_callbacks=run.get_child()))) == 1
    run.on_chain_end({})
    assert BaseChatModel.__dict__["_generate_with_cache"] is not ORIGINAL_GENERATE
    RunnableLambda(lambda v: v).invoke(1)
    assert [s.name for s in exporter.spans] == ["probe", "RunnableLambda"]  # one span per run, not two

    st.uninstrument_all()
    assert _ours(CallbackManager.configure()) == []
    assert BaseChatModel.__dict__["_generate_with_cache"] is ORIGINAL_GENERATE
    RunnableLambda(lambda v: v).invoke(1)
    assert len(exporter.spans) == 2

    assert st.instrument_all(include=["langchain"])["langchain"] == "instrumented"  # and back
    RunnableLambda(lambda v: v).invoke(1)
    assert len(exporter.spans) == 3


def test_registry_resolves_langchain() -> None:
    instrumentor = load_instrumentor("langchain")
    assert isinstance(instrumentor, LangChainInstrumentor)
    assert instrumentor.requires == ("langchain-core>=1.0,<2",)
    assert instrumentor.unsupported_reason() is None


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("staso bug")


@pytest.mark.parametrize("target", ["value", "run_name", "start_span", "span_of"])
def test_a_bug_in_our_handler_never_breaks_langchain(
    monkeypatch: pytest.MonkeyPatch, exporter: InMemoryExporter, target: str, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("STASO_STRICT")
    caplog.set_level(logging.DEBUG, logger="staso_integrations")
    st.instrument_all(include=["langchain"])
    if target == "span_of":
        monkeypatch.setattr(_callback.StasoCallbackHandler, "span_of", _boom)
    else:
        monkeypatch.setattr(_extract if target != "start_span" else _callback, target, _boom)

    @tool
    def double(x: int) -> int:
        """Double x."""
        return 2 * x

    chain = RunnableLambda(lambda v: v + 1) | RunnableLambda(lambda v: double.invoke({"x": v}))
    assert chain.invoke(1) == 4
    assert asyncio.run(chain.ainvoke(2)) == 6
    with pytest.raises(ZeroDivisionError):  # the user's own errors still reach them, unchanged
        (chain | RunnableLambda(lambda v: v / 0)).invoke(1)
    # Caught by our own guard (a debug record), not by LangChain's last-resort warning.
    assert not [r for r in caplog.records if "Error in StasoCallbackHandler" in r.getMessage()]
    assert any(r.name == "staso_integrations" and r.exc_info for r in caplog.records)


def test_our_spans_inside_a_tool_and_a_step_nest_under_them(langchain_only: InMemoryExporter) -> None:
    @st.tool(name="inner_tool")
    def inner(x: int) -> int:
        return x

    @tool
    def outer(x: int) -> int:
        """Calls our decorated function."""
        return inner(x)

    with st.span("request", kind="custom") as request:
        (RunnableLambda(lambda v: outer.invoke({"x": v}), name="step")).invoke(3)
    by_name = {s.name: s for s in langchain_only.spans}
    assert by_name["step"].parent_span_id == request.span_id
    assert by_name["outer"].parent_span_id == by_name["step"].span_id
    assert by_name["inner_tool"].parent_span_id == by_name["outer"].span_id
    assert current_span() is None


def test_secret_keys_in_tool_and_chain_inputs_are_redacted(langchain_only: InMemoryExporter) -> None:
    @tool
    def login(user: str, password: str) -> str:
        """Log in."""
        return f"hello {user}"

    step = RunnableLambda(
        lambda data: login.invoke({"user": data["user"], "password": data["password"]}), name="step"
    )
    assert step.invoke({"user": "ada", "password": "hunter2", "api_key": "abc"}) == "hello ada"
    by_name = {s.name: s for s in langchain_only.spans}
    assert by_name["login"].input == {"user": "ada", "password": "<redacted>"}
    assert by_name["step"].input == {"user": "ada", "password": "<redacted>", "api_key": "<redacted>"}
