"""Stream proxies shared by every provider: the user iterates, we watch and finish once.

The proxy behaves like the SDK's stream (attributes, helper methods, ``with``, ``close``),
hands each item to a handler, and ends the span exactly once:
on exhaustion, ``close()``, context exit, an error, or garbage collection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from copy import copy, deepcopy
from inspect import CO_ASYNC_GENERATOR, CO_GENERATOR
from types import CodeType, FunctionType, TracebackType
from typing import Any, Protocol, Self

import wrapt

from .._core.internal_errors import contain
from .._core.span import Span


class StreamHandler(Protocol):
    """Reads a stream's items. A handler may also have ``read(stream: Reading) -> Iterator``,
    the generator a ``for`` loop over the proxy runs (``read_each`` when it has none): one
    that reads its common chunk inline, with no call per chunk, and hands every other chunk
    to ``stream.seen``.
    """

    def on_chunk(self, chunk: Any) -> None:
        """Accumulate one item (must be cheap: it runs per chunk on the caller's thread)."""

    def on_end(self, span: Span) -> None:
        """Write what was accumulated (model, usage, output, finish reason, time to the first
        output token: only the handler knows which item first carried output) into ``span``.
        """


class Reading:
    """A ``for`` loop over a proxy, as its handler's ``read`` sees it: iterating it iterates
    the SDK's stream, ``seen`` is the handler's guarded ``on_chunk`` and, as a context manager
    around the loop, it ends the span when the chunks run out or fail (a loop the consumer
    stops early (``GeneratorExit``) is ended by ``close()`` or garbage collection instead).

    It also keeps the proxy referenced while the loop runs: in ``for c in client.create(...)``
    nothing else holds it, and its ``__del__`` would end the span at the first chunk.
    """

    __slots__ = ("proxy", "seen", "state")

    def __init__(self, state: _StreamState, proxy: SyncStreamProxy) -> None:
        self.state = state
        self.proxy = proxy
        self.seen = state.seen

    def __iter__(self) -> Iterator[Any]:
        return self.state.start(self.proxy.__wrapped__)  # type: ignore[no-any-return]

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not isinstance(exc, GeneratorExit):
            self.state.finish(exc)


def read_each(stream: Reading) -> Iterator[Any]:
    """What ``for chunk in proxy`` runs by default: a generator's ``__next__`` is C code, so a
    chunk costs one resume here and one ``on_chunk`` call instead of three Python calls
    through the proxy's ``__next__``.
    """
    on_chunk = stream.state.on_chunk
    with stream:
        for chunk in stream:
            try:  # not ``with contain(...)``: this runs per chunk, and ``try`` is free until it raises
                on_chunk(chunk)
            except Exception:
                with contain("stream.on_chunk"):
                    raise
            yield chunk


async def read_each_async(proxy: AsyncStreamProxy) -> AsyncIterator[Any]:
    """What ``async for chunk in proxy`` runs: an async generator's step is C code, so a chunk
    costs one resume here and one of the SDK's ``__aiter__`` generator, where the proxy's
    ``__anext__`` is a coroutine of ours and one of the SDK's per chunk. Holding ``proxy``
    keeps its collection from ending the span mid-loop, as ``Reading`` does.
    """
    state = proxy._self_state
    on_chunk = state.on_chunk
    # True while the consumer has the chunk: what is thrown in at the ``yield`` is not the
    # stream's (asyncio closes a loop the consumer left early with GeneratorExit, or cancels
    # that close at shutdown); close() or the proxy's collection ends the span then.
    yielded = False
    try:
        async for chunk in state.iterator:
            try:  # as in read_each
                on_chunk(chunk)
            except Exception:
                with contain("stream.on_chunk"):
                    raise
            yielded = True
            yield chunk
            yielded = False
    except BaseException as exc:
        if not yielded:
            state.finish(exc)
        raise
    state.finish()


def _reyield(stream: Any) -> Iterator[Any]:
    for item in stream._iterator:  # noqa: UP028 (the SDK's code: ``yield from`` compiles otherwise)
        yield item


async def _reyield_async(stream: Any) -> AsyncIterator[Any]:
    async for item in stream._iterator:
        yield item


def _shape(code: CodeType) -> tuple[Any, ...]:
    """What makes two functions' code run alike: not their names, lines or ``__future__`` flags."""
    kind = code.co_flags & (CO_GENERATOR | CO_ASYNC_GENERATOR)
    return code.co_code, code.co_names, code.co_consts, kind, code.co_argcount, code.co_nlocals


_REYIELDING = frozenset((_shape(_reyield.__code__), _shape(_reyield_async.__code__)))


def reyielded(method: Any, stream: Any) -> Any:
    """``stream._iterator`` when ``method``, its class's ``__iter__`` or ``__aiter__``, only
    re-yields what that gives (its code is ``_reyield``'s or ``_reyield_async``'s, as openai's
    ``Stream`` and ``AsyncStream`` are): a loop over the proxy then iterates it directly and
    saves a generator step per chunk (an async one costs an awaitable and a ``StopIteration``).
    ``None`` for any other method (Anthropic's also feeds an observer), which must run, as must
    a method another library wrapped (a wrapper that is not a plain function, whatever code it
    shows).
    """
    if type(method) is not FunctionType or _shape(method.__code__) not in _REYIELDING:
        return None
    return getattr(stream, "_iterator", None)


class _StreamState:
    """Everything per stream, on a plain slotted object: ``_self_`` attributes of a wrapt
    proxy are slow to reach, so the proxy's ``__next__`` touches one and calls in here.
    """

    __slots__ = ("done", "handler", "iterator", "on_chunk", "span")

    def __init__(self, span: Span, handler: StreamHandler) -> None:
        self.span = span
        self.handler = handler
        self.on_chunk = handler.on_chunk
        self.iterator: Any = None
        self.done = False

    def start(self, wrapped: Any) -> Any:
        # The SDK stream's ``__iter__``, as an uninstrumented ``for`` loop runs it: a generator
        # resumed in C, where its ``__next__`` is one more Python call per chunk.
        if self.iterator is None:
            kind = type(wrapped)
            if hasattr(kind, "__next__") and not hasattr(kind, "__iter__"):
                self.iterator = wrapped
            elif (inner := reyielded(getattr(kind, "__iter__", None), wrapped)) is not None:
                self.iterator = iter(inner)
            else:
                self.iterator = iter(wrapped)
        return self.iterator

    def start_async(self, wrapped: Any) -> Any:
        # As ``start``: the SDK stream's own ``__aiter__`` generator, not its ``__anext__``
        # coroutine per chunk.
        if self.iterator is None:
            kind = type(wrapped)
            if hasattr(kind, "__anext__") and not hasattr(kind, "__aiter__"):
                self.iterator = wrapped
            elif (inner := reyielded(getattr(kind, "__aiter__", None), wrapped)) is not None:
                self.iterator = inner.__aiter__()
            else:
                self.iterator = aiter(wrapped)  # the TypeError ``async for`` raises on a non-iterable
        return self.iterator

    def seen(self, chunk: Any) -> Any:
        try:  # as in read_each
            self.on_chunk(chunk)
        except Exception:
            with contain("stream.on_chunk"):
                raise
        return chunk

    def next(self) -> Any:
        try:
            chunk = next(self.iterator)
        except StopIteration:
            self.finish()
            raise
        except BaseException as exc:
            self.finish(exc)
            raise
        return self.seen(chunk)

    def finish(self, error: BaseException | None = None, *, early: bool = False) -> None:
        if self.done:
            return
        self.done = True
        with contain("stream.finish"):
            with contain("stream.on_end"):
                self.handler.on_end(self.span)
            if early:
                self.span.metadata["stream_closed_early"] = True
            if error is not None:
                self.span.fail(error)
            else:
                self.span.end()


def finish_stream(stream: Any, *, early: bool = True) -> None:
    """End the span of ``stream`` if it is one of our proxies (for SDK helpers that close the
    underlying response directly instead of calling ``close()`` on the stream they wrap).
    """
    if isinstance(stream, _StreamProxy):
        stream._self_state.finish(early=early)


class _StreamProxy(wrapt.ObjectProxy[Any]):
    """What both proxies share: construction, copies, pickling and the end at collection.

    ``isinstance(proxy, openai.Stream)`` holds and ``proxy.__class__`` is the SDK's class, but
    ``type(proxy)`` is the proxy class. A copy (``copy.copy``/``deepcopy``) copies the SDK
    object as the SDK does and is the same stream: chunks read through either go to the one
    span, which ends once. Pickling pickles the SDK object (which the SDK's streams refuse).
    """

    _self_origin: _StreamProxy  # on copies only

    def __init__(self, wrapped: Any, span: Span, handler: StreamHandler) -> None:
        super().__init__(wrapped)
        self._self_state = _StreamState(span, handler)

    def _self_twin(self, wrapped: Any) -> Any:
        twin = type(self).__new__(type(self))
        wrapt.ObjectProxy.__init__(twin, wrapped)
        twin._self_state = self._self_state
        twin._self_origin = self  # the first proxy, whose collection ends the span, outlives copies
        return twin

    def __copy__(self) -> Any:
        return self._self_twin(copy(self.__wrapped__))

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self._self_twin(deepcopy(self.__wrapped__, memo))

    def __reduce_ex__(self, protocol: Any) -> Any:
        return self.__wrapped__.__reduce_ex__(protocol)

    def __del__(self) -> None:
        state = getattr(self, "_self_state", None)
        if state is not None and getattr(self, "_self_origin", None) is None:
            state.finish(early=True)


class SyncStreamProxy(_StreamProxy):
    def __iter__(self) -> Iterator[Any]:
        state = self._self_state
        stream = Reading(state, self)
        read = getattr(state.handler, "read", None)
        if read is not None:
            with contain("stream.read"):
                return read(stream)  # type: ignore[no-any-return]
        return read_each(stream)

    def __next__(self) -> Any:
        state = self._self_state
        if state.iterator is None:
            state.start(self.__wrapped__)
        return state.next()

    def __enter__(self) -> Self:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__exit__", None)
            return exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            self._self_state.finish(early=True)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_state.finish(early=True)


class AsyncStreamProxy(_StreamProxy):
    def __aiter__(self) -> AsyncIterator[Any]:
        # a stream that only has ``__anext__`` is stepped by ours
        iterator = self._self_state.start_async(self.__wrapped__)
        return read_each_async(self) if hasattr(type(iterator), "__aiter__") else self

    async def __anext__(self) -> Any:
        # Awaits the SDK's step itself: a coroutine of ours in between would be one more frame
        # (and object) per chunk.
        state = self._self_state
        iterator = state.iterator
        if iterator is None:
            iterator = state.start_async(self.__wrapped__)
        try:
            chunk = await iterator.__anext__()
        except StopAsyncIteration:
            state.finish()
            raise
        except BaseException as exc:
            state.finish(exc)
            raise
        return state.seen(chunk)

    async def __aenter__(self) -> Self:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__aexit__", None)
            return await exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            self._self_state.finish(early=True)

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_state.finish(early=True)

    async def aclose(self) -> None:
        try:
            await self.__wrapped__.aclose()
        finally:
            self._self_state.finish(early=True)
