"""``messages.stream()``'s managers: the request (and so the span) starts when the ``with``
block is entered, and our stream proxy goes in front of the raw event stream the SDK's
``MessageStream`` reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wrapt

from ..._core.internal_errors import contain
from ..._core.span import Span
from .._stream import AsyncStreamProxy, SyncStreamProxy
from ._stream import MessageAccumulator

Starter = Callable[[], "tuple[Span, MessageAccumulator] | None"]


class _ManagerProxy(wrapt.ObjectProxy[Any]):
    """A stream manager: the request (and so the span) starts when the ``with`` block is entered."""

    def __init__(self, wrapped: Any, start: Starter, suppress: Callable[[], Any]) -> None:
        super().__init__(wrapped)
        self._self_start = start
        self._self_suppress = suppress

    def _self_begin(self) -> tuple[Span, MessageAccumulator] | None:
        with contain("anthropic.stream.start"):
            return self._self_start()
        return None

    @staticmethod
    def _self_fail(span: Span, exc: BaseException) -> None:
        with contain("anthropic.stream.fail"):
            span.fail(exc)

    @staticmethod
    def _self_attach(message_stream: Any, started: tuple[Span, MessageAccumulator], proxy: type) -> Any:
        """Put our proxy in front of the raw event stream that the ``MessageStream`` reads."""
        span, handler = started
        with contain("anthropic.stream.wrap"):
            raw = getattr(message_stream, "_raw_stream", None)
            if raw is None:  # an SDK without the attribute: keep the call's data we have
                handler.on_end(span)
                span.end()
            else:
                message_stream._raw_stream = proxy(raw, span, handler)
        return message_stream


class SyncStreamManagerProxy(_ManagerProxy):
    """``MessageStreamManager``."""

    def __enter__(self) -> Any:
        started = self._self_begin()
        if started is None:
            return self.__wrapped__.__enter__()
        try:
            with self._self_suppress():
                message_stream = self.__wrapped__.__enter__()
        except BaseException as exc:
            self._self_fail(started[0], exc)
            raise
        return self._self_attach(message_stream, started, SyncStreamProxy)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> Any:
        return self.__wrapped__.__exit__(exc_type, exc, tb)


class AsyncStreamManagerProxy(_ManagerProxy):
    """``AsyncMessageStreamManager``: the request coroutine runs at ``__aenter__``."""

    async def __aenter__(self) -> Any:
        started = self._self_begin()
        if started is None:
            return await self.__wrapped__.__aenter__()
        try:
            with self._self_suppress():
                message_stream = await self.__wrapped__.__aenter__()
        except BaseException as exc:
            self._self_fail(started[0], exc)
            raise
        return self._self_attach(message_stream, started, AsyncStreamProxy)

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> Any:
        return await self.__wrapped__.__aexit__(exc_type, exc, tb)
