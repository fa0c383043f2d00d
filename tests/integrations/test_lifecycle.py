"""The shared model-call lifecycle, on a fake SDK method: every step and every guard, sync and async."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import wrapt

import staso_integrations as st
from staso_integrations._core.span import Span, Usage
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations import _lifecycle
from staso_integrations.integrations._lifecycle import Provider, Request
from staso_integrations.integrations._llm import provider_enriches
from tests.compiled import skip_if_compiled

MESSAGES = [{"role": "user", "content": "Hi"}]


class Reply:
    def __init__(self, text: str = "Hello") -> None:
        self.text = text


class Handler:
    def __init__(self) -> None:
        self.chunks: list[str] = []

    def on_chunk(self, chunk: str) -> None:
        self.chunks.append(chunk)

    def on_end(self, span: Span) -> None:
        span.output = "".join(self.chunks)


def read(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request | None:
    operation = kwargs.get("operation", "chat")
    if operation == "files":
        return None  # not a model call
    return Request(operation, kwargs.get("model"), "fake", kwargs, stream=kwargs.get("stream", False))


def record_request(span: Span, request: Request, capture: bool) -> None:
    span.input = request.arguments["messages"] if capture else None


def record_response(span: Span, request: Request, result: Any, capture: bool) -> None:
    span.usage = Usage(input=3, output=1, total=4)
    span.output = {"role": "assistant", "content": result.text}
    span.finish_reason = "stop"


entered: list[str] = []


@contextmanager
def around() -> Iterator[None]:
    entered.append("in")
    yield
    entered.append("out")


FAKE = Provider[Request](
    "fake",
    record_request=record_request,
    record_response=record_response,
    stream_handler=lambda request, capture: Handler(),
    around_call=around,
)


def sdk_call(**kwargs: Any) -> Any:
    if kwargs.get("fail"):
        raise kwargs["fail"]
    if kwargs.get("stream"):
        return iter(["Hel", "lo"])
    return kwargs.get("result") or Reply()


async def async_sdk_call(**kwargs: Any) -> Any:
    if kwargs.get("stream"):
        return _chunks()
    return sdk_call(**kwargs)


async def _chunks() -> Any:
    for chunk in ("Hel", "lo"):
        yield chunk


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Calls the traced fake SDK method; a stream comes back read to its end, as a list."""
    if request.param == "sync":
        traced = wrapt.FunctionWrapper(sdk_call, FAKE.wrap(read))

        def run(**kwargs: Any) -> Any:
            result = traced(**kwargs)
            return list(result) if kwargs.get("stream") else result

        return run
    async_traced = wrapt.FunctionWrapper(async_sdk_call, FAKE.async_wrap(read))

    async def run_async(**kwargs: Any) -> Any:
        result = await async_traced(**kwargs)
        return [chunk async for chunk in result] if kwargs.get("stream") else result

    return lambda **kwargs: asyncio.run(run_async(**kwargs))


def test_a_model_call_is_one_span(call: Callable[..., Any], exporter: InMemoryExporter) -> None:
    entered.clear()
    assert call(model="m-1", messages=MESSAGES).text == "Hello"
    [span] = exporter.spans
    assert (span.name, span.kind, span.provider, span.operation, span.request_model) == (
        "chat m-1", "llm", "fake", "chat", "m-1"
    )  # fmt: skip
    assert span.input == MESSAGES and span.output == {"role": "assistant", "content": "Hello"}
    assert span.ended and span.status == "ok" and span.usage == Usage(input=3, output=1, total=4)
    assert entered == ["in", "out"]  # around_call, around the SDK call only


def test_other_requests_pass_through(call: Callable[..., Any], exporter: InMemoryExporter) -> None:
    assert call(operation="files").text == "Hello"
    assert exporter.spans == []


@pytest.mark.parametrize(("operation", "kind"), [("embeddings", "embedding"), ("count_tokens", "custom")])
def test_kind_follows_the_operation(
    call: Callable[..., Any], exporter: InMemoryExporter, operation: str, kind: str
) -> None:
    call(operation=operation, model="m-1", messages=MESSAGES)
    [span] = exporter.spans
    assert (span.name, span.kind, span.provider, span.operation) == (
        f"{operation} m-1",
        kind,
        "fake",
        operation,
    )


