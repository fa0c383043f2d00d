"""The wrapt wrappers: each only wires ``_request``, the SDK call and ``_response``/``_stream``.

Sync and async twins differ only by ``await``; everything before and after the call lives in
``_begin`` / ``_finish``. The SDK's async methods are plain ``async def`` under wrapt, but
``inspect.iscoroutinefunction`` is False for them, hence explicit async twins.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from ..._core.internal_errors import contain
from ..._core.runtime import start_span
from ..._core.span import Span
from .._llm import capture_content, start_llm_span
from .._patching import Wrapper
from .._raw_body import record_raw
from .._stream import AsyncStreamProxy, SyncStreamProxy
from ._request import materialize, provider_of, read_options, record_request
from ._response import record_message
from ._stream import AsyncStreamManagerProxy, MessageAccumulator, SyncStreamManagerProxy

OPERATION = "messages"

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


class _Call:
    __slots__ = ("capture", "count", "span", "stream")

    def __init__(self, span: Span, capture: bool, stream: bool, count: bool = False) -> None:
        self.span = span
        self.capture = capture
        self.stream = stream
        self.count = count


Begin = Callable[[Any, tuple[Any, ...], dict[str, Any]], "_Call | None"]


def _begin(client: Any, kwargs: dict[str, Any], stream: bool) -> _Call | None:
    with contain("anthropic.start"):
        materialize(kwargs)
        model = kwargs.get("model")
        span = start_llm_span(
            f"{OPERATION} {model}",
            provider=provider_of(client),
            operation=OPERATION,
            request_model=model if isinstance(model, str) else None,
            stream=stream,
        )
        capture = capture_content()
        record_request(span, kwargs, capture)
        return _Call(span, capture, stream)
    return None


def _begin_message(resource: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call | None:
    return _begin(getattr(resource, "_client", None), kwargs, kwargs.get("stream") is True)


# count_tokens: a short ``custom`` span, not an llm one. It is a network call worth its latency
# and errors, but it generates nothing: it gets no usage (trace roll-ups would count its tokens
# as spent, and price them) and it must not claim a framework's llm span (``start_llm_span``).
def _count(client: Any, kwargs: dict[str, Any]) -> _Call | None:
    with contain("anthropic.count_tokens.start"):
        materialize(kwargs)
        model = kwargs.get("model")
        span = start_span(f"count_tokens {model}", "custom")
        span.provider = provider_of(client)
        span.operation = "count_tokens"
        span.request_model = model if isinstance(model, str) else None
        return _Call(span, False, False, count=True)
    return None


def _begin_count(resource: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call | None:
    return _count(getattr(resource, "_client", None), kwargs)


def _begin_request(client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call | None:
    """``request()`` of a messages call that no resource hook traced: the user bound the method
    (``create = client.messages.create``, a ``with_raw_response`` wrapper, a stream manager)
    before we patched, or posted to the route directly. Inside a traced call it passes through.
    """
    if _traced_call.get():
        return None
    with contain("anthropic.request"):
        read = read_options(args, kwargs)
        if read is not None:
            arguments, count = read
            if count:
                return _count(client, arguments)
            return _begin(client, arguments, kwargs.get("stream") is True)
    return None


def _fail(call: _Call, exc: BaseException) -> None:
    with contain("anthropic.fail"):
        call.span.fail(exc)


def _finish(call: _Call, result: Any, proxy: type) -> Any:
    """End the span from the result, or hand a stream to a proxy that ends it later."""
    with contain("anthropic.finish"):
        span = call.span
        if call.stream and (hasattr(type(result), "__next__") or hasattr(type(result), "__anext__")):
            return proxy(result, span, MessageAccumulator(call.capture))
        if call.count:
            span.metadata["input_tokens"] = getattr(result, "input_tokens", None)
        elif hasattr(result, "stop_reason"):
            record_message(span, result, call.capture)
        else:  # with_raw_response / with_streaming_response: the user reads the body
            span.metadata["raw_response"] = True
            capture = call.capture
            handler = MessageAccumulator(capture) if call.stream else None
            if record_raw(
                result, span, handler, lambda span, message: record_message(span, message, capture)
            ):
                return result  # the span ends with the body the user reads
        span.end()
        return result
    with contain("anthropic.finish.end"):
        call.span.end()
    return result


def _sync_wrapper(begin: Begin) -> Wrapper:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = begin(instance, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            with _SdkSpanOff():
                result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _fail(call, exc)
            raise
        return _finish(call, result, SyncStreamProxy)

    return wrapper


def _async_wrapper(begin: Begin) -> Wrapper:
    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = begin(instance, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        try:
            with _SdkSpanOff():
                result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _fail(call, exc)
            raise
        return _finish(call, result, AsyncStreamProxy)

    return wrapper


# ``Messages.create`` / ``parse``: one span; streams are proxied.
wrap_messages_create = _sync_wrapper(_begin_message)
async_wrap_messages_create = _async_wrapper(_begin_message)
wrap_count_tokens = _sync_wrapper(_begin_count)
async_wrap_count_tokens = _async_wrapper(_begin_count)
# ``SyncAPIClient.request`` / ``AsyncAPIClient.request``: what the resource hooks did not see.
wrap_client_request = _sync_wrapper(_begin_request)
async_wrap_client_request = _async_wrapper(_begin_request)


def _stream_starter(instance: Any, kwargs: dict[str, Any]) -> Any:
    def start() -> tuple[Span, MessageAccumulator] | None:
        call = _begin(getattr(instance, "_client", None), kwargs, True)
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
