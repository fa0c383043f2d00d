"""Anthropic on the shared model-call lifecycle: its contract, its three request readers (a
resource method, ``count_tokens``, and the client's ``request()`` for calls no resource hook saw),
and the ``messages.stream()`` managers, whose request starts at ``__enter__``.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from ..._core.internal_errors import contain
from ..._core.span import Span
from .._lifecycle import Provider, Request
from .._patching import Wrapper
from ._managers import AsyncStreamManagerProxy, SyncStreamManagerProxy
from ._request import materialize, provider_of, read_options, record_request
from ._response import record_message
from ._stream import MessageAccumulator

OPERATION = "messages"
COUNT_TOKENS = "count_tokens"

# True while a call we trace runs: the SDK's own OpenTelemetry call span is then skipped
# (see ``skip_sdk_span``), so a call is never reported twice.
_traced_call: ContextVar[bool] = ContextVar("staso_anthropic_traced_call", default=False)


class _SdkSpanOff:
    """``with _SdkSpanOff():`` marks the block as a call that we trace."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _traced_call.set(True)

    def __exit__(self, *exc: object) -> None:
        _traced_call.reset(self._token)


def _request(client: Any, arguments: dict[str, Any], operation: str, stream: bool) -> Request:
    model = arguments.get("model")
    return Request(
        operation, model if isinstance(model, str) else None, provider_of(client), arguments, stream=stream
    )


def _read_message(resource: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
    materialize(kwargs)
    return _request(getattr(resource, "_client", None), kwargs, OPERATION, kwargs.get("stream") is True)


def _read_count(resource: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
    materialize(kwargs)
    return _request(getattr(resource, "_client", None), kwargs, COUNT_TOKENS, False)


def _read_unclaimed(client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request | None:
    """``request()`` of a messages call that no resource hook traced: the user bound the method
    (``create = client.messages.create``, a ``with_raw_response`` wrapper, a stream manager)
    before we patched, or posted to the route directly. Inside a traced call it passes through.
    """
    if _traced_call.get():
        return None
    read = read_options(args, kwargs)
    if read is None:
        return None
    arguments, count = read
    if count:
        return _request(client, arguments, COUNT_TOKENS, False)
    return _request(client, arguments, OPERATION, kwargs.get("stream") is True)


def _record_request(span: Span, request: Request, capture: bool) -> None:
    if request.operation != COUNT_TOKENS:  # count_tokens keeps no content: it generates nothing
        record_request(span, request.arguments, capture)


def _record_response(span: Span, request: Request, result: Any, capture: bool) -> None:
    if request.operation == COUNT_TOKENS:  # no usage: roll-ups would count these tokens as spent
        span.metadata["input_tokens"] = getattr(result, "input_tokens", None)
    else:
        record_message(span, result, capture)


def _stream_handler(request: Request, capture: bool) -> MessageAccumulator:
    return MessageAccumulator(capture)


def _raw_response(request: Request, result: Any) -> object:
    """``True`` when ``result`` is the SDK's raw response (``with_raw_response``,
    ``with_streaming_response``): neither a stream of events, a ``Message`` nor a token count.
    """
    if request.stream and (hasattr(type(result), "__next__") or hasattr(type(result), "__anext__")):
        return None
    if request.operation == COUNT_TOKENS or hasattr(result, "stop_reason"):
        return None
    return True


ANTHROPIC = Provider[Request](
    "anthropic",
    record_request=_record_request,
    record_response=_record_response,
    stream_handler=_stream_handler,
    raw_response=_raw_response,
    around_call=_SdkSpanOff,
)

# ``Messages.create`` / ``parse``: one span; streams are proxied.
wrap_messages_create = ANTHROPIC.wrap(_read_message)
async_wrap_messages_create = ANTHROPIC.async_wrap(_read_message)
wrap_count_tokens = ANTHROPIC.wrap(_read_count)
async_wrap_count_tokens = ANTHROPIC.async_wrap(_read_count)
# ``SyncAPIClient.request`` / ``AsyncAPIClient.request``: what the resource hooks did not see.
wrap_client_request = ANTHROPIC.wrap(_read_unclaimed)
async_wrap_client_request = ANTHROPIC.async_wrap(_read_unclaimed)


def _stream_starter(instance: Any, kwargs: dict[str, Any]) -> Any:
    def start() -> tuple[Span, MessageAccumulator] | None:
        call = ANTHROPIC.begin(_request(getattr(instance, "_client", None), kwargs, OPERATION, True))
        return None if call is None else (call.span, MessageAccumulator(call.capture))

    return start


def _wrap_manager(instance: Any, kwargs: dict[str, Any], manager: Any, proxy: type) -> Any:
    with contain("anthropic.stream"):
        return proxy(manager, _stream_starter(instance, kwargs), _SdkSpanOff)
    return manager


def _stream_wrapper(proxy: type) -> Wrapper:
    """``messages.stream()`` bypasses ``create``; the request starts at the manager's ``__enter__``.

    ``AsyncMessages.stream`` is a plain function too (it returns an async context manager).
    """

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with contain("anthropic.stream.materialize"):
            materialize(kwargs)  # the SDK captures the arguments now, in a partial
        return _wrap_manager(instance, kwargs, wrapped(*args, **kwargs), proxy)

    return wrapper


wrap_messages_stream = _stream_wrapper(SyncStreamManagerProxy)
async_wrap_messages_stream = _stream_wrapper(AsyncStreamManagerProxy)


def skip_sdk_span(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``anthropic._base_client.start_api_call_span``: no SDK call span for a call we trace.

    The SDK opens its own OpenTelemetry ``CLIENT`` span per API call whenever a tracer provider
    is set (on by default; ``ANTHROPIC_OPEN_TELEMETRY=false`` is the user's switch). It treats
    ``None`` as "no span" and sends the request as it would with spans disabled.
    """
    if _traced_call.get():
        return None
    return wrapped(*args, **kwargs)
