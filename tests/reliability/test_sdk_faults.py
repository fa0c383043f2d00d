"""The fault suite, SDK side: malformed responses and our own extractors raising at every
point never change what the user gets. Each test compares against the untraced SDK.

The cassettes in ``cassettes/reliability/`` are hand-made malformed answers that no live API
sends, so they are matched by route only and replayed as often as a test needs.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest
import vcr

import staso_integrations as st
from staso_integrations._core.runtime import start_span
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations._stream import AsyncStreamProxy, SyncStreamProxy
from staso_integrations.integrations.anthropic import _response as a_response
from staso_integrations.integrations.openai import _response as o_response
from tests.compiled import skip_if_compiled
from tests.conftest import REPO

MESSAGES = [{"role": "user", "content": "Say fine."}]


def _openai_create() -> Any:
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).model_dump(warnings=False)


def _openai_stream() -> Any:
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    return [
        chunk.model_dump(warnings=False)
        for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    ]


def _anthropic_create() -> Any:
    client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0)
    return client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=MESSAGES).model_dump(
        warnings=False
    )


def _anthropic_stream() -> Any:
    client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0)
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=16, messages=MESSAGES) as stream:
        events = [type(event).__name__ for event in stream]
        return events, stream.get_final_message().model_dump(warnings=False)


_REPLAY = vcr.VCR(
    record_mode="none",
    match_on=["method", "host", "path"],
    cassette_library_dir=str(REPO / "cassettes" / "reliability"),
)


def _replay(cassette: str) -> Any:
    return _REPLAY.use_cassette(f"{cassette}.yaml", allow_playback_repeats=True)


def _untraced_then_traced(call: Callable[[], Any], exporter: InMemoryExporter) -> tuple[Any, Any]:
    untraced = call()
    st.instrument_all(include=["openai", "anthropic"])
    try:
        traced = call()
    finally:
        st.uninstrument_all()
    return untraced, traced


CASES = [
    ("openai_no_usage", _openai_create),
    ("openai_empty_choices", _openai_create),
    ("openai_odd_fields", _openai_create),
    ("openai_stream_odd_chunks", _openai_stream),
    ("anthropic_unknown_block", _anthropic_create),
    ("anthropic_no_usage", _anthropic_create),
    ("anthropic_stream_unknown_event", _anthropic_stream),
]


@pytest.mark.parametrize(("cassette", "call"), CASES, ids=[c[0] for c in CASES])
def test_7_malformed_responses_pass_through_unchanged(
    cassette: str, call: Callable[[], Any], exporter: InMemoryExporter
) -> None:
    with _replay(cassette):
        untraced, traced = _untraced_then_traced(call, exporter)
    assert traced == untraced
    (span,) = exporter.spans
    assert span.status == "ok" and span.end_ns is not None


def _extraction_points() -> list[tuple[Any, str]]:
    """Every function our OpenAI and Anthropic integrations call to read requests and responses."""
    import staso_integrations.integrations.anthropic._request as a_request
    import staso_integrations.integrations.anthropic._response as a_response
    import staso_integrations.integrations.anthropic._stream as a_stream
    import staso_integrations.integrations.openai._request as o_request
    import staso_integrations.integrations.openai._response as o_response
    import staso_integrations.integrations.openai._stream as o_stream

    points = []
    for module in (o_request, o_response, o_stream, a_request, a_response, a_stream):
        for name, value in vars(module).items():
            if inspect.isfunction(value) and value.__module__ == module.__name__:
                points.append((module, name))
            elif inspect.isclass(value) and value.__module__ == module.__name__:
                points += [
                    (value, attr)
                    for attr, fn in vars(value).items()
                    # not the proxies' own plumbing (dunders, the guarded ``_self_*`` steps):
                    # a fault there is a fault of the guard itself, not of an extraction
                    if inspect.isfunction(fn) and not attr.startswith(("__", "_self_"))
                ]
    return points


@skip_if_compiled(o_response, a_response)
def test_every_extraction_point_raising_leaves_results_unchanged(
    monkeypatch: pytest.MonkeyPatch, exporter: InMemoryExporter
) -> None:
    calls = {
        "openai_odd_fields": _openai_create,
        "openai_stream_odd_chunks": _openai_stream,
        "anthropic_unknown_block": _anthropic_create,
        "anthropic_stream_unknown_event": _anthropic_stream,
    }
    expected = {}
    for cassette, call in calls.items():
        with _replay(cassette):
            expected[cassette] = call()
    monkeypatch.delenv("STASO_STRICT")
    points = _extraction_points()
    assert len(points) >= 20

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected instrumentation bug")

    for owner, name in points:
        with monkeypatch.context() as patch:
            patch.setattr(owner, name, broken)
            st.instrument_all(include=["openai", "anthropic"])
            try:
                for cassette, call in calls.items():
                    with _replay(cassette):
                        assert call() == expected[cassette], f"{owner.__name__}.{name} changed {cassette}"
            finally:
                st.uninstrument_all()
    print(f"{len(points)} extraction points x {len(calls)} calls: results unchanged")


def _first_then_drop_openai() -> Any:
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    return next(iter(stream)).model_dump(warnings=False)  # the stream is dropped here, never closed


def _first_then_drop_anthropic() -> Any:
    client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0)
    stream = client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=MESSAGES, stream=True)
    return next(iter(stream)).model_dump(warnings=False)


ABANDONED = [
    ("openai_stream_odd_chunks", _first_then_drop_openai),
    ("anthropic_stream_unknown_event", _first_then_drop_anthropic),
]


@pytest.mark.parametrize(("cassette", "call"), ABANDONED, ids=["openai", "anthropic"])
def test_stream_abandoned_after_1_chunk_ends_its_span_once_at_gc(
    cassette: str, call: Callable[[], Any], exporter: InMemoryExporter
) -> None:
    with _replay(cassette):
        untraced, traced = _untraced_then_traced(call, exporter)
    gc.collect()
    assert traced == untraced
    (span,) = exporter.spans
    # the one chunk read (a role chunk, message_start) carries no output token: no TTFT yet
    assert span.metadata["stream_closed_early"] is True and span.ttft_ms is None
    assert span.status == "ok" and span.end_ns is not None


class _NoReader:
    def on_chunk(self, chunk: Any) -> None:
        pass

    def on_end(self, span: Any) -> None:
        pass


def _loop_error(loop: Callable[[Any], Any], stream: Any) -> type[BaseException]:
    try:
        loop(stream)
    except BaseException as exc:
        return type(exc)
    raise AssertionError("the loop did not fail")


async def _async_loop(stream: Any) -> None:
    async for _ in stream:
        pass


LOOPS = {"for": list, "async for": lambda stream: asyncio.run(_async_loop(stream))}


@pytest.mark.parametrize("how", LOOPS)
def test_a_loop_over_an_object_that_is_no_stream_fails_as_untraced(
    how: str, exporter: InMemoryExporter
) -> None:
    # what a test double or a changed SDK may hand back: the loop's error is the one the
    # object gives without us, not one of the proxy's (async for raised AttributeError)
    proxy_class = AsyncStreamProxy if how == "async for" else SyncStreamProxy
    untraced = _loop_error(LOOPS[how], object())
    proxy = proxy_class(object(), start_span("not a stream", "llm"), _NoReader())
    assert _loop_error(LOOPS[how], proxy) is untraced is TypeError
