"""``@trace``, ``@agent``, ``@tool`` and ``span()``: user-made spans for the 4 function shapes.

The span is the current span only while the user's code runs: generator wrappers set and
reset it around each step, so a suspended generator never leaks its span to the caller.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, overload

from .context import _agent_name, _current_span, leave_span, restore
from .internal_errors import contain
from .parts import PARTS
from .runtime import check_kind, get_runtime, start_span
from .serialize import MAX_ITEMS, to_jsonable
from .span import EMPTY_TRACE_ATTRIBUTES, Resource, Span

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("staso_integrations")


class _Scope:
    """One decorated call: opens the span, activates it per step, closes it once."""

    __slots__ = ("_agent_token", "_span_token", "agent", "shift", "span")

    def __init__(self, span: Span, frames: int) -> None:
        self.span = span
        self.agent: str | None = None
        depth = span.depth
        self.shift = frames * RECURSION_STEP if depth >= RECURSION_STEP and not depth % RECURSION_STEP else 0

    def enter(self) -> None:
        if self.agent is not None:
            self._agent_token = _agent_name.set(self.agent)
        self._span_token = _current_span.set(self.span)
        if self.shift:
            _shift_recursion_limit(self.shift)

    def exit(self) -> None:
        if self.shift:
            _shift_recursion_limit(-self.shift)
        try:  # free until it raises: a step resumed in another task, thread or context
            _current_span.reset(self._span_token)
        except ValueError:
            restore(_current_span, self._span_token, self.span, None)
        if self.agent is not None:
            restore(_agent_name, self._agent_token, self.agent, None)

    __enter__ = enter

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self.fail(exc)
        self.exit()

    @contain("decorator.finish")
    def finish(self, output: Any) -> None:
        if output is not None and get_runtime().config.capture_content:
            self.span.output = to_jsonable(output)
        self.span.end()

    @contain("decorator.fail")
    def fail(self, exc: BaseException) -> None:
        self.span.fail(exc)


# Every decorated call adds frames to the user's: the wrapper's (and, for a generator, the
# ``send`` call that resumes the user's one), so a decorated recursion would reach half the
# depth of the plain one or less. Each ``RECURSION_STEP`` levels of nesting, the limit is raised
# by the frames those levels added while that call runs (lowered after), so the user's own
# frames keep (nearly) the whole budget the limit gave them.
RECURSION_STEP = 32
_limit_lock = threading.Lock()


@contain("decorator.recursion_limit")
def _shift_recursion_limit(frames: int) -> None:
    with _limit_lock:  # a shift, not a set: other threads' shifts add up and undo exactly
        sys.setrecursionlimit(sys.getrecursionlimit() + frames)


@contain("decorator.start")
def _open(
    name: str, kind: str, agent: str | None, sig: _Signature, args: Any, kwargs: Any, frames: int = 1
) -> _Scope | None:
    if agent is None:
        scope = _Scope(start_span(name, kind), frames)
    else:
        token = _agent_name.set(agent)
        try:
            scope = _Scope(start_span(name, kind), frames)
        finally:
            _agent_name.reset(token)
        scope.agent = agent
    if get_runtime().config.capture_content:
        scope.span.input = _bound_input(sig, args, kwargs)
    return scope


class _Signature:
    """How a function's call arguments become span input: its signature, less the receiver.

    The receiver is the first parameter of a classmethod or property getter (whatever its
    name), or of a function defined in a class whose first parameter is ``self``/``cls`` (a
    ``@staticmethod`` applied over the decorator looks the same, so the name decides).
    """

    __slots__ = ("names", "receiver", "signature")

    def __init__(self, fn: Callable[..., Any], receiver: bool | None) -> None:
        try:
            self.signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self.signature = None
        params = list(self.signature.parameters.values()) if self.signature is not None else []
        # The parameters' names when each is positional-or-keyword (most functions): a call is
        # then bound without ``bind_partial``, which costs about as much as the rest of a span.
        simple = self.signature is not None and all(
            param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for param in params
        )
        self.names: tuple[str, ...] | None = tuple(param.name for param in params) if simple else None
        first = params[0] if params and params[0].kind in _POSITIONAL else None
        if receiver is None:  # a plain function: a method if defined in a class with self/cls first
            in_class = "." in _default_name(fn)
            receiver = in_class and first is not None and first.name in ("self", "cls")
        self.receiver = first.name if receiver and first is not None else None


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _bound_arguments(sig: _Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    names = sig.names
    arguments = _bound_simply(names, args, kwargs) if names is not None else None
    if arguments is None:
        if sig.signature is None:
            return {"args": args, "kwargs": kwargs}
        try:
            arguments = sig.signature.bind_partial(*args, **kwargs).arguments
        except TypeError:  # the call itself will raise the user's TypeError
            return {"args": args, "kwargs": kwargs}
    if sig.receiver is not None:
        arguments.pop(sig.receiver, None)
    return arguments


def _bound_simply(
    names: tuple[str, ...], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any] | None:
    """``bind_partial(*args, **kwargs).arguments`` of a signature of positional-or-keyword
    ``names`` (in parameter order, as it gives them); ``None`` for a call it would refuse.
    """
    if len(args) > len(names):
        return None
    arguments = dict(zip(names, args, strict=False))  # args may be fewer than names
    if kwargs:
        for name in names[len(args) :]:
            if name in kwargs:
                arguments[name] = kwargs[name]
        if len(arguments) != len(args) + len(kwargs):  # an unknown keyword, or one given twice
            return None
    return arguments


def _bound_input(sig: _Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return to_jsonable(_bound_arguments(sig, args, kwargs))


def _check_tool(scope: _Scope, sig: _Signature, args: Any, kwargs: Any) -> None:
    """Judge a ``@tool`` call under the guard policy; raise ``ToolBlocked`` if it is blocked."""
    guard = PARTS.tool_guard
    if not guard.has_rules():
        return
    blocked = None
    with contain("guard.judge"):
        blocked = guard.check(scope.span.name, _bound_arguments(sig, args, kwargs), scope.span)
    _raise_if_blocked(scope, blocked)


async def _acheck_tool(scope: _Scope, sig: _Signature, args: Any, kwargs: Any) -> None:
    guard = PARTS.tool_guard
    if not guard.has_rules():
        return
    blocked = None
    with contain("guard.ajudge"):
        blocked = await guard.acheck(scope.span.name, _bound_arguments(sig, args, kwargs), scope.span)
    _raise_if_blocked(scope, blocked)


def _raise_if_blocked(scope: _Scope, blocked: BaseException | None) -> None:
    if blocked is not None:
        scope.fail(blocked)
        raise blocked


def _default_name(fn: Callable[..., Any]) -> str:
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or "call"
    return qualname.rpartition("<locals>.")[2]  # keep Class.method, drop enclosing functions


def _wrap(
    fn: Callable[..., Any], name: str | None, kind: str, agent: str | None, receiver: bool | None = None
) -> Callable[..., Any]:
    span_name = name or _default_name(fn)
    sig = _Signature(fn, receiver)

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
                except GeneratorExit:  # we were closed and passed it on: the user's one stopped
                    _closed_early(scope, items)
                    raise
                except BaseException as exc:
                    scope.fail(exc)
                    raise
                finally:
                    scope.exit()
                _keep(items, item)
                try:
                    value = yield item
                    method = gen.asend
                except BaseException as exc:  # thrown in by the caller (or aclose()): pass it on
                    method, value = gen.athrow, exc

        return async_gen_wrapper

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            scope = _open(span_name, kind, agent, sig, args, kwargs, 2)
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
                except GeneratorExit:  # as close(): no helper frame, a deep recursion closes in turn
                    _closed_early(scope, items)
                    raise
                except BaseException as exc:
                    scope.fail(exc)
                    raise
                finally:
                    scope.exit()
                _keep(items, item)
                try:
                    value = yield item
                    method = gen.send
                except BaseException as exc:  # thrown in by the caller (or close()): pass it on
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

    may_return_coroutine = _wraps_coroutine_function(fn)

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
        if may_return_coroutine and inspect.iscoroutine(result):
            return _awaited(scope, result)
        scope.finish(result)
        return result

    return wrapper


def _wraps_coroutine_function(fn: Callable[..., Any]) -> bool:
    """A plain function that ``functools.wraps`` an ``async def`` (a user's decorator): it may
    return the coroutine (a pass-through) or run it (``asyncio.run``); only its result tells.
    """
    try:
        return inspect.iscoroutinefunction(inspect.unwrap(fn))
    except ValueError:  # a __wrapped__ cycle
        return False


async def _awaited(scope: _Scope, coroutine: Any) -> Any:
    """The span of such a call covers awaiting the coroutine, where its work happens."""
    with scope:
        result = await coroutine
    scope.finish(result)
    return result


def _keep(items: list[Any], item: Any) -> None:
    if len(items) < MAX_ITEMS:
        with contain("decorator.item"):
            items.append(to_jsonable(item))


def _closed_early(scope: _Scope, items: list[Any]) -> None:
    scope.span.metadata["closed_early"] = True
    scope.finish(items or None)


def _decorator(kind: str, name: str | None, agent: str | None) -> Callable[[F], F]:
    check_kind(kind)

    def decorate(fn: F) -> F:
        # Above @staticmethod/@classmethod/@property/@cached_property: trace the function they
        # hold and rebuild the descriptor, so the class still binds it as before.
        if isinstance(fn, (staticmethod, classmethod)):
            method = _wrap(fn.__func__, name, kind, agent, isinstance(fn, classmethod))
            return type(fn)(method)
        if isinstance(fn, property) and fn.fget is not None:
            return fn.getter(_wrap(fn.fget, name, kind, agent, True))
        if isinstance(fn, functools.cached_property):
            return functools.cached_property(_wrap(fn.func, name, kind, agent, True))
        if not callable(fn):  # another descriptor: left as it is rather than broken
            logger.warning("staso: cannot trace %r (not callable); left untraced", fn)
            return fn
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
    input: Any = None,
    metadata: dict[str, Any] | None = None,
) -> Iterator[Span]:
    """Open a span for the block and yield it; set ``.output``/``.metadata`` on it freely.

    Raises:
        ValueError: ``kind`` is not a span kind.
    """
    check_kind(kind)
    opened = _open_block(name, kind, input, metadata)
    if opened is None:  # ours failed to open: the block still runs, its spans under the outer one
        yield _detached(name, kind)
        return
    token = _current_span.set(opened)
    try:
        yield opened
    except GeneratorExit:  # a generator holding the block was closed, or the block never exited
        with contain("span.close"):
            opened.metadata["closed_early"] = True
            opened.end()
        raise
    except BaseException as exc:
        with contain("span.fail"):
            opened.fail(exc)
        raise
    finally:
        leave_span(opened, token)
    with contain("span.finish"):
        if opened.output is not None:
            opened.output = to_jsonable(opened.output)
        opened.end()


@contain("span.start")
def _open_block(name: str, kind: str, input: Any, metadata: dict[str, Any] | None) -> Span | None:
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
