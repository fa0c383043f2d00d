from __future__ import annotations

import asyncio
import inspect

import pytest

import staso_integrations as st
from staso_integrations.exporters import InMemoryExporter


@st.trace
def add(a: int, b: int = 2) -> int:
    """Adds."""
    return a + b


@st.trace(kind="retriever", name="search")
async def search(query: str) -> list[str]:
    await asyncio.sleep(0)
    return [query.upper()]


@st.trace
def numbers(n: int):
    for i in range(n):
        yield i
    return "done"


@st.trace
async def anumbers(n: int):
    for i in range(n):
        await asyncio.sleep(0)
        yield i


def test_sync_records_bound_input_output_and_latency(exporter: InMemoryExporter) -> None:
    assert add(1) == 3
    span = exporter.by_name("add")
    assert span.kind == "chain"
    assert span.input == {"a": 1}
    assert span.output == 3
    assert span.status == "ok"
    assert span.end_ns is not None and span.end_ns >= span.start_ns
    assert span.parent_span_id is None and len(span.trace_id) == 32 and len(span.span_id) == 16


async def test_async_function(exporter: InMemoryExporter) -> None:
    assert await search("q") == ["Q"]
    span = exporter.by_name("search")
    assert span.kind == "retriever"
    assert span.output == ["Q"]


def test_generator_records_items_and_leaks_no_context(exporter: InMemoryExporter) -> None:
    gen = numbers(3)
    assert next(gen) == 0
    assert st.current_span() is None  # suspended generator: its span is not ours
    assert list(gen) == [1, 2]
    span = exporter.by_name("numbers")
    assert span.output == "done"


async def test_async_generator(exporter: InMemoryExporter) -> None:
    items = [i async for i in anumbers(3)]
    assert items == [0, 1, 2]
    assert exporter.by_name("anumbers").output == [0, 1, 2]


def test_generator_closed_early_ends_span_once(exporter: InMemoryExporter) -> None:
    gen = numbers(10)
    next(gen)
    gen.close()
    span = exporter.by_name("numbers")
    assert span.metadata["closed_early"] is True
    assert span.output == [0]
    assert len(exporter.spans) == 1


async def test_async_generator_closed_early(exporter: InMemoryExporter) -> None:
    agen = anumbers(10)
    assert await agen.__anext__() == 0
    await agen.aclose()
    assert exporter.by_name("anumbers").metadata["closed_early"] is True


def test_generator_send_and_throw_pass_through(exporter: InMemoryExporter) -> None:
    @st.trace
    def echo():
        received = []
        try:
            while True:
                value = yield len(received)
                received.append(value)
        except KeyError:
            yield "caught"
        return received

    gen = echo()
    assert next(gen) == 0
    assert gen.send("a") == 1
    assert gen.throw(KeyError("k")) == "caught"
    with pytest.raises(StopIteration):
        next(gen)
    assert exporter.by_name("echo").status == "ok"


def test_nested_spans_inside_a_generator_parent_to_it(exporter: InMemoryExporter) -> None:
    @st.trace
    def outer():
        yield add(1)

    assert list(outer()) == [3]
    assert exporter.by_name("add").parent_span_id == exporter.by_name("outer").span_id


@pytest.mark.parametrize("shape", ["sync", "async", "gen", "agen"])
def test_user_exception_propagates_unchanged_and_is_recorded(shape: str, exporter: InMemoryExporter) -> None:
    error = RuntimeError("boom")

    @st.trace(name="f")
    def sync():
        raise error

    @st.trace(name="f")
    async def coro():
        raise error

    @st.trace(name="f")
    def gen():
        yield 1
        raise error

    @st.trace(name="f")
    async def agen():
        yield 1
        raise error

    with pytest.raises(RuntimeError) as info:
        if shape == "sync":
            sync()
        elif shape == "async":
            asyncio.run(coro())
        elif shape == "gen":
            list(gen())
        else:

            async def drain():
                return [x async for x in agen()]

            asyncio.run(drain())
    assert info.value is error
    span = exporter.by_name("f")
    assert span.status == "error"
    assert span.error == {"type": "RuntimeError", "message": "boom"}


