"""One traced model call, the same for every provider.

A provider hands the lifecycle a small contract (``Provider``) and its patch table wraps SDK
methods with ``provider.wrap(read)`` / ``provider.async_wrap(read)``, where ``read`` reads a
request: ``None`` when it is no model call, else a ``ModelRequest``. The lifecycle does the rest,
identically for every provider::

    read the request ── None ──> the call passes straight through, untraced
    open the span (a framework's llm span is enriched, not doubled: ``_llm``), record the request
    the SDK call, once ── raises ──> ``span.fail(exc)``; the user's exception re-raised unchanged
    the user's raw response object ──> filled from the body the user reads (``_raw_body``)
    a stream ──> handed back in a proxy that ends the span when the stream ends (``_stream``)
    else ──> record the response, end the span

Our steps run under ``try``/``except Exception`` + ``contain`` (free until something raises):
a failure to read the request or open the span leaves the call untraced; a failure to record
the request or the response leaves the span without that part.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Generic, Protocol, TypeVar

from .._core.internal_errors import contain
from .._core.runtime import start_span
from .._core.span import Span
from ._llm import capture_content, start_llm_span
from ._patching import Wrapper
from ._raw_body import record_raw
from ._stream import AsyncStreamProxy, StreamHandler, SyncStreamProxy

# Span kind by operation, when it is not ``llm``. An operation that generates nothing
# (``count_tokens``) is a ``custom`` span: no usage to roll up, and no framework llm span to claim.
_KINDS = {"embeddings": "embedding", "count_tokens": "custom"}


class ModelRequest(Protocol):
    """What ``read`` returns for a model call: what the span is opened with."""

    @property
    def operation(self) -> str:
        """``chat``, ``responses``, ``completion``, ``embeddings``, ``messages``, ``count_tokens``..."""

    @property
    def model(self) -> str | None: ...

    @property
    def provider(self) -> str: ...

    @property
    def stream(self) -> bool:
        """Whether the SDK answers with a stream of chunks."""

    @property
    def raw(self) -> object:
        """``None``, or the raw-response mode (``metadata["raw_response"]``): the user gets the
        SDK's raw response object and reads its body themselves.
        """


R = TypeVar("R", bound=ModelRequest)
Read = Callable[[Any, tuple[Any, ...], dict[str, Any]], R | None]  # (instance, args, kwargs) of the patch


class Request:
    """A ready-made ``ModelRequest``; ``arguments`` is what the provider records from it."""

    __slots__ = ("arguments", "model", "operation", "provider", "raw", "stream")

    def __init__(
        self,
        operation: str,
        model: str | None,
        provider: str,
        arguments: Any,
        *,
        stream: bool = False,
        raw: object = None,
    ) -> None:
        self.operation = operation
        self.model = model
        self.provider = provider
        self.arguments = arguments
        self.stream = stream
        self.raw = raw


class ModelCall(Generic[R]):
    """One model call in flight: its span, what was asked, whether content is captured."""

    __slots__ = ("capture", "request", "span")

    def __init__(self, span: Span, request: R, capture: bool) -> None:
        self.span = span
        self.request = request
        self.capture = capture


class Provider(Generic[R]):
    """What a provider supplies; the lifecycle owns the order of the steps and their guards.

    Args:
        name: the integration's name (it labels our errors in the debug log).
        record_request: ``(span, request, capture)``: input, tool definitions, settings.
        record_response: ``(span, request, result, capture)``: a parsed, non-stream result.
        stream_handler: ``(request, capture)``: a fresh ``StreamHandler`` for a stream's chunks
            (``None``: the operation does not stream, the span ends at once).
        raw_response: ``(request, result)``: for an SDK whose raw-response mode shows only in
            the result; by default it is ``request.raw``.
        around_call: a context manager entered around the SDK call (say, to switch off the
            SDK's own tracing of a call we trace).
        record_failure: ``(span, exc)``: records the SDK call's error and ends the span, for an
            SDK whose errors say more than ``Span.fail`` reads; by default ``Span.fail``.
    """

    __slots__ = (
        "around_call", "name", "raw_response", "record_failure", "record_request", "record_response",
        "stream_handler",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        *,
        record_request: Callable[[Span, R, bool], None],
        record_response: Callable[[Span, R, Any, bool], None],
        stream_handler: Callable[[R, bool], StreamHandler | None],
        raw_response: Callable[[R, Any], object] | None = None,
        around_call: Callable[[], AbstractContextManager[Any]] | None = None,
        record_failure: Callable[[Span, BaseException], None] = Span.fail,
    ) -> None:
        self.name = name
        self.record_request = record_request
        self.record_response = record_response
        self.stream_handler = stream_handler
        self.raw_response = raw_response
        self.around_call = around_call
        self.record_failure = record_failure

    def begin(self, request: R) -> ModelCall[R] | None:
        """Open the span of ``request`` and record it; ``None`` if the span could not be opened."""
        try:
            operation, model = request.operation, request.model
            kind = _KINDS.get(operation, "llm")
            name = f"{operation} {model}" if model else operation
            if kind == "custom":
                span = start_span(name, kind)
                span.provider, span.operation, span.request_model = request.provider, operation, model
            else:
                span = start_llm_span(
                    name,
                    provider=request.provider,
                    operation=operation,
                    request_model=model,
                    stream=request.stream,
                    kind=kind,
                )
            capture = capture_content()
        except Exception:
            with contain(f"{self.name}.start"):
                raise
            return None
        try:
            self.record_request(span, request, capture)
        except Exception:
            with contain(f"{self.name}.request"):
                raise
        return ModelCall(span, request, capture)

    def finish(self, call: ModelCall[R], result: Any, proxy: type[SyncStreamProxy | AsyncStreamProxy]) -> Any:
        """End the span from ``result``, or hand a stream to a proxy that ends it later; returns
        what the user gets: ``result`` itself or the proxy around it.
        """
        span = call.span
        try:
            request = call.request
            raw = request.raw if self.raw_response is None else self.raw_response(request, result)
            if raw is not None:
                if self._record_raw(call, raw, result):
                    return result  # the span ends with the body the user reads
            elif request.stream:
                handler = self.stream_handler(request, call.capture)
                if handler is not None:
                    return proxy(result, span, handler)
            else:
                self.record_response(span, request, result, call.capture)
        except Exception:
            with contain(f"{self.name}.response"):
                raise
        span.end()
        return result

    def fail(self, call: ModelCall[R], exc: BaseException) -> None:
        """The SDK call raised ``exc`` (the caller re-raises it)."""
        try:
            self.record_failure(call.span, exc)
        except Exception:
            with contain(f"{self.name}.fail"):
                raise

    def _record_raw(self, call: ModelCall[R], raw: object, result: Any) -> bool:
        """``with_raw_response``/``with_streaming_response`` (Stainless SDKs): the user gets the
        SDK's object as is; ``True`` when the span ends later, with the body the user reads.
        """
        span, request, capture = call.span, call.request, call.capture
        span.metadata["raw_response"] = raw
        request_id = getattr(result, "request_id", None)
        if request_id:
            span.metadata["request_id"] = request_id
        handler = None
        if request.stream:
            handler = self.stream_handler(request, capture)
            if handler is None:
                return False
        record = self.record_response
        return record_raw(result, span, handler, lambda span, parsed: record(span, request, parsed, capture))

    def _starter(
        self, read: Read[R]
    ) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], ModelCall[R] | None]:
        """The wrappers' first step: read the request and open its call (``None``: untraced)."""
        begin, start_error = self.begin, f"{self.name}.start"

        def start(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ModelCall[R] | None:
            try:
                request = read(instance, args, kwargs)
            except Exception:
                with contain(start_error):
                    raise
                return None
            return None if request is None else begin(request)

        return start

    def wrap(self, read: Read[R]) -> Wrapper:
        """The wrapt wrapper of a sync SDK method whose requests ``read`` reads."""
        start, finish, fail, around = self._starter(read), self.finish, self.fail, self.around_call

        def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            call = start(instance, args, kwargs)
            if call is None:
                return wrapped(*args, **kwargs)
            try:
                if around is None:
                    result = wrapped(*args, **kwargs)
                else:
                    with around():
                        result = wrapped(*args, **kwargs)
            except BaseException as exc:
                fail(call, exc)
                raise
            return finish(call, result, SyncStreamProxy)

        return wrapper

    def async_wrap(self, read: Read[R]) -> Wrapper:
        """``wrap`` for an async SDK method (a plain function returning a coroutine, which
        ``inspect.iscoroutinefunction`` does not recognise: hence an explicit twin).
        """
        start, finish, fail, around = self._starter(read), self.finish, self.fail, self.around_call

        async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            call = start(instance, args, kwargs)
            if call is None:
                return await wrapped(*args, **kwargs)
            try:
                if around is None:
                    result = await wrapped(*args, **kwargs)
                else:
                    with around():
                        result = await wrapped(*args, **kwargs)
            except BaseException as exc:
                fail(call, exc)
                raise
            return finish(call, result, AsyncStreamProxy)

        return wrapper
