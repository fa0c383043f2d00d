"""A ``for`` loop over a stream proxy runs the handler's ``read``, which reads the common chunk
inline and hands every other chunk to ``on_chunk``; ``next()`` hands every chunk to
``on_chunk``. Both must give the same span, whichever fields a chunk carries, and the inline
path must really be the one the common chunks take (a bug there would otherwise only make
every chunk fall back to ``on_chunk``, unseen).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pydantic
import pytest
from anthropic.types import RawMessageStreamEvent
from openai.types.chat import ChatCompletionChunk

import staso_integrations as st
from staso_integrations._core.runtime import start_span
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations._chunks import FirstOutput
from staso_integrations.integrations._stream import SyncStreamProxy
from staso_integrations.integrations.anthropic._stream import MessageAccumulator, _text_delta
from staso_integrations.integrations.openai._stream import ChatStream


def _chat(*choices: dict[str, Any], model: str = "gpt-4o-mini", usage: Any = None) -> ChatCompletionChunk:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model}
    return ChatCompletionChunk.model_validate({**base, "choices": list(choices), "usage": usage})


def _text(content: str, index: int = 0, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    return {"index": index, "delta": {"content": content, **delta}, "finish_reason": finish}


USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
CALL = {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": '{"a": 1}'}}

# (chunk, whether the inline path reads it)
CHAT: list[tuple[ChatCompletionChunk, bool]] = [
    (_chat(model=""), False),  # an Azure prompt-filter chunk: no model, no choice
    (_chat(_text("", role="assistant"), model=""), False),
    (_chat(_text("Hel"), model=""), False),  # the first output, still without a model
    (_chat(_text("lo")), False),  # the model arrives
    (_chat(_text(" wor")), True),
    (_chat(_text("ld", refusal="ignored beside text")), True),
    (_chat(_text("!", index=1)), False),  # n=2 (one choice per chunk): the first text of choice 1
    (_chat(_text("?", index=1)), True),
    (_chat(_text(" and"), usage=USAGE), False),  # usage on every chunk (continuous usage stats)
    (_chat(_text(" more", tool_calls=[CALL])), False),
    (_chat(_text(" two", index=0), _text(" choices", index=1)), False),
    (_chat(_text("", index=1)), False),  # no text
    (
        _chat(
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]},
                "finish_reason": None,
            }
        ),
        False,
    ),
    (_chat(_text(" end", finish="stop")), False),
    (_chat(usage={**USAGE, "completion_tokens": 9, "total_tokens": 12}), False),
]

MESSAGE = {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5", "content": [],
    "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 7, "output_tokens": 1},
}  # fmt: skip


def _event(event: dict[str, Any]) -> Any:
    return pydantic.TypeAdapter(RawMessageStreamEvent).validate_python(event)


def _delta(index: int, **delta: Any) -> Any:
    return _event({"type": "content_block_delta", "index": index, "delta": delta})


ANTHROPIC: list[tuple[Any, bool]] = [
    (_event({"type": "message_start", "message": MESSAGE}), False),
    (
        _event(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            }
        ),
        False,
    ),
    (_delta(0, type="thinking_delta", thinking=""), False),  # no output yet
    (_delta(0, type="thinking_delta", thinking="Hm"), False),  # the first output
    (_delta(0, type="thinking_delta", thinking="m."), True),
    (_delta(0, type="signature_delta", signature="s"), False),  # no text: on_chunk skips it
    (_event({"type": "content_block_stop", "index": 0}), False),
    (
        _event({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
        False,
    ),
    (_delta(1, type="text_delta", text="Hi"), True),
    (_delta(1, type="text_delta", text=""), True),
    (_delta(1, type="text_delta", text=" there"), True),
    (
        _event(
            {
                "type": "content_block_start",
                "index": 2,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": "g", "input": {}},
            }
        ),
        False,
    ),
    (_delta(2, type="input_json_delta", partial_json='{"a": '), True),
    (_delta(2, type="input_json_delta", partial_json="1}"), True),
    (
        _event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 9},
            }
        ),
        False,
    ),
    (_event({"type": "message_stop"}), False),
]

STREAMS: dict[str, tuple[type[FirstOutput], list[tuple[Any, bool]]]] = {
    "openai chat": (ChatStream, CHAT),
    "anthropic messages": (MessageAccumulator, ANTHROPIC),
}


def _count_on_chunk(proxy: SyncStreamProxy, seen: list[Any]) -> None:
    state = proxy._self_state
    on_chunk = state.on_chunk
    state.on_chunk = lambda chunk: (seen.append(chunk), on_chunk(chunk))


def _span(
    handler: Any,
    chunks: list[Any],
    drive: Callable[[SyncStreamProxy], Iterator[Any]],
    seen: list[Any] | None = None,
) -> Any:
    """The span of ``chunks`` read through a proxy; ``seen`` gets the chunks handed to ``on_chunk``
    (counted at the proxy: a compiled handler class cannot be subclassed).
    """
    span = start_span("chat", "llm")
    proxy = SyncStreamProxy(iter(chunks), span, handler)
    if seen is not None:
        _count_on_chunk(proxy, seen)
    assert list(drive(proxy)) == chunks
    assert span.end_ns is not None  # the stream's end ended the span
    recorded = span.to_dict()
    assert recorded.pop("ttft_ms") is not None
    for timed in ("span_id", "trace_id", "start_ns", "end_ns", "duration_ms"):
        recorded.pop(timed)
    return recorded


def _by_next(proxy: SyncStreamProxy) -> Iterator[Any]:
    while True:
        try:
            yield next(proxy)
        except StopIteration:
            return


@pytest.mark.parametrize("capture", [True, False])
@pytest.mark.parametrize("api", STREAMS)
def test_for_loop_reads_common_chunks_inline_and_records_what_on_chunk_does(
    api: str, capture: bool, exporter: InMemoryExporter
) -> None:
    st.init(exporter=exporter, processor="simple", capture_content=capture)
    handler_type, stream = STREAMS[api]
    chunks = [chunk for chunk, _ in stream]
    looped: list[Any] = []
    stepped: list[Any] = []
    assert _span(handler_type(capture), chunks, iter, looped) == _span(
        handler_type(capture), chunks, _by_next, stepped
    )
    assert stepped == chunks
    # with capture off, a chat chunk with text is read inline as soon as the first output is known
    inline = {id(chunk) for chunk, common in stream if common or (not capture and api == "openai chat")}
    if capture:
        assert [id(chunk) for chunk in chunks if id(chunk) not in inline] == [id(c) for c in looped]


class _NextOnly:
    """A stream with ``__next__`` and no ``__iter__``: the proxy steps it with ``next()``."""

    def __init__(self, chunks: list[Any]) -> None:
        self.chunks = iter(chunks)

    def __next__(self) -> Any:
        return next(self.chunks)


@pytest.mark.parametrize("drive", [iter, _by_next], ids=["for", "next"])
@pytest.mark.parametrize("api", STREAMS)
def test_a_stream_with_next_only_reads_as_an_iterator_does(
    api: str, drive: Callable[[Any], Iterator[Any]], exporter: InMemoryExporter
) -> None:
    st.init(exporter=exporter, processor="simple")
    handler_type, stream = STREAMS[api]
    chunks = [chunk for chunk, _ in stream]
    span = start_span("next only", "llm")
    assert list(drive(SyncStreamProxy(_NextOnly(chunks), span, handler_type(True)))) == chunks
    assert span.end_ns is not None
    assert _span(handler_type(True), chunks, drive)["output"] == exporter.by_name("next only").output


def test_chat_inline_text_lands_in_its_choice(exporter: InMemoryExporter) -> None:
    st.init(exporter=exporter, processor="simple")
    recorded = _span(ChatStream(True), [chunk for chunk, _ in CHAT], iter)
    assert recorded["output"] == [
        {"role": "assistant", "content": "Hello world and more two end",
         "tool_calls": [{"id": "call_1", "name": "f", "arguments": '{"a": 1}}'}]},
        {"role": "assistant", "content": "!? choices"},
    ]  # fmt: skip
    assert recorded["finish_reason"] == "stop" and recorded["usage"]["output"] == 9


def test_anthropic_inline_pieces_land_in_their_blocks(exporter: InMemoryExporter) -> None:
    st.init(exporter=exporter, processor="simple")
    recorded = _span(MessageAccumulator(True), [event for event, _ in ANTHROPIC], iter)
    assert recorded["output"]["content"] == [
        {"type": "thinking", "thinking": "Hmm."},
        {"type": "text", "text": "Hi there"},
        {"type": "tool_use", "id": "toolu_1", "name": "g", "input": {"a": 1}},
    ]


def test_anthropic_pieces_land_without_the_sdks_text_delta_class(
    exporter: InMemoryExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anthropic.types

    st.init(exporter=exporter, processor="simple")
    monkeypatch.delattr(anthropic.types, "TextDelta")
    _text_delta.cache_clear()
    try:
        recorded = _span(MessageAccumulator(True), [event for event, _ in ANTHROPIC], iter)
    finally:
        _text_delta.cache_clear()
    assert recorded["output"]["content"][1] == {"type": "text", "text": "Hi there"}


class _Sdk:
    """The SDK's stream, failing after ``good`` chunks."""

    def __init__(self, chunks: list[Any], good: int) -> None:
        self.chunks, self.good, self.closed = iter(chunks), good, False

    def close(self) -> None:
        self.closed = True

    def __iter__(self) -> _Sdk:
        return self

    def __next__(self) -> Any:
        if self.good == 0:
            raise ConnectionError("stream broke")
        self.good -= 1
        return next(self.chunks)


