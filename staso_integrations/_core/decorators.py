"""``@trace``, ``@agent``, ``@tool`` and ``span()``: user-made spans for the 4 function shapes.

The span is the current span only while the user's code runs: generator wrappers set and
reset it around each step, so a suspended generator never leaks its span to the caller.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from contextlib import contextmanager
from contextvars import Token
from typing import Any, TypeVar, overload

from ..guard._engine import ajudge, has_rules, judge, tool_call
from ..guard._model import Decision, ToolBlocked
from .context import _agent_name, _current_span
from .guard import guard
from .runtime import check_kind, get_runtime, start_span
from .serialize import MAX_ITEMS, to_jsonable
from .span import EMPTY_TRACE_ATTRIBUTES, Resource, Span

F = TypeVar("F", bound=Callable[..., Any])


class _Scope:
    """One decorated call: opens the span, activates it per step, closes it once."""

    __slots__ = ("span", "agent", "_tokens")

    def __init__(self, span: Span, agent: str | None) -> None:
        self.span = span
        self.agent = agent
        self._tokens: list[tuple[Any, Token[Any]]] = []

    def enter(self) -> None:
        if self.agent is not None:
            self._tokens.append((_agent_name, _agent_name.set(self.agent)))
        self._tokens.append((_current_span, _current_span.set(self.span)))

    def exit(self) -> None:
        while self._tokens:
            var, token = self._tokens.pop()
            var.reset(token)

    @guard("decorator.finish")
    def finish(self, output: Any) -> None:
        if output is not None and get_runtime().config.capture_content:
            self.span.output = to_jsonable(output)
        self.span.end()

    @guard("decorator.fail")
    def fail(self, exc: BaseException) -> None:
        self.span.fail(exc)


@guard("decorator.start")
def _open(
    name: str, kind: str, agent: str | None, sig: inspect.Signature | None, args: Any, kwargs: Any
) -> _Scope | None:
    token = _agent_name.set(agent) if agent is not None else None
    try:
        span = start_span(name, kind)
    finally:
        if token is not None:
            _agent_name.reset(token)
    if get_runtime().config.capture_content:
        span.input = _bound_input(sig, args, kwargs)
    return _Scope(span, agent)


def _bound_arguments(
    sig: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    if sig is None:
        return {"args": args, "kwargs": kwargs}
    try:
        bound = sig.bind_partial(*args, **kwargs)
    except TypeError:  # the call itself will raise the user's TypeError
        return {"args": args, "kwargs": kwargs}
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}


def _bound_input(sig: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return to_jsonable(_bound_arguments(sig, args, kwargs))


def _check_tool(scope: _Scope, sig: inspect.Signature | None, args: Any, kwargs: Any) -> None:
    """Judge a ``@tool`` call under the guard policy; raise ``ToolBlocked`` if it is blocked."""
    if not has_rules():
        return
    decision = None
    with guard("guard.judge"):
        call = tool_call(scope.span.name, _bound_arguments(sig, args, kwargs), "tool", scope.span)
        decision = judge(call, scope.span)
    _raise_if_blocked(scope, decision)


async def _acheck_tool(scope: _Scope, sig: inspect.Signature | None, args: Any, kwargs: Any) -> None:
    if not has_rules():
        return
    decision = None
    with guard("guard.ajudge"):
        call = tool_call(scope.span.name, _bound_arguments(sig, args, kwargs), "tool", scope.span)
        decision = await ajudge(call, scope.span)
    _raise_if_blocked(scope, decision)


def _raise_if_blocked(scope: _Scope, decision: Decision | None) -> None:
    if decision is not None and decision.blocked:
        blocked = ToolBlocked(decision)
        scope.fail(blocked)
        raise blocked


def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _default_name(fn: Callable[..., Any]) -> str:
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or "call"
    return qualname.rpartition("<locals>.")[2]  # keep Class.method, drop enclosing functions


def _wrap(fn: Callable[..., Any], name: str | None, kind: str, agent: str | None) -> Callable[..., Any]:
    span_name = name or _default_name(fn)
    sig = _signature(fn)

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def async_gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            scope = _open(span_name, kind, agent, sig, args, kwargs)
            if scope is None:
                async for item in fn(*args, **kwargs):
                    yield item
                return
            if kind == "tool":
                await _acheck_tool(scope, sig, args, kwargs)
            gen = fn(*args, **kwargs)
            items: list[Any] = []
            method, value = gen.asend, None
            while True:
                scope.enter()
                try:
                    item = await method(value)
                except StopAsyncIteration:
                    scope.finish(items or None)
                    return
                except BaseException as exc:
                    scope.fail(exc)
                    raise
                finally:
                    scope.exit()
                _keep(items, item)
                try:
                    value = yield item
                    method = gen.asend
                except GeneratorExit:
                    await _aclose(gen, scope, items)
                    raise
                except BaseException as exc:  # thrown in by the caller: pass it on
                    method, value = gen.athrow, exc

        return async_gen_wrapper

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            scope = _open(span_name, kind, agent, sig, args, kwargs)
            if scope is None:
                return (yield from fn(*args, **kwargs))
            if kind == "tool":
                _check_tool(scope, sig, args, kwargs)
            gen = fn(*args, **kwargs)
            items: list[Any] = []
            method, value = gen.send, None
            while True:
                scope.enter()
                try:
                    item = method(value)
                except StopIteration as stop:
                    scope.finish(stop.value if stop.value is not None else (items or None))
                    return stop.value
                except BaseException as exc:
                    scope.fail(exc)
                    raise
                finally:
                    scope.exit()
                _keep(items, item)
                try:
                    value = yield item
                    method = gen.send
                except GeneratorExit:
                    _close(gen, scope, items)
                    raise
                except BaseException as exc:
                    method, value = gen.throw, exc

        return gen_wrapper

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            scope = _open(span_name, kind, agent, sig, args, kwargs)
            if scope is None:
                return await fn(*args, **kwargs)
            if kind == "tool":
                await _acheck_tool(scope, sig, args, kwargs)
            scope.enter()
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                scope.fail(exc)
                raise
            finally:
                scope.exit()
            scope.finish(result)
            return result

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        scope = _open(span_name, kind, agent, sig, args, kwargs)
        if scope is None:
            return fn(*args, **kwargs)
        if kind == "tool":
            _check_tool(scope, sig, args, kwargs)
        scope.enter()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            scope.fail(exc)
            raise
        finally:
            scope.exit()
        scope.finish(result)
        return result

    return wrapper


def _keep(items: list[Any], item: Any) -> None:
    if len(items) < MAX_ITEMS:
        with guard("decorator.item"):
            items.append(to_jsonable(item))


def _close(gen: Generator[Any, Any, Any], scope: _Scope, items: list[Any]) -> None:
    scope.enter()
    try:
        gen.close()
    except BaseException as exc:
        scope.fail(exc)
        raise
    finally:
        scope.exit()
    scope.span.metadata["closed_early"] = True
    scope.finish(items or None)


async def _aclose(gen: AsyncGenerator[Any, Any], scope: _Scope, items: list[Any]) -> None:
    scope.enter()
    try:
        await gen.aclose()
    except BaseException as exc:
        scope.fail(exc)
        raise
    finally:
        scope.exit()
    scope.span.metadata["closed_early"] = True
    scope.finish(items or None)


def _decorator(kind: str, name: str | None, agent: str | None) -> Callable[[F], F]:
    check_kind(kind)

    def decorate(fn: F) -> F:
        return _wrap(fn, name, kind, agent)  # type: ignore[return-value]

    return decorate


@overload
def trace(fn: F, /) -> F: ...
@overload
def trace(*, name: str | None = None, kind: str = "chain") -> Callable[[F], F]: ...
def trace(fn: F | None = None, /, *, name: str | None = None, kind: str = "chain") -> Any:
    """Trace a function (sync, async, generator or async generator) as one span.

    Use bare (``@trace``) or with options (``@trace(kind="retriever")``). The span records the
    bound arguments as input, the return value (or yielded items) as output, errors and latency.

    Raises:
        ValueError: ``kind`` is not a span kind.
    """
    decorate = _decorator(kind, name, None)
    return decorate(fn) if fn is not None else decorate


def agent(name: str, *, span_name: str | None = None) -> Callable[[F], F]:
    """Mark an agent entry point: an ``agent`` span, and ``name`` as the agent of all inside."""
    return _decorator("agent", span_name or name, name)


@overload
def tool(fn: F, /) -> F: ...
@overload
def tool(*, name: str | None = None) -> Callable[[F], F]: ...
def tool(fn: F | None = None, /, *, name: str | None = None) -> Any:
    """Trace a tool the agent calls as a ``tool`` span (arguments in, result out)."""
    decorate = _decorator("tool", name, None)
    return decorate(fn) if fn is not None else decorate


@contextmanager
def span(
    name: str,
    kind: str = "custom",
    *,
    input: Any = None,  # noqa: A002 - mirrors the span field
    metadata: dict[str, Any] | None = None,
) -> Iterator[Span]:
    """Open a span for the block and yield it; set ``.output``/``.metadata`` on it freely.

    Raises:
        ValueError: ``kind`` is not a span kind.
    """
    check_kind(kind)
    opened = _open_block(name, kind, input, metadata)
    current = opened or _detached(name, kind)
    token = _current_span.set(current)
    try:
        yield current
    except BaseException as exc:
        if opened is not None:
            with guard("span.fail"):
                opened.fail(exc)
        raise
    finally:
        _current_span.reset(token)
    if opened is not None:
        with guard("span.finish"):
            if opened.output is not None:
                opened.output = to_jsonable(opened.output)
            opened.end()


@guard("span.start")
def _open_block(name: str, kind: str, input: Any, metadata: dict[str, Any] | None) -> Span | None:  # noqa: A002
    opened = start_span(name, kind)
    if input is not None and get_runtime().config.capture_content:
        opened.input = to_jsonable(input)
    if metadata:
        opened.metadata.update(to_jsonable(metadata))
    return opened


def _detached(name: str, kind: str) -> Span:
    """A span nobody exports: what ``span()`` yields if ours failed to open."""
    return Span(
        name,
        kind,
        trace_id="0" * 32,
        parent_span_id=None,
        agent_name=None,
        trace_attrs=EMPTY_TRACE_ATTRIBUTES,
        turn_index=None,
        resource=Resource(),
        processor=None,
    )