def test_wraps_and_signature_are_preserved() -> None:
    assert add.__name__ == "add"
    assert add.__doc__ == "Adds."
    assert list(inspect.signature(add).parameters) == ["a", "b"]
    assert inspect.signature(add).parameters["b"].default == 2
    assert add.__wrapped__.__name__ == "add"
    assert inspect.iscoroutinefunction(search)
    assert inspect.isgeneratorfunction(numbers)
    assert inspect.isasyncgenfunction(anumbers)


def test_agent_names_everything_inside(exporter: InMemoryExporter) -> None:
    @st.tool(name="weather")
    def weather(city: str) -> str:
        return f"sunny in {city}"

    @st.agent(name="planner")
    def plan(city: str) -> str:
        return weather(city)

    assert plan("Oslo") == "sunny in Oslo"
    root, tool_span = exporter.by_name("planner"), exporter.by_name("weather")
    assert root.kind == "agent" and tool_span.kind == "tool"
    assert tool_span.agent_name == "planner" == root.agent_name
    assert tool_span.input == {"city": "Oslo"}
    assert tool_span.parent_span_id == root.span_id


def test_default_agent_from_init() -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", agent_name="default-bot")
    add(1)
    assert memory.spans[0].agent_name == "default-bot"


def test_span_context_manager(exporter: InMemoryExporter) -> None:
    with st.span("step", kind="custom", input={"x": 1}, metadata={"k": "v"}) as s:
        s.output = {"y": 2}
        inner = add(1)
    assert inner == 3
    step = exporter.by_name("step")
    assert (step.input, step.output, step.metadata) == ({"x": 1}, {"y": 2}, {"k": "v"})
    assert exporter.by_name("add").parent_span_id == step.span_id


def test_span_context_manager_records_and_reraises(exporter: InMemoryExporter) -> None:
    with pytest.raises(KeyError):
        with st.span("failing"):
            raise KeyError("x")
    assert exporter.by_name("failing").status == "error"


def test_unknown_kind_fails_at_decoration() -> None:
    with pytest.raises(ValueError, match="unknown span kind 'thing'; allowed: llm, tool"):
        st.trace(kind="thing")
    with pytest.raises(ValueError, match="unknown span kind"):
        with st.span("x", kind="thing"):
            pass


def test_capture_content_off_keeps_structure_drops_content() -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", capture_content=False)
    add(1)
    span = memory.spans[0]
    assert span.input is None and span.output is None
    assert span.status == "ok" and span.end_ns is not None


def test_methods_drop_self(exporter: InMemoryExporter) -> None:
    class Bot:
        @st.trace
        def reply(self, text: str) -> str:
            return text

    Bot().reply("hi")
    assert exporter.by_name("Bot.reply").input == {"text": "hi"}


def _three(a: int, b: int = 2, c: int = 3) -> int:
    return a + b + c


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {}),
        ((1,), {}),
        ((1, 2, 3), {}),
        ((1,), {"c": 5}),
        ((), {"c": 5, "a": 1}),  # bound in parameter order, not call order
        ((1, 2), {"c": 3}),
        ((1, 2, 3, 4), {}),  # too many: the call raises, the input is the raw call
        ((1,), {"a": 1}),  # given twice
        ((1,), {"d": 4}),  # unknown keyword
    ],
)
def test_a_simple_signature_binds_as_bind_partial_does(
    args: tuple[int, ...], kwargs: dict[str, int], exporter: InMemoryExporter
) -> None:
    """The fast binding of positional-or-keyword parameters gives what ``bind_partial`` gives,
    in its order, and the raw call where ``bind_partial`` refuses it.
    """
    try:
        expected: dict[str, object] = dict(inspect.signature(_three).bind_partial(*args, **kwargs).arguments)
    except TypeError:
        expected = {"args": list(args), "kwargs": kwargs}
    traced = st.trace(_three)
    try:
        traced(*args, **kwargs)
    except TypeError:
        pass
    recorded = exporter.by_name("_three").input
    assert recorded == expected and list(recorded) == list(expected)