def test_count_tokens_claims_no_framework_span(call: Callable[..., Any], exporter: InMemoryExporter) -> None:
    with st.span("ChatModel", kind="llm") as framework, provider_enriches(framework):
        call(operation="count_tokens", model="m-1", messages=MESSAGES)
        call(model="m-1", messages=MESSAGES)  # the model call fills the framework's span
    assert sorted((s.name, s.kind) for s in exporter.spans) == [
        ("ChatModel", "llm"),
        ("count_tokens m-1", "custom"),
    ]
    assert framework.usage == Usage(input=3, output=1, total=4)


def test_users_exception_propagates_unchanged(call: Callable[..., Any], exporter: InMemoryExporter) -> None:
    error = ValueError("bad request")
    with pytest.raises(ValueError) as raised:
        call(model="m-1", messages=MESSAGES, fail=error)
    assert raised.value is error
    [span] = exporter.spans
    assert span.status == "error" and span.error["type"] == "ValueError" and span.ended


def test_a_stream_is_proxied_and_ends_its_span(call: Callable[..., Any], exporter: InMemoryExporter) -> None:
    assert call(model="m-1", messages=MESSAGES, stream=True) == ["Hel", "lo"]
    [span] = exporter.spans
    assert span.stream is True and span.output == "Hello" and span.ended


def test_a_raw_response_is_handed_back_as_is(exporter: InMemoryExporter) -> None:
    raw = Reply()
    raw.request_id = "req_1"  # type: ignore[attr-defined]
    provider = Provider[Request](
        "fake", record_request=record_request, record_response=record_response,
        stream_handler=lambda request, capture: None, raw_response=lambda request, result: "true",
    )  # fmt: skip
    assert (
        wrapt.FunctionWrapper(sdk_call, provider.wrap(read))(model="m", messages=MESSAGES, result=raw) is raw
    )
    [span] = exporter.spans
    assert span.metadata == {"raw_response": "true", "request_id": "req_1"} and span.ended


def _broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("bug in our code")


@pytest.mark.parametrize(
    "step",
    [
        "record_request",
        "record_response",
        "stream_handler",
        pytest.param("start", marks=skip_if_compiled(_lifecycle)),
    ],
)
def test_our_bug_never_reaches_the_call(
    call: Callable[..., Any], exporter: InMemoryExporter, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    monkeypatch.delenv("STASO_STRICT")
    if step == "start":
        monkeypatch.setattr("staso_integrations.integrations._lifecycle.start_llm_span", _broken)
    else:
        monkeypatch.setattr(FAKE, step, _broken)
    assert call(model="m-1", messages=MESSAGES).text == "Hello"
    assert call(model="m-1", messages=MESSAGES, stream=True) == ["Hel", "lo"]
    assert all(span.ended for span in exporter.spans)
    if step == "start":
        assert exporter.spans == []  # untraced, as if not instrumented
    else:
        assert len(exporter.spans) == 2


def test_a_broken_read_leaves_the_call_untraced(
    exporter: InMemoryExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STASO_STRICT")
    broken = wrapt.FunctionWrapper(sdk_call, FAKE.wrap(_broken))
    assert broken(model="m-1", messages=MESSAGES).text == "Hello"
    assert exporter.spans == []


def test_a_broken_fail_keeps_the_users_exception(
    call: Callable[..., Any], exporter: InMemoryExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STASO_STRICT")
    monkeypatch.setattr(Span, "fail", _broken)
    error = KeyError("mine")
    with pytest.raises(KeyError) as raised:
        call(model="m-1", messages=MESSAGES, fail=error)
    assert raised.value is error


def test_strict_mode_surfaces_our_bug(call: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    st.init(exporter=InMemoryExporter(), processor="simple")
    monkeypatch.setattr(FAKE, "record_response", _broken)
    with pytest.raises(RuntimeError, match="bug in our code"):
        call(model="m-1", messages=MESSAGES)
