"""The wrappers: read the request, call, record the response or hand the stream to a proxy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._core.internal_errors import contain
from ..._core.span import Span
from .._llm import capture_content, start_llm_span
from .._patching import Wrapper
from .._stream import AsyncStreamProxy, SyncStreamProxy
from ._request import EMBED, GENERATE, model_name, provider_of, record_request
from ._response import record_embeddings, record_response
from ._stream import GenerateStream

Recorder = Callable[[Span, Any, bool], None]


class _Call:
    __slots__ = ("capture", "span")

    def __init__(self, span: Span, capture: bool) -> None:
        self.span = span
        self.capture = capture


def _begin(instance: Any, kwargs: dict[str, Any], operation: str, stream: bool) -> _Call | None:
    with contain("google_genai.start"):
        model = model_name(kwargs.get("model"))
        span = start_llm_span(
            f"{operation} {model}" if model else operation,
            provider=provider_of(instance),
            operation=operation,
            request_model=model,
            stream=stream,
            kind="embedding" if operation == EMBED else "llm",
        )
        capture = capture_content()
        with contain("google_genai.request"):
            record_request(span, operation, kwargs, capture)
        return _Call(span, capture)
    return None


def _fail(call: _Call, exc: BaseException) -> None:
    """End the span with the error; ``errors.APIError`` carries its HTTP status as ``code``."""
    with contain("google_genai.fail"):
        span = call.span
        span.record_error(exc)
        code = getattr(exc, "code", None)
        if isinstance(code, int) and span.error is not None:
            span.error["status_code"] = code
        span.end()


def _finish(call: _Call, result: Any, record: Recorder | None, proxy: type) -> Any:
    with contain("google_genai.response"):
        if record is None:
            return proxy(result, call.span, GenerateStream(call.capture))
        record(call.span, result, call.capture)
    with contain("google_genai.end"):
        call.span.end()
    return result


def _sync_wrapper(operation: str, record: Recorder | None) -> Wrapper:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = _begin(instance, kwargs, operation, record is None)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _fail(call, exc)
            raise
        return _finish(call, result, record, SyncStreamProxy)

    return wrapper


def _async_wrapper(operation: str, record: Recorder | None) -> Wrapper:
    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = _begin(instance, kwargs, operation, record is None)
        if call is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _fail(call, exc)
            raise
        return _finish(call, result, record, AsyncStreamProxy)

    return wrapper


wrap_generate = _sync_wrapper(GENERATE, record_response)
wrap_generate_stream = _sync_wrapper(GENERATE, None)
wrap_embed = _sync_wrapper(EMBED, record_embeddings)
async_wrap_generate = _async_wrapper(GENERATE, record_response)
async_wrap_generate_stream = _async_wrapper(GENERATE, None)
async_wrap_embed = _async_wrapper(EMBED, record_embeddings)
