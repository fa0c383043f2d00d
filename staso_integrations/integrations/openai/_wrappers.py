"""The wrappers: sync/async twins differ only by ``await``; the work is in shared helpers."""

from __future__ import annotations

from typing import Any

from ..._core.internal_errors import contain
from ..._core.span import Span
from .._llm import capture_content, start_llm_span
from .._raw_body import record_raw
from .._stream import AsyncStreamProxy, SyncStreamProxy, finish_stream
from ._request import RequestInfo, read_request, record_request
from ._response import record_response
from ._stream import stream_handler


class Call:
    """One traced model call: its span, what was asked, and whether content is captured."""

    __slots__ = ("capture", "info", "span")

    def __init__(self, span: Span, info: RequestInfo, capture: bool) -> None:
        self.span = span
        self.info = info
        self.capture = capture


def start_call(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """Open the span of a model request; ``None`` for every other request."""
    info = read_request(instance, args, kwargs)
    if info is None:
        return None
    operation = info.operation
    span = start_llm_span(
        f"{operation} {info.model}" if info.model else operation,
        provider=info.provider,
        operation=operation,
        request_model=info.model,
        stream=info.stream,
        kind="embedding" if operation == "embeddings" else "llm",
    )
    capture = capture_content()
    with contain("openai.request"):
        record_request(span, info, capture)
    return Call(span, info, capture)


def finish_call(call: Call, result: Any, proxy: type[SyncStreamProxy | AsyncStreamProxy]) -> Any:
    """End the span from ``result`` (or hand a stream to a proxy that ends it); returns what the
    user gets: ``result`` itself, or the proxy around the SDK's stream.
    """
    span, info = call.span, call.info
    with contain("openai.response"):
        if info.raw is not None:
            if _record_raw(call, result):
                return result  # the span ends with the body the user reads
        elif info.stream:
            handler = stream_handler(info.operation, call.capture)
            if handler is not None:
                return proxy(result, span, handler)
        else:
            record_response(span, info.operation, result, call.capture)
    span.end()
    return result


def _record_raw(call: Call, result: Any) -> bool:
    """``with_raw_response``/``with_streaming_response``: the user gets the SDK object as is;
    ``True`` when the span ends with the body the user reads.
    """
    span, info = call.span, call.info
    span.metadata["raw_response"] = info.raw
    request_id = getattr(result, "request_id", None)
    if request_id:
        span.metadata["request_id"] = request_id
    handler = stream_handler(info.operation, call.capture) if info.stream else None
    if info.stream and handler is None:
        return False
    operation, capture = info.operation, call.capture
    return record_raw(
        result, span, handler, lambda span, parsed: record_response(span, operation, parsed, capture)
    )


def wrap_request(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Wrapper of ``SyncAPIClient.request``."""
    call = None
    with contain("openai.start"):
        call = start_call(instance, args, kwargs)
    if call is None:
        return wrapped(*args, **kwargs)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        call.span.fail(exc)
        raise
    return finish_call(call, result, SyncStreamProxy)


async def async_wrap_request(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrapper of ``AsyncAPIClient.request`` (a coroutine function the SDK awaits)."""
    call = None
    with contain("openai.start"):
        call = start_call(instance, args, kwargs)
    if call is None:
        return await wrapped(*args, **kwargs)
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        call.span.fail(exc)
        raise
    return finish_call(call, result, AsyncStreamProxy)


def wrap_helper_close(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``ChatCompletionStream.close``/``ResponseStream.close`` close the HTTP response directly,
    past our proxy of the raw stream: end its span now rather than at garbage collection.
    """
    try:
        return wrapped(*args, **kwargs)
    finally:
        finish_stream(getattr(instance, "_raw_stream", None))


async def async_wrap_helper_close(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Async twin of ``wrap_helper_close``."""
    try:
        return await wrapped(*args, **kwargs)
    finally:
        finish_stream(getattr(instance, "_raw_stream", None))
