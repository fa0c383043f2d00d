"""Spans whose block begins in one task, thread, generator or context and ends in another.

None of these may raise into the user's code, each span is still exported, and afterwards the
current span is never an ended one: the next request starts its own trace.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import staso_integrations as st
from staso_integrations._core.context import _agent_name, _current_span, _trace_attrs
from staso_integrations.exporters import InMemoryExporter


@pytest.fixture(autouse=True)
def _own_context() -> Iterator[None]:
    """Blocks these tests leave open in the test thread's context are undone after each test."""
    variables = (_current_span, _agent_name, _trace_attrs)
    tokens = [variable.set(variable.get()) for variable in variables]
    yield
    for variable, token in zip(variables, tokens):
        variable.reset(token)


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Errors Python could not raise anywhere (a generator closed by the garbage collector)."""
    seen: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


def _in_thread(target: Callable[[], Any]) -> None:
    """Run ``target`` in a new thread (a fresh context); re-raise what it raised."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


def _assert_next_request_is_its_own_trace(exporter: InMemoryExporter, *earlier: str) -> None:
    assert st.current_span() is None
    with st.span("next-request") as request:
        assert st.current_span() is request
    assert request.parent_span_id is None
    assert request.trace_id not in {exporter.by_name(name).trace_id for name in earlier}


def test_span_entered_in_main_thread_exited_in_worker(exporter: InMemoryExporter) -> None:
    block = st.span("handoff")
    block.__enter__()
    _in_thread(lambda: block.__exit__(None, None, None))
    assert exporter.by_name("handoff").ended
    _assert_next_request_is_its_own_trace(exporter, "handoff")


def test_span_entered_in_worker_exited_in_main_thread(exporter: InMemoryExporter) -> None:
    blocks: list[Any] = []

    def enter() -> None:
        blocks.append(st.span("from-worker"))
        blocks[0].__enter__()

    _in_thread(enter)
    assert blocks[0].__exit__(None, None, None) is False
    assert exporter.by_name("from-worker").status == "ok"
    _assert_next_request_is_its_own_trace(exporter, "from-worker")


def test_span_in_generator_finished_by_another_thread(exporter: InMemoryExporter) -> None:
    def steps() -> Iterator[int]:
        with st.span("held"):
            yield 1
            yield 2

    gen = steps()
    assert next(gen) == 1
    _in_thread(lambda: list(gen))
    assert exporter.by_name("held").status == "ok"
    _assert_next_request_is_its_own_trace(exporter, "held")


@pytest.mark.parametrize("decorated", [False, True], ids=["plain", "traced"])
async def test_async_generator_closed_by_another_task(exporter: InMemoryExporter, decorated: bool) -> None:
    async def steps() -> Any:
        with st.span("held"):
            yield 1
            yield 2

    gen = (st.trace(steps) if decorated else steps)()
    assert await asyncio.create_task(gen.__anext__()) == 1
    await asyncio.create_task(gen.aclose())  # raised ValueError (a token of another context)
    held = exporter.by_name("held")
    assert held.status == "ok" and held.metadata["closed_early"] is True
    if decorated:
        outer = exporter.by_name("steps")
        assert held.parent_span_id == outer.span_id and outer.metadata["closed_early"] is True
    _assert_next_request_is_its_own_trace(exporter, "held")


@types.coroutine
def _suspend() -> Iterator[None]:
    yield


def test_decorated_coroutine_resumed_in_another_context(exporter: InMemoryExporter) -> None:
    @st.agent(name="planner")
    async def plan() -> str:
        await _suspend()
        return "done"

    coro = plan()
    contextvars.copy_context().run(coro.send, None)  # enters the span in one context
    with pytest.raises(StopIteration) as stop:
        contextvars.copy_context().run(coro.send, None)  # and leaves it in another
    assert stop.value.value == "done"
    span = exporter.by_name("planner")
    assert span.output == "done" and span.agent_name == "planner"


def test_interleaved_generators_leave_no_ended_current_span(exporter: InMemoryExporter) -> None:
    def steps(name: str) -> Iterator[int]:
        with st.span(name):
            yield 1
            yield 2

    first, second = steps("first"), steps("second")
    next(first)
    next(second)
    assert list(first) == [2]  # "first" ends while "second" is current
    assert list(second) == [2]  # restoring "first" as current would leave an ended span
    assert exporter.by_name("first").ended and exporter.by_name("second").ended
    _assert_next_request_is_its_own_trace(exporter, "first", "second")


def test_interleaved_inside_a_request_fall_back_to_the_request(exporter: InMemoryExporter) -> None:
    def steps(name: str) -> Iterator[int]:
        with st.span(name):
            yield 1

    with st.span("request") as request:
        first, second = steps("first"), steps("second")
        next(first)
        next(second)
        for gen in (first, second):
            list(gen)
        assert st.current_span() is request
        with st.span("after") as after:
            pass
    assert after.parent_span_id == request.span_id


def test_block_never_exited_ends_when_collected(exporter: InMemoryExporter, unraisable: list[Any]) -> None:
    kept: list[Any] = []

    def handler() -> None:  # enters a block, keeps it, never exits it
        kept.append(st.span("forgotten"))
        kept[0].__enter__()

    _in_thread(handler)
    kept.clear()  # collected in this thread, whose context never saw the block
    gc.collect()
    assert not unraisable
    span = exporter.by_name("forgotten")
    assert span.status == "ok" and span.metadata["closed_early"] is True
    _assert_next_request_is_its_own_trace(exporter, "forgotten")


def test_block_collected_inside_another_block_does_not_cut_it_short(exporter: InMemoryExporter) -> None:
    def steps() -> Iterator[int]:
        with st.span("abandoned"):
            yield 1

    gen = steps()
    next(gen)  # "abandoned" is now current here, as any block held across a yield is
    with st.span("request") as request:
        del gen  # the collector closes it in the middle of "request"
        with st.span("child") as child:
            pass
        assert st.current_span() is request
    assert child.parent_span_id == request.span_id
    assert st.current_span() is None


def test_span_handed_to_a_thread_with_copied_context(exporter: InMemoryExporter) -> None:
    block = st.span("shared")
    block.__enter__()
    context = contextvars.copy_context()  # the worker sees "shared" as its current span
    _in_thread(lambda: context.run(block.__exit__, None, None, None))
    assert context.run(st.current_span) is None
    _assert_next_request_is_its_own_trace(exporter, "shared")


def test_conversation_left_in_another_thread(exporter: InMemoryExporter) -> None:
    block = st.conversation("conv-1", user_id="u")
    block.__enter__()
    _in_thread(lambda: block.__exit__(None, None, None))
    with st.span("turn") as turn:
        pass
    assert turn.trace_attrs.conversation_id == "conv-1"  # this context still has the block open
