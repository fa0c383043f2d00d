"""Gemini on the shared model-call lifecycle: its contract and its request readers."""

from __future__ import annotations

from typing import Any

from ..._core.span import Span
from .._lifecycle import Provider, Read, Request
from .._patching import Wrapper
from ._request import EMBED, GENERATE, model_name, provider_of, record_request
from ._response import record_embeddings, record_response
from ._stream import GenerateStream


def _reader(operation: str, stream: bool) -> Read[Request]:
    """A reader of ``Models`` calls, whose arguments are all keywords (``model=, contents=, config=``)."""

    def read(models: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
        model = model_name(kwargs.get("model"))
        return Request(operation, model, provider_of(models), kwargs, stream=stream)

    return read


def _record_request(span: Span, request: Request, capture: bool) -> None:
    record_request(span, request.operation, request.arguments, capture)


def _record_response(span: Span, request: Request, result: Any, capture: bool) -> None:
    (record_embeddings if request.operation == EMBED else record_response)(span, result, capture)


def _stream_handler(request: Request, capture: bool) -> GenerateStream:
    return GenerateStream(capture)


def _record_failure(span: Span, exc: BaseException) -> None:
    """As ``Span.fail``, keeping the HTTP status of ``errors.APIError``, which the SDK calls
    ``code`` (``Span.record_error`` reads only a ``status_code``).
    """
    if span.end_ns is None:
        span.record_error(exc)
        code = getattr(exc, "code", None)
        if isinstance(code, int) and span.error is not None:
            span.error["status_code"] = code
        span.end()


GEMINI = Provider(
    "google_genai",
    record_request=_record_request,
    record_response=_record_response,
    stream_handler=_stream_handler,
    record_failure=_record_failure,
)


def _pair(operation: str, stream: bool) -> tuple[Wrapper, Wrapper]:
    read = _reader(operation, stream)
    return GEMINI.wrap(read), GEMINI.async_wrap(read)


wrap_generate, async_wrap_generate = _pair(GENERATE, False)
wrap_generate_stream, async_wrap_generate_stream = _pair(GENERATE, True)
wrap_embed, async_wrap_embed = _pair(EMBED, False)
