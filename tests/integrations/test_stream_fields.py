"""Stream handlers read a chunk's fields as attributes, whoever built it: the span must come
out the same for the SDK's chunks and for chunks that keep their fields elsewhere (no instance
dict at all, or one without the fields, which live behind ``__getattr__``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic
import pytest
from anthropic.types import RawMessageStreamEvent
from openai.types.chat import ChatCompletionChunk
from openai.types.completion_usage import CompletionUsage
from openai.types.responses import ResponseStreamEvent

import staso_integrations as st
from staso_integrations._core.runtime import start_span
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations._stream import StreamHandler
from staso_integrations.integrations.anthropic._stream import MessageAccumulator
from staso_integrations.integrations.openai._stream import ChatStream, ResponsesStream


class Slotted:
    """Fields as attributes only: no instance dict at all."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(name) from None


class Elsewhere(Slotted):
    """An instance dict, but without the fields (they live behind ``__getattr__``)."""

    __slots__ = ("__dict__",)


def _mirror(value: Any, kind: type[Slotted]) -> Any:
    """``value`` with each pydantic model, nested ones too, turned into a ``kind``."""
    if isinstance(value, pydantic.BaseModel):
        return kind({name: _mirror(item, kind) for name, item in vars(value).items()})
    if isinstance(value, list):
        return [_mirror(item, kind) for item in value]
    return value


BASE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}


def _chat(*choices: dict[str, Any], usage: Any = None) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate({**BASE, "choices": list(choices), "usage": usage})


def _choice(delta: dict[str, Any] | None, index: int = 0, finish: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish}


CHAT = [
    _chat(_choice({"role": "assistant", "content": ""}), _choice({"role": "assistant"}, index=1)),
    _chat(_choice({"content": "Hel"}), _choice({"refusal": "No"}, index=1)),
    _chat(_choice({"content": "lo"})),
    _chat(
        _choice({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": ""}}]})
    ),
    _chat(_choice({"tool_calls": [{"index": 0, "function": {"arguments": '{"a": 1}'}}]})),
    _chat(_choice({"function_call": {"name": "legacy", "arguments": "{}"}}, index=1)),
    _chat(_choice({}, finish="tool_calls"), _choice({}, index=1, finish="stop")),
    _chat(usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}),
]

RESPONSES = [
    pydantic.TypeAdapter(ResponseStreamEvent).validate_python(event)
    for event in (
        {"type": "response.output_text.delta", "delta": "Hi", "item_id": "m1", "output_index": 0,
         "content_index": 0, "sequence_number": 1, "logprobs": []},
        {"type": "response.output_text.delta", "delta": " there", "item_id": "m1", "output_index": 0,
         "content_index": 0, "sequence_number": 2, "logprobs": []},
        {"type": "response.function_call_arguments.delta", "delta": "{}", "item_id": "f1", "output_index": 1,
         "sequence_number": 3},
        {"type": "response.output_item.done", "output_index": 1, "sequence_number": 4,
         "item": {"type": "function_call", "id": "f1", "call_id": "call_9", "name": "g", "arguments": "{}",
                  "status": "completed"}},
    )
]  # fmt: skip

MESSAGE = {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5", "content": [],
    "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 7, "output_tokens": 1},
}  # fmt: skip
ANTHROPIC = [
    pydantic.TypeAdapter(RawMessageStreamEvent).validate_python(event)
    for event in (
        {"type": "message_start", "message": MESSAGE},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "",
                                                                      "signature": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hm."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_1",
                                                                      "name": "g", "input": {}}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta",
                                                              "partial_json": '{"a": 1}'}},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
         "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    )
]  # fmt: skip

HANDLERS: dict[str, tuple[Callable[[bool], StreamHandler], list[Any]]] = {
    "openai chat": (ChatStream, CHAT),
    "openai responses": (ResponsesStream, RESPONSES),
    "anthropic messages": (MessageAccumulator, ANTHROPIC),
}


def _recorded(make: Callable[[bool], StreamHandler], chunks: list[Any], capture: bool) -> Any:
    """What the handler writes into a span, and after which chunks TTFT was known."""
    span = start_span("chat", "llm")
    handler = make(capture)
    first_output = []
    for chunk in chunks:
        handler.on_chunk(chunk)
        first_output.append(handler.first_ns is not None)  # type: ignore[attr-defined]
    handler.on_end(span)
    span.end()
    assert span.ttft_ms is not None
    recorded = span.to_dict()
    for timed in ("span_id", "trace_id", "start_ns", "end_ns", "duration_ms", "ttft_ms"):
        recorded.pop(timed)
    return recorded, first_output


@pytest.mark.parametrize("capture", [True, False])
@pytest.mark.parametrize("api", HANDLERS)
@pytest.mark.parametrize("kind", [Slotted, Elsewhere])
def test_fields_kept_elsewhere_are_read_as_attributes(
    api: str, kind: type[Slotted], capture: bool, exporter: InMemoryExporter
) -> None:
    st.init(exporter=exporter, processor="simple", capture_content=capture)
    make, chunks = HANDLERS[api]
    recorded, first_output = _recorded(make, chunks, capture)
    assert recorded["tool_calls"] and (recorded["output"] is not None) is capture
    assert _recorded(make, [_mirror(chunk, kind) for chunk in chunks], capture) == (recorded, first_output)


def test_a_chunk_built_without_a_field_fails_as_on_attribute_reads(exporter: InMemoryExporter) -> None:
    # pydantic's own ``model_construct`` (the SDK's override fills in None) leaves out required
    # fields that were not given: the usage read before the missing ``choices`` is kept, and
    # the error is the model's own AttributeError.
    st.init(exporter=exporter, processor="simple")
    usage = CompletionUsage(prompt_tokens=3, completion_tokens=2, total_tokens=5)
    construct = pydantic.BaseModel.model_construct.__func__  # type: ignore[attr-defined]
    chunk = construct(ChatCompletionChunk, id="chatcmpl-1", model="gpt-4o-mini", usage=usage)
    handler = ChatStream(True)
    with pytest.raises(AttributeError, match="choices"):
        handler.on_chunk(chunk)
    assert handler.usage is usage and handler.model == "gpt-4o-mini"