@pytest.mark.parametrize("api", STREAMS)
def test_read_ends_the_span_on_an_sdk_error_and_on_an_early_stop(
    api: str, exporter: InMemoryExporter
) -> None:
    st.init(exporter=exporter, processor="simple")
    handler_type, stream = STREAMS[api]
    chunks = [chunk for chunk, _ in stream]
    broken = SyncStreamProxy(_Sdk(chunks, 6), start_span("broken", "llm"), handler_type(True))
    with pytest.raises(ConnectionError, match="stream broke"):
        for _ in broken:
            pass
    span = exporter.by_name("broken")
    assert span.status == "error" and span.output is not None

    sdk = _Sdk(chunks, len(chunks))
    stopped = SyncStreamProxy(sdk, start_span("stopped", "llm"), handler_type(True))
    for seen, _ in enumerate(stopped):
        if seen == 6:
            break
    assert not [s for s in exporter.spans if s.name == "stopped"]  # the loop only paused it
    stopped.close()
    assert sdk.closed
    span = exporter.by_name("stopped")
    assert span.status == "ok" and span.metadata["stream_closed_early"] and span.output is not None


class _ClassFinish:
    """A choice not built by the SDK, whose ``finish_reason`` is a class attribute."""

    finish_reason = None

    def __init__(self, delta: Any, index: int) -> None:
        self.delta, self.index = delta, index


