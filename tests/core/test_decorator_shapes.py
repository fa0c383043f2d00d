"""The decorators on every shape of callable: methods, descriptors in either order, other
decorators, and recursion (which must keep nearly the depth of the undecorated function)."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from typing import Any

import pytest

import staso_integrations as st
from staso_integrations.exporters import InMemoryExporter


class Shop:
    rate = 2

    def __init__(self) -> None:
        self.calls = 0

    @st.trace
    @staticmethod
    def static_above(item: str) -> str:
        return item.upper()

    @staticmethod
    @st.trace
    def static_below(item: str) -> str:
        return item.lower()

    @st.tool
    @classmethod
    def class_above(cls, price: int) -> int:
        return price * cls.rate

    @classmethod
    @st.tool
    def class_below(cls, price: int) -> int:
        return price + cls.rate

    @st.agent(name="pricer")
    @staticmethod
    async def async_static(price: int) -> int:
        await asyncio.sleep(0)
        return price

    @st.trace
    @classmethod
    async def async_class(cls, price: int) -> int:
        await asyncio.sleep(0)
        return price * cls.rate

    @st.trace
    @property
    def total_above(self) -> int:
        self.calls += 1
        return 10

    @property
    @st.trace
    def total_below(self) -> int:
        return 20

    @st.trace
    @functools.cached_property
    def cached_above(self) -> int:
        self.calls += 1
        return 30

    @functools.cached_property
    @st.trace
    def cached_below(self) -> int:
        self.calls += 1
        return 40

    @st.trace
    def instance(self, qty: int) -> int:
        return qty * self.rate


def test_staticmethod_in_either_order(exporter: InMemoryExporter) -> None:
    assert Shop.static_above("a") == "A" and Shop().static_above("b") == "B"
    assert Shop.static_below("C") == "c" and Shop().static_below("D") == "d"
    inputs = [(s.name, s.input) for s in exporter.spans]
    assert inputs == [
        ("Shop.static_above", {"item": "a"}),
        ("Shop.static_above", {"item": "b"}),
        ("Shop.static_below", {"item": "C"}),
        ("Shop.static_below", {"item": "D"}),
    ]


def test_classmethod_in_either_order_drops_cls(exporter: InMemoryExporter) -> None:
    assert Shop.class_above(3) == 6 and Shop().class_above(4) == 8
    assert Shop.class_below(3) == 5 and Shop().class_below(4) == 6
    assert [s.input for s in exporter.spans] == [{"price": p} for p in (3, 4, 3, 4)]
    assert {s.kind for s in exporter.spans} == {"tool"}


async def test_async_static_and_class_methods(exporter: InMemoryExporter) -> None:
    assert await Shop.async_static(5) == 5 and await Shop().async_class(5) == 10
    static, klass = exporter.spans
    assert static.name == "pricer" and static.agent_name == "pricer" and static.output == 5
    assert klass.name == "Shop.async_class" and klass.input == {"price": 5} and klass.output == 10
    assert static.end_ns - static.start_ns > 0  # the span covers the awaited body


def test_property_in_either_order(exporter: InMemoryExporter) -> None:
    shop = Shop()
    assert shop.total_above == 10 and shop.total_below == 20 and shop.calls == 1
    assert isinstance(Shop.__dict__["total_above"], property)
    assert [(s.name, s.input, s.output) for s in exporter.spans] == [
        ("Shop.total_above", {}, 10),
        ("Shop.total_below", {}, 20),
    ]


def test_cached_property_in_either_order(exporter: InMemoryExporter) -> None:
    shop = Shop()
    assert (shop.cached_above, shop.cached_above, shop.cached_below, shop.cached_below) == (30, 30, 40, 40)
    assert shop.calls == 2  # still cached: one traced call each
    assert [s.name for s in exporter.spans] == ["Shop.cached_above", "Shop.cached_below"]


def test_method_drops_self_called_on_the_instance_or_the_class(exporter: InMemoryExporter) -> None:
    assert Shop().instance(3) == 6
    assert Shop.instance(Shop(), qty=1) == 2  # called through the class, receiver passed
    assert [s.input for s in exporter.spans] == [{"qty": 3}, {"qty": 1}]


def test_function_with_a_cls_parameter_keeps_it(exporter: InMemoryExporter) -> None:
    @st.trace
    def build(cls: type, n: int) -> list[Any]:
        return [cls()] * n

    build(int, 1)
    assert exporter.by_name("build").input == {"cls": "<class 'int'>", "n": 1}


def _logged(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A user's decorator built on functools.wraps."""

    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return inner


