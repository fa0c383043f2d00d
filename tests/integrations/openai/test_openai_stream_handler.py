"""The chat stream handler on the SDK's own chunk objects: with capture off it keeps no text
but still records TTFT, usage, finish reason and tool-call names; with capture on, the text.
"""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.chat import ChatCompletionChunk

import staso_integrations as st
from staso_integrations._core.runtime import start_span
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations.openai._stream import ChatStream

BASE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: Any = None) -> Any:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return ChatCompletionChunk.model_validate({**BASE, "choices": choices, "usage": usage})


CHUNKS = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Hel"}),
    _chunk({"content": "lo"}),
    _chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{}"}}]}),
    _chunk({}, finish="tool_calls"),
    _chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}),
]


@pytest.mark.parametrize("capture", [False, True])
def test_chat_stream_keeps_text_only_when_captured(capture: bool, exporter: InMemoryExporter) -> None:
    st.init(exporter=exporter, processor="simple", capture_content=capture)
    span = start_span("chat gpt-4o-mini", "llm")
    handler = ChatStream(capture)
    for chunk in CHUNKS:
        handler.on_chunk(chunk)
        if chunk is CHUNKS[1]:
            assert handler.first_ns is not None  # the first text, not the role chunk
    assert handler.first_ns is not None and bool(handler.texts) is capture
    handler.on_end(span)
    assert span.ttft_ms is not None and span.finish_reason == "tool_calls"
    assert span.usage is not None and (span.usage.input, span.usage.output) == (3, 2)
    assert span.response_model == "gpt-4o-mini" and span.metadata["response_id"] == "chatcmpl-1"
    assert span.tool_calls == [{"id": "call_1", "name": "f", "arguments": "{}" if capture else None}]
    if capture:
        assert span.output["content"] == "Hello"
    else:
        assert span.output is None