def test_a_chunk_of_other_make_is_read_inline_as_its_attributes_say(exporter: InMemoryExporter) -> None:
    st.init(exporter=exporter, processor="simple")
    chunks = [chunk for chunk, _ in CHAT[:5]]
    odd = chunks[4].model_copy(deep=True)
    odd.choices[0] = _ClassFinish(odd.choices[0].delta, 0)  # type: ignore[call-overload]
    proxy = SyncStreamProxy(iter([*chunks, odd]), start_span("s", "llm"), ChatStream(True))
    seen: list[Any] = []
    _count_on_chunk(proxy, seen)
    assert list(proxy) == [*chunks, odd]
    assert odd not in seen and exporter.spans[0].output["content"] == "Hello wor wor"


def test_a_chunk_the_inline_read_cannot_take_goes_to_on_chunk(exporter: InMemoryExporter) -> None:
    st.init(exporter=exporter, processor="simple")
    chunks = [chunk for chunk, _ in CHAT[:5]]
    odd = chunks[4].model_copy(deep=True)
    second = odd.choices[0].model_copy(update={"index": 1}, deep=True)
    odd.choices.append(second)  # two choices: the inline read takes one only
    proxy = SyncStreamProxy(iter([*chunks, odd]), start_span("s", "llm"), ChatStream(True))
    seen: list[Any] = []
    _count_on_chunk(proxy, seen)
    assert list(proxy) == [*chunks, odd]
    first, other = exporter.spans[0].output
    assert seen[-1] is odd and first["content"] == "Hello wor wor" and other["content"] == " wor"
