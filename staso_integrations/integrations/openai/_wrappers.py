"""OpenAI on the shared model-call lifecycle: its contract, and the stream helpers' ``close``."""

from __future__ import annotations

from typing import Any

from ..._core.span import Span
from .._lifecycle import Provider
from .._stream import StreamHandler, finish_stream
from ._request import RequestInfo, read_request, record_request
from ._response import RECORDERS
from ._stream import stream_handler


def _record_response(span: Span, info: RequestInfo, result: Any, capture: bool) -> None:
    RECORDERS[info.operation](span, result, capture)


def _stream_handler(info: RequestInfo, capture: bool) -> StreamHandler | None:
    return stream_handler(info.operation, capture)


# ``with_raw_response``/``with_streaming_response`` show in the request's headers (``info.raw``).
OPENAI = Provider[RequestInfo](
    "openai",
    record_request=record_request,
    record_response=_record_response,
    stream_handler=_stream_handler,
)
wrap_request = OPENAI.wrap(read_request)  # ``SyncAPIClient.request``
async_wrap_request = OPENAI.async_wrap(read_request)  # ``AsyncAPIClient.request``


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
