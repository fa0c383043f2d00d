"""Raw responses whose body the user reads themselves (``with_streaming_response``, a raw
stream's ``parse()``): the span is filled from the bytes as they pass to the user.

Both Stainless SDKs (OpenAI, Anthropic) read a body only through its httpx response's
``stream``. We put a proxy there that hands each piece of bytes to a decoder on its way, so
whatever the user calls (``iter_lines``, ``iter_bytes``, ``parse()``, ``read()``...) we see
exactly the bytes they read, and read none they do not. The span ends when the body is
exhausted or closed (a ``with`` block's exit), or when the proxy is garbage-collected.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Self

import wrapt

from .._core.internal_errors import contain
from .._core.span import Span
from ._stream import StreamHandler

Record = Callable[[Span, Any], None]  # fills a span from a parsed non-stream body


class BodyWatcher:
    """Decodes the bytes the user reads: SSE events for a stream handler, else one JSON body."""

    __slots__ = ("buffer", "build", "data", "done", "handler", "record", "span")

    def __init__(
        self, span: Span, build: Callable[[Any], Any], handler: StreamHandler | None, record: Record
    ) -> None:
        self.span = span
        self.build = build  # JSON value -> the SDK's object (a chunk, an event, a completion)
        self.handler = handler  # set for a stream; None for a JSON body
        self.record = record
        self.buffer = b""
        self.data: list[str] = []  # ``data:`` lines of the SSE event being read
        self.done = False

    def feed(self, piece: bytes) -> None:
        if self.done:
            return
        with contain("raw_body.feed"):
            if self.handler is None:
                self.buffer += piece
                return
            *lines, self.buffer = (self.buffer + piece).split(b"\n")
            for line in lines:
                self._line(line.rstrip(b"\r").decode("utf-8", "replace"))

    def _line(self, line: str) -> None:
        if line.startswith("data:"):
            self.data.append(line[5:].lstrip(" "))
        elif not line and self.data:
            data, self.data = "\n".join(self.data), []
            if data == "[DONE]":
                self.finish()
            else:
                assert self.handler is not None
                self.handler.on_chunk(self.build(json.loads(data)))

    def decode(self) -> None:
        """Write what was read into the span (stream handler's totals, or the parsed body)."""
        self.done = True
        with contain("raw_body.decode"):
            if self.handler is not None:
                self.handler.on_end(self.span)
            elif self.buffer:
                self.record(self.span, self.build(json.loads(self.buffer)))

    def finish(self, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.decode()
        if error is not None:
            self.span.fail(error)
        else:
            self.span.end()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        """The body read to its end, or an error while reading it; a loop the user stopped
        (``GeneratorExit``) ends the span at ``close()`` or garbage collection instead.
        """
        if not isinstance(exc, GeneratorExit):
            self.finish(exc)


class _WatchedBody(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """The httpx response's byte stream (sync, async, or both as a replayed ``ByteStream``),
    with a watcher on every piece read.
    """

    def __init__(self, wrapped: Any, watcher: BodyWatcher) -> None:
        super().__init__(wrapped)
        self._self_watcher = watcher
        self._self_iterated = False

    def _self_first(self) -> bool:
        # The SDK drains the body after the stream's end with a second iteration: not read by the user.
        first, self._self_iterated = not self._self_iterated, True
        return first

    def __iter__(self) -> Iterator[bytes]:
        if not self._self_first():
            yield from self.__wrapped__
            return
        with self._self_watcher as watcher:
            for piece in self.__wrapped__:
                watcher.feed(piece)
                yield piece

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if not self._self_first():
            async for piece in self.__wrapped__:
                yield piece
            return
        with self._self_watcher as watcher:
            async for piece in self.__wrapped__:
                watcher.feed(piece)
                yield piece

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_watcher.finish()

    async def aclose(self) -> None:
        try:
            await self.__wrapped__.aclose()
        finally:
            self._self_watcher.finish()

    def __del__(self) -> None:
        self._self_watcher.finish()


def record_raw(result: Any, span: Span, handler: StreamHandler | None, record: Record) -> bool:
    """Fill ``span`` from a raw response (``with_raw_response``, ``with_streaming_response``)
    the user gets as is; ``True`` when the span ends later, with the body the user reads.

    A body the SDK already read (a non-stream ``with_raw_response``) is decoded from its bytes
    now, the way the SDK's ``parse()`` would (which may be a coroutine: we never call it).
    """
    if watch_body(result, span, handler, record):
        return True
    http_response: Any = getattr(result, "http_response", None)
    if getattr(http_response, "is_stream_consumed", False):  # buffered: decoding it reads nothing new
        if handler is None and (parsed := _parsed(result)) is not None:
            record(span, parsed)
            return False
        build = _builder(result, stream=handler is not None)
        if build is not None:
            watcher = BodyWatcher(span, build, handler, record)
            watcher.feed(http_response.content)
            watcher.feed(b"\n\n")  # a body without its final blank line still ends its last event
            if not watcher.done:  # an OpenAI stream's ``[DONE]`` already ended it
                watcher.decode()
    return False


# LegacyAPIResponse classes (one per SDK) -> whether their ``parse()`` is a plain method: asked
# once, not per call (``inspect.iscoroutinefunction`` is five Python calls).
_plain_parse: dict[type, bool] = {}


def _parsed(result: Any) -> Any:
    """The SDK's own object of a buffered legacy raw response (``with_raw_response``), from its
    ``parse()``: the response keeps it, and gives that same object to the user's ``parse()``
    (LangChain's OpenAI model calls it on every call), so the body is built once, not twice.
    ``None`` when ``parse()`` is a coroutine function or raises (the user's own call raises it).
    """
    cls = type(result)
    if cls.__name__ != "LegacyAPIResponse":
        return None
    plain = _plain_parse.get(cls)
    if plain is None:
        parse = getattr(cls, "parse", None)
        plain = _plain_parse[cls] = parse is not None and not inspect.iscoroutinefunction(parse)
    if not plain:
        return None
    try:
        return result.parse()
    except Exception:  # e.g. structured output the SDK's post-parser refuses: decoded by us instead
        return None


def watch_body(result: Any, span: Span, handler: StreamHandler | None, record: Record) -> bool:
    """Watch the unread body of ``result`` (an SDK ``APIResponse``/``LegacyAPIResponse``);
    ``False`` when it cannot be watched (already read, or an SDK without these parts).
    """
    http_response: Any = getattr(result, "http_response", None)
    body = getattr(http_response, "stream", None)
    if body is None or getattr(http_response, "is_stream_consumed", True):
        return False
    build = _builder(result, stream=handler is not None)
    if build is None:
        return False
    http_response.stream = _WatchedBody(body, BodyWatcher(span, build, handler, record))
    return True


def _builder(result: Any, stream: bool) -> Callable[[Any], Any] | None:
    """JSON value -> the SDK object the SDK itself would build (its own lenient constructor)."""
    sdk = sys.modules.get(type(result).__module__.partition(".")[0])
    models, streaming = getattr(sdk, "_models", None), getattr(sdk, "_streaming", None)
    if models is None or streaming is None:
        return None
    if stream:
        stream_cls = getattr(result, "_stream_cls", None)
        if stream_cls is None:
            return None
        target = streaming.extract_stream_chunk_type(stream_cls)
    else:
        target = getattr(result, "_cast_to", None)
    construct = models.construct_type
    return lambda value: construct(value=value, type_=target)