def test_functools_wraps_decorators_in_either_order(exporter: InMemoryExporter) -> None:
    @st.trace
    @_logged
    def above(x: int, y: int = 1) -> int:
        return x + y

    @_logged
    @st.trace
    def below(x: int, y: int = 1) -> int:
        return x - y

    class Cart:
        @_logged
        @st.tool
        def add(self, sku: str) -> str:
            return sku

    assert above(2) == 3 and below(2) == 1 and Cart().add("s1") == "s1"
    assert above.__name__ == "above" and below.__wrapped__.__wrapped__.__name__ == "below"
    assert [(s.name, s.input) for s in exporter.spans] == [
        ("above", {"x": 2}),
        ("below", {"x": 2}),
        ("Cart.add", {"sku": "s1"}),
    ]


async def test_sync_wraps_decorator_around_an_async_function(exporter: InMemoryExporter) -> None:
    @st.trace
    @_logged  # returns the coroutine: the span must cover awaiting it
    async def fetch(query: str) -> str:
        with st.span("inside"):
            await asyncio.sleep(0.01)
        return query

    def run_sync(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            return asyncio.run(fn(*args, **kwargs))

        return inner

    @st.trace
    @run_sync  # a sync shim that runs the coroutine: its result is a plain value
    async def compute(x: int) -> int:
        return x * 2

    assert await fetch("q") == "q"
    outer, inside = exporter.by_name("fetch"), exporter.by_name("inside")
    assert inside.parent_span_id == outer.span_id and outer.output == "q"
    assert outer.end_ns >= inside.end_ns
    assert await asyncio.to_thread(compute, 2) == 4
    assert exporter.by_name("compute").output == 4


def test_a_descriptor_that_is_not_callable_is_left_untraced(exporter: InMemoryExporter) -> None:
    class Limit:
        def __get__(self, instance: Any, owner: Any) -> int:
            return 7

    descriptor = Limit()
    assert st.trace(descriptor) is descriptor


def _depth(fn: Callable[[int], int]) -> int:
    return fn(0)


def test_recursion_keeps_nearly_the_undecorated_depth(exporter: InMemoryExporter) -> None:
    def plain(n: int) -> int:
        try:
            return plain(n + 1)
        except RecursionError:
            return n

    @st.trace
    def traced(n: int) -> int:
        try:
            return traced(n + 1)
        except RecursionError:
            return n

    limit = sys.getrecursionlimit()
    reached, plain_reached = _depth(traced), _depth(plain)
    print(f"recursion depth: plain {plain_reached}, traced {reached}")
    assert reached >= 0.9 * plain_reached  # it was half: one wrapper frame per level
    assert sys.getrecursionlimit() == limit
    assert len(exporter.spans) == reached + 1


def test_generator_recursion_keeps_nearly_the_undecorated_depth(exporter: InMemoryExporter) -> None:
    def plain(n: int) -> Any:
        try:
            yield from plain(n + 1)
        except RecursionError:
            yield n

    @st.trace
    def traced(n: int) -> Any:
        try:
            yield from traced(n + 1)
        except RecursionError:
            yield n

    limit = sys.getrecursionlimit()
    gen = traced(0)
    reached = next(gen)
    gen.close()
    plain_reached = next(plain(0))
    print(f"generator recursion depth: plain {plain_reached}, traced {reached}")
    assert reached >= 0.9 * plain_reached  # it was a third
    assert sys.getrecursionlimit() == limit


async def test_async_recursion_keeps_nearly_the_undecorated_depth(exporter: InMemoryExporter) -> None:
    async def plain(n: int) -> int:
        try:
            return await plain(n + 1)
        except RecursionError:
            return n

    @st.trace
    async def traced(n: int) -> int:
        try:
            return await traced(n + 1)
        except RecursionError:
            return n

    limit = sys.getrecursionlimit()
    reached, plain_reached = await traced(0), await plain(0)
    assert reached >= 0.9 * plain_reached
    assert sys.getrecursionlimit() == limit


def test_deep_call_in_one_thread_leaves_the_limit_as_it_was(exporter: InMemoryExporter) -> None:
    @st.trace
    def down(n: int) -> int:
        return down(n - 1) + 1 if n else 0

    limit = sys.getrecursionlimit()
    assert down(200) == 200
    with pytest.raises(ZeroDivisionError):

        @st.trace
        def fails(n: int) -> int:
            return fails(n - 1) if n else 1 // 0

        fails(100)
    assert sys.getrecursionlimit() == limit
